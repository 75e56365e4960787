"""Sandboxed rendering of a Hugging Face chat template, recording the trained spans.

A chat template is Jinja code that an admin uploads, so it runs in
:class:`jinja2.sandbox.ImmutableSandboxedEnvironment`: no attribute access to
internals, no mutation of the messages passed in.

Templates written for assistant-only training wrap the assistant turns in
``{% generation %}…{% endgeneration %}`` (the Hugging Face convention).
:class:`GenerationExtension` implements that tag: it surrounds the block's
output with markers that carry a per-process random nonce, and
:func:`render_chat_template` strips the markers again and reports the
character spans they enclosed. Content typed by a person cannot forge a
marker because it cannot know the nonce.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

MARKER_NONCE = secrets.token_hex(16)
GENERATION_START = f"\x00generation-start-{MARKER_NONCE}\x00"
GENERATION_END = f"\x00generation-end-{MARKER_NONCE}\x00"


class ChatTemplateError(ValueError):
    """The chat template failed to compile or render, or asked to raise an exception."""


class GenerationExtension(Extension):
    """The ``{% generation %}`` tag: marks the text it encloses as trained."""

    tags = {"generation"}

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        call = self.call_method("_mark_generation", [])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _mark_generation(self, caller: Any) -> str:
        return GENERATION_START + caller() + GENERATION_END


@dataclass(frozen=True, slots=True)
class RenderedChat:
    """A rendered chat template: the text and the ``{% generation %}`` character spans."""

    text: str
    generation_spans: tuple[tuple[int, int], ...]
    has_generation_blocks: bool


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(message)


def _tojson(value: Any, indent: int | None = None) -> str:
    # Same behaviour as transformers' chat-template tojson: no ASCII escaping.
    return json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=False)


@lru_cache(maxsize=32)
def _compile(source: str) -> Any:
    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        keep_trailing_newline=True,
        extensions=[GenerationExtension, "jinja2.ext.loopcontrols"],
    )
    environment.filters["tojson"] = _tojson
    environment.globals["raise_exception"] = _raise_exception
    try:
        return environment.from_string(source)
    except TemplateError as error:
        raise ChatTemplateError(f"chat template does not compile: {error}") from error


#: The message keys a chat template sees (contract 6's names, as transformers passes them).
TEMPLATE_MESSAGE_KEYS = ("role", "content", "reasoning_content", "tool_calls", "tool_call_id")


def render_chat_template(
    source: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    special_tokens: Mapping[str, str] | None = None,
    add_generation_prompt: bool = False,
    tools: Sequence[Mapping[str, Any]] = (),
) -> RenderedChat:
    """Render ``messages`` through the chat template ``source`` in a sandbox.

    ``special_tokens`` become template variables (``bos_token``, ``eos_token`` …)
    as transformers passes them, and so do ``tools`` (None when there are none) and
    each message's ``reasoning_content``, ``tool_calls`` and ``tool_call_id`` where
    set. Returns the text without generation markers and the spans the
    ``{% generation %}`` blocks produced, in order.
    """
    template = _compile(source)
    variables: dict[str, Any] = dict(special_tokens or {})
    variables["messages"] = [
        {key: message[key] for key in TEMPLATE_MESSAGE_KEYS if key in message}
        for message in messages
    ]
    variables["tools"] = list(tools) or None
    variables["add_generation_prompt"] = add_generation_prompt
    try:
        marked = template.render(**variables)
    except ChatTemplateError:
        raise
    except TemplateError as error:
        raise ChatTemplateError(f"chat template failed to render: {error}") from error
    return _strip_generation_markers(marked)


def _strip_generation_markers(marked: str) -> RenderedChat:
    has_blocks = GENERATION_START in marked
    pieces: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    position = 0
    while True:
        start = marked.find(GENERATION_START, position)
        if start < 0:
            pieces.append(marked[position:])
            break
        pieces.append(marked[position:start])
        length += start - position
        body_start = start + len(GENERATION_START)
        end = marked.find(GENERATION_END, body_start)
        if end < 0:
            raise ChatTemplateError("unbalanced {% generation %} block")
        body = marked[body_start:end]
        if GENERATION_START in body:
            raise ChatTemplateError("nested {% generation %} blocks are not supported")
        pieces.append(body)
        if body:
            spans.append((length, length + len(body)))
        length += len(body)
        position = end + len(GENERATION_END)
    return RenderedChat("".join(pieces), tuple(spans), has_blocks)
