"""A Hugging Face ``tokenizer.json`` and its chat template as a :class:`ChatTokenizer`."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from .hashing import sha256_bytes
from .hf_template import MARKER_NONCE, render_chat_template
from .tokenizers import HUGGINGFACE, TokenizerError

_TEMPLATE_VARIABLES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "pad_token",
    "sep_token",
    "cls_token",
    "mask_token",
)


class HuggingFaceChatTokenizer:
    """A Hugging Face ``tokenizers`` tokenizer and, optionally, its chat template.

    Ordinary text is encoded with ``encode_special_tokens=True`` so that text
    looking like one of its *special* added tokens stays text. (Added tokens
    not flagged special are matched in any text, as in transformers.)
    """

    name = HUGGINGFACE

    def __init__(
        self,
        tokenizer_json: str,
        *,
        chat_template: str | None = None,
        template_variables: Mapping[str, str] | None = None,
    ) -> None:
        self.fingerprint = sha256_bytes(tokenizer_json.encode("utf-8"))
        self.chat_template = chat_template
        self.template_variables = dict(template_variables or {})
        # Two instances: one matches special tokens in structural text, one never does.
        self._structural = Tokenizer.from_str(tokenizer_json)
        self._ordinary = Tokenizer.from_str(tokenizer_json)
        self._ordinary.encode_special_tokens = True
        added = self._structural.get_added_tokens_decoder()
        self._special_ids = frozenset(i for i, token in added.items() if token.special)
        contents = sorted(
            (token.content for token in added.values() if token.special), key=len, reverse=True
        )
        self._special_token_pattern = (
            re.compile("|".join(re.escape(content) for content in contents)) if contents else None
        )

    def special_token_id(self, token: str) -> int:
        token_id = self._structural.token_to_id(token)
        if token_id is None or token_id not in self._special_ids:
            raise TokenizerError(f"this tokenizer has no special token {token!r}")
        return token_id

    def encode_ordinary(self, text: str) -> list[int]:
        return self._ordinary.encode(text, add_special_tokens=False).ids

    def encode_ordinary_batch(self, texts: Sequence[str]) -> list[list[int]]:
        encodings = self._ordinary.encode_batch(list(texts), add_special_tokens=False)
        return [encoding.ids for encoding in encodings]

    def decode_bytes(self, token_ids: Sequence[int]) -> bytes:
        return self._structural.decode(list(token_ids), skip_special_tokens=False).encode("utf-8")

    def token_bytes(self, token_id: int) -> bytes:
        return self.decode_bytes([token_id])

    def is_special(self, token_id: int) -> bool:
        return token_id in self._special_ids

    def count_tokens(self, text: str) -> int:
        return len(self.encode_ordinary(text))

    def tokenize_chat(
        self, messages: Sequence[Mapping[str, Any]], *, tools: Sequence[Mapping[str, Any]] = ()
    ) -> tuple[list[int], list[int]]:
        """Render ``messages`` and ``tools`` with the tokenizer's own chat template; return
        (ids, loss mask).

        The mask is 1 on tokens overlapping ``{% generation %}`` blocks when the
        template has them (what transformers' ``return_assistant_tokens_mask`` gives);
        otherwise on tokens overlapping an assistant message's content plus the
        special token that directly follows it (the end-of-turn token), which cannot
        place reasoning or tool calls, so such turns need ``{% generation %}``.

        The whole rendered text is tokenized at once, as at inference. Every text a
        person wrote (content, reasoning, arguments, tool results, tool specs) has
        its special-token look-alikes swapped for unforgeable placeholders before
        rendering; each placeholder is then encoded as ordinary text and the template
        text around it with special tokens (no special-token injection).
        """
        if self.chat_template is None:
            raise TokenizerError("this tokenizer has no chat template")
        look_alikes: list[str] = []
        safe_messages = [self._hide_look_alikes(dict(m), look_alikes) for m in messages]
        safe_tools = [self._hide_look_alikes(dict(t), look_alikes) for t in tools]
        rendered = render_chat_template(
            self.chat_template,
            safe_messages,
            special_tokens=self.template_variables,
            tools=safe_tools,
        )
        ids, offsets = self._encode_with_placeholders(rendered.text, look_alikes)
        if rendered.has_generation_blocks:
            return ids, _mask_from_spans(offsets, rendered.generation_spans)
        if any(
            m["role"] == "assistant" and (m.get("reasoning_content") or m.get("tool_calls"))
            for m in messages
        ):
            raise TokenizerError(
                "this chat template has no {% generation %} blocks, so the tokens of "
                "reasoning and tool calls cannot be found; add them to the template"
            )
        spans = _locate_contents(
            self.chat_template, safe_messages, self.template_variables, rendered.text
        )
        assistant_spans = []
        for message, span in zip(messages, spans, strict=True):
            if message["role"] != "assistant":
                continue
            if span is None:
                raise TokenizerError("cannot find an assistant message in the rendered template")
            assistant_spans.append(span)
        mask = _mask_from_spans(offsets, assistant_spans)
        for _, end in assistant_spans:
            follower = next((i for i, (start, _) in enumerate(offsets) if start >= end), None)
            if follower is not None and ids[follower] in self._special_ids:
                mask[follower] = 1
        return ids, mask

    def _hide_look_alikes(self, value: Any, found: list[str]) -> Any:
        """``value`` with each special-token look-alike in its strings (keys too) replaced by
        a placeholder numbering it in ``found``."""
        pattern = self._special_token_pattern
        if pattern is None:
            return value
        if isinstance(value, str):

            def hide(match: re.Match[str]) -> str:
                found.append(match.group(0))
                return _placeholder(len(found) - 1)

            return pattern.sub(hide, value)
        if isinstance(value, Mapping):
            return {
                self._hide_look_alikes(k, found): self._hide_look_alikes(v, found)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._hide_look_alikes(item, found) for item in value]
        return value

    def _encode_with_placeholders(
        self, text: str, look_alikes: Sequence[str]
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids and character offsets (in ``text``) of the rendered text; each
        placeholder's tokens are its look-alike's ordinary tokens, spanning the placeholder."""
        if not look_alikes:
            encoding = self._structural.encode(text, add_special_tokens=False)
            return encoding.ids, encoding.offsets
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        cursor = 0
        for match in _PLACEHOLDER.finditer(text):
            self._extend(ids, offsets, text, cursor, match.start())
            look_alike_ids = self.encode_ordinary(look_alikes[int(match.group(1))])
            ids.extend(look_alike_ids)
            offsets.extend([(match.start(), match.end())] * len(look_alike_ids))
            cursor = match.end()
        self._extend(ids, offsets, text, cursor, len(text))
        return ids, offsets

    def _extend(
        self,
        ids: list[int],
        offsets: list[tuple[int, int]],
        text: str,
        start: int,
        end: int,
    ) -> None:
        if start == end:
            return
        encoding = self._structural.encode(text[start:end], add_special_tokens=False)
        ids.extend(encoding.ids)
        offsets.extend((start + a, start + b) for a, b in encoding.offsets)


# Digits only, so that a template's |upper or |trim leaves it whole; U+2063 never occurs in
# JSON escapes, so tojson keeps it too.
_PLACEHOLDER_NONCE = str(int(MARKER_NONCE, 16))[:20]
_PLACEHOLDER = re.compile(f"\u2063{_PLACEHOLDER_NONCE}:(\\d+)\u2063")


def _placeholder(index: int) -> str:
    return f"\u2063{_PLACEHOLDER_NONCE}:{index}\u2063"


def _mask_from_spans(
    offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> list[int]:
    """1 for every token whose character range overlaps one of ``spans``."""
    mask = []
    for start, end in offsets:
        mask.append(1 if any(_overlaps(start, end, span) for span in spans) else 0)
    return mask


def _overlaps(start: int, end: int, span: tuple[int, int]) -> bool:
    if start == end:  # zero-width token: inside the span
        return span[0] <= start < span[1]
    return start < span[1] and end > span[0]


def _locate_contents(
    template: str,
    messages: Sequence[Mapping[str, Any]],
    variables: Mapping[str, str],
    rendered_text: str,
) -> list[tuple[int, int] | None]:
    """Character span of each message's content in ``rendered_text`` (None: not found).

    Renders a second time with each content wrapped in unforgeable markers; if
    removing the markers gives the same text, the markers give exact spans.
    Otherwise (the template transforms content) falls back to searching each
    content in order.
    """

    def start_marker(index: int) -> str:
        return f"\x01content-{MARKER_NONCE}-{index}\x01"

    end_marker = f"\x01/content-{MARKER_NONCE}\x01"
    marked_messages = [
        {**m, "content": start_marker(i) + m["content"] + end_marker}
        for i, m in enumerate(messages)
    ]
    try:
        marked = render_chat_template(template, marked_messages, special_tokens=variables).text
    except ValueError:
        marked = ""
    spans: list[tuple[int, int] | None] = [None] * len(messages)
    pattern = re.compile(
        re.escape(f"\x01content-{MARKER_NONCE}-") + r"(\d+)\x01|" + re.escape(end_marker)
    )
    clean: list[str] = []
    length = 0
    position = 0
    open_index: int | None = None
    open_at = 0
    for match in pattern.finditer(marked):
        clean.append(marked[position : match.start()])
        length += match.start() - position
        position = match.end()
        if match.group(1) is not None:
            open_index, open_at = int(match.group(1)), length
        elif open_index is not None and spans[open_index] is None:
            spans[open_index] = (open_at, length)
            open_index = None
    clean.append(marked[position:])
    if "".join(clean) == rendered_text:
        return spans
    cursor = 0
    found: list[tuple[int, int] | None] = []
    for message in messages:
        content = message["content"]
        for candidate in (content, content.strip()):
            index = rendered_text.find(candidate, cursor) if candidate else -1
            if index >= 0:
                found.append((index, index + len(candidate)))
                cursor = index + len(candidate)
                break
        else:
            found.append(None)
    return found


def load_huggingface_tokenizer(path: str | os.PathLike[str]) -> HuggingFaceChatTokenizer:
    """Load ``tokenizer.json`` (a file, or the folder holding it) and its chat template.

    The chat template comes from ``chat_template.jinja`` beside it, else from
    ``chat_template`` in ``tokenizer_config.json`` (the ``"default"`` entry if it
    is a list of named templates); none is fine for the chatml templates.
    """
    resolved = Path(path).expanduser().resolve()
    tokenizer_file = resolved / "tokenizer.json" if resolved.is_dir() else resolved
    if not tokenizer_file.is_file():
        raise TokenizerError(f"tokenizer.json not found: {tokenizer_file}")
    folder = tokenizer_file.parent
    signature = tuple(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns) if p.exists() else (str(p), -1, -1)
        for p in (
            tokenizer_file,
            folder / "tokenizer_config.json",
            folder / "chat_template.jinja",
        )
    )
    return _load_huggingface_cached(signature)


@lru_cache(maxsize=8)
def _load_huggingface_cached(
    signature: tuple[tuple[str, int, int], ...],
) -> HuggingFaceChatTokenizer:
    tokenizer_file, config_file, template_file = (Path(entry[0]) for entry in signature)
    config: dict = {}
    if config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
    chat_template = config.get("chat_template")
    if isinstance(chat_template, list):
        named = {entry.get("name"): entry.get("template") for entry in chat_template}
        chat_template = named.get("default")
    if template_file.is_file():
        chat_template = template_file.read_text(encoding="utf-8")
    variables = {}
    for key in _TEMPLATE_VARIABLES:
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            variables[key] = value
    try:
        return HuggingFaceChatTokenizer(
            tokenizer_file.read_text(encoding="utf-8"),
            chat_template=chat_template,
            template_variables=variables,
        )
    except Exception as error:  # tokenizers raises plain Exception on bad JSON
        raise TokenizerError(f"cannot load {tokenizer_file}: {error}") from error
