"""Render conversations with a chat template and tokenize them with a loss mask.

Templates (fixed contract, design.md "Fixed contracts" 1 and 2):

* ``chatml-sep`` (default): ``<|im_start|>{role}<|im_sep|>{content}<|im_end|>``
  per message, nothing between messages;
* ``chatml``: ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per message;
* ``hf-chat-template``: the Hugging Face tokenizer's own chat template.

Encoding is *piecewise*: each special token is emitted as its id, and each role,
each content and (for chatml) each ``"\\n"`` is encoded on its own with
``encode_ordinary``. Text that looks like ``<|im_end|>`` inside a role or a
content therefore stays ordinary text. Encoding pieces separately can differ
from encoding the rendered string in one go where two pieces meet without a
special token between them (chatml's role + ``"\\n"`` + content, e.g. when the
content starts with a newline); special tokens already cut the text into these
pieces, so for chatml-sep the two are equal whenever no content contains a
look-alike. The piecewise ids are the contract.

Structured turns (contract 6, layout in :mod:`sftpipeline.turns`) add pieces
inside a message, each encoded on its own as ordinary text: ``<think>\\n``, the
reasoning, ``\\n</think>\\n\\n``, the content, then per call a ``\\n`` (left out
before the first call when the content is empty), ``<tool_call>\\n``, the call's
JSON and ``\\n</tool_call>``; a system message opens with the tools block, then
``\\n\\n`` and the system text (no separator when there is none). These pieces
meet without a special token between them, so here too the piecewise ids are the
contract. Every piece of an assistant message is trained (its reasoning, content, calls and
their tags, and its ``<|im_end|>``); tool results, the tools block, system, user and
every header are not. Each token also carries the *part* it belongs to
(:data:`PARTS`), which the preview and the reasoning / answer token counts read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import groupby
from typing import Any, NamedTuple

from .tokenizers import IM_END, IM_SEP, IM_START, ChatTokenizer, TokenizerError
from .turns import (
    ASSISTANT,
    PART_SEPARATOR,
    SYSTEM,
    THINK_CLOSE,
    THINK_OPEN,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    TOOLS_SEPARATOR,
    ToolSpecs,
    reasoning_of,
    tool_call_text,
    tools_block,
)

CHATML_SEP = "chatml-sep"
CHATML = "chatml"
HF_CHAT_TEMPLATE = "hf-chat-template"
TEMPLATE_NAMES: tuple[str, ...] = (CHATML_SEP, CHATML, HF_CHAT_TEMPLATE)
DEFAULT_TEMPLATE = CHATML_SEP

IGNORE_INDEX = -100

# What each token belongs to: the preview colours them, the card counts them.
PART_HEADER = "header"  # <|im_start|>, the role, <|im_sep|> or its newline
PART_END = "end"  # <|im_end|> (and chatml's newline after it)
PART_TOOLS = "tools"  # the declared tools block and its separator
PART_REASONING = "reasoning"  # <think> … </think> of an assistant message
PART_ANSWER = "answer"  # an assistant message's content
PART_TOOL_CALL = "tool_call"  # <tool_call> … </tool_call> and the newlines before them
PART_TOOL_RESULT = "tool_result"  # a tool message's content
PARTS: tuple[str, ...] = (PART_HEADER, "system", "user", PART_TOOLS, PART_REASONING)
PARTS += (PART_ANSWER, PART_TOOL_CALL, PART_TOOL_RESULT, PART_END)
_CONTENT_PART = {ASSISTANT: PART_ANSWER, "tool": PART_TOOL_RESULT}

Message = Mapping[str, Any]
"""A chat message: ``{"role", "content"}`` and the structured keys of contract 6
(``reasoning_content`` (or ``reasoning``), ``tool_calls``, ``tool_call_id``)."""


PartRuns = tuple[tuple[str, int], ...]
"""The parts of an example's tokens as runs: (part, number of consecutive tokens)."""


@dataclass(frozen=True, slots=True)
class TokenizedExample:
    """One conversation as training data.

    ``loss_mask[i]`` is 1 where token ``i`` is trained; ``labels`` is
    ``input_ids`` with :data:`IGNORE_INDEX` (-100) where the mask is 0.
    """

    input_ids: list[int]
    loss_mask: list[int]
    labels: list[int]
    num_tokens: int
    #: The parts (:data:`PARTS`) of the tokens as runs; empty when the template cannot
    #: tell. Runs, not a part per token: an export counts them and never needs each one.
    part_runs: PartRuns = field(default=(), compare=False)

    @property
    def num_trained_tokens(self) -> int:
        """Number of tokens with loss mask 1."""
        return sum(self.loss_mask)

    @property
    def parts(self) -> tuple[str, ...]:
        """The part of each token (empty when the template cannot tell)."""
        return tuple(part for part, count in self.part_runs for _ in range(count))

    def tokens_in(self, part: str) -> int:
        """Number of tokens of one part (0 when the parts are unknown)."""
        return sum(count for name, count in self.part_runs if name == part)

    def __add__(self, other: TokenizedExample) -> TokenizedExample:
        """This example's tokens followed by ``other``'s (a prompt and its reply)."""
        return TokenizedExample(
            self.input_ids + other.input_ids,
            self.loss_mask + other.loss_mask,
            self.labels + other.labels,
            self.num_tokens + other.num_tokens,
            self.part_runs + other.part_runs,
        )

    def first(self, count: int) -> TokenizedExample:
        """The example's first ``count`` tokens."""
        return self._slice(0, min(count, self.num_tokens))

    def after(self, count: int) -> TokenizedExample:
        """The example's tokens after the first ``count``."""
        return self._slice(min(count, self.num_tokens), self.num_tokens)

    def _slice(self, start: int, end: int) -> TokenizedExample:
        runs, position = [], 0
        for part, length in self.part_runs:
            kept = min(end, position + length) - max(start, position)
            if kept > 0:
                runs.append((part, kept))
            position += length
        return TokenizedExample(
            self.input_ids[start:end],
            self.loss_mask[start:end],
            self.labels[start:end],
            end - start,
            tuple(runs),
        )

    @classmethod
    def from_ids_and_mask(
        cls, input_ids: list[int], loss_mask: list[int], parts: Sequence[str] = ()
    ) -> TokenizedExample:
        """Build an example, deriving ``labels`` and ``num_tokens``."""
        if len(input_ids) != len(loss_mask) or (parts and len(parts) != len(input_ids)):
            raise ValueError("input_ids, loss_mask and parts differ in length")
        labels = [t if m else IGNORE_INDEX for t, m in zip(input_ids, loss_mask, strict=True)]
        runs = tuple((part, len(list(group))) for part, group in groupby(parts))
        return cls(input_ids, loss_mask, labels, len(input_ids), runs)


class TokenPiece(NamedTuple):
    """One token for the preview: its text (or bytes repr), special or not, trained or not."""

    text: str
    is_special: bool
    trained: bool


# One piece of a layout: (special_token_id, None, trained, part) or (None, text_index, …).
_Piece = tuple[int | None, int | None, bool, str]


def tokenize_conversation(
    messages: Sequence[Message],
    template: str = DEFAULT_TEMPLATE,
    tokenizer: ChatTokenizer | None = None,
    tools: ToolSpecs = (),
) -> TokenizedExample:
    """Tokenize one conversation; see :func:`tokenize_conversations`."""
    return tokenize_conversations([messages], template, tokenizer, [tools])[0]


def tokenize_conversations(
    conversations: Sequence[Sequence[Message]],
    template: str = DEFAULT_TEMPLATE,
    tokenizer: ChatTokenizer | None = None,
    tools: Sequence[ToolSpecs] | None = None,
) -> list[TokenizedExample]:
    """Tokenize a batch of conversations with ``template`` (cl100k_base by default).

    ``tools[i]`` are the tools declared for conversation ``i`` (none when omitted).
    For the chatml templates all text pieces of the batch are encoded in one
    ``encode_ordinary_batch`` call (distinct texts once), then assembled with the
    special-token ids. The loss mask is 1 on every piece of an assistant message
    and on its closing ``<|im_end|>``, 0 elsewhere.
    """
    tools = tools if tools is not None else [()] * len(conversations)
    tokenizer = _tokenizer_or_default(tokenizer)
    if template == HF_CHAT_TEMPLATE:
        tokenize_chat = getattr(tokenizer, "tokenize_chat", None)
        if tokenize_chat is None:
            raise TokenizerError(f"{tokenizer.name} has no chat template of its own")
        return [
            TokenizedExample.from_ids_and_mask(*tokenize_chat(messages, tools=declared))
            for messages, declared in zip(conversations, tools, strict=True)
        ]
    layouts = _ChatmlLayouts(template, tokenizer)
    pieces = [
        layouts.conversation(messages, declared)
        for messages, declared in zip(conversations, tools, strict=True)
    ]
    encoded = layouts.encode()
    return [_assemble(layout, encoded) for layout in pieces]


def tokenize_prompts_and_replies(
    prompts: Sequence[Sequence[Message]],
    replies: Sequence[Sequence[Message]],
    template: str,
    tokenizer: ChatTokenizer,
    tools: Sequence[ToolSpecs],
) -> list[tuple[TokenizedExample, list[TokenizedExample]]]:
    """Each prompt tokenized as context, and each of its replies as the message that
    follows it: the reply's own tokens, so that ``prompt + reply`` has exactly the ids and
    parts of the prompt's messages followed by the reply (a chatml rendering is its
    messages' renderings one after another), with nothing of the prompt trained (loss
    mask 0, labels -100, as a preference pair masks it). The prompt is laid out and
    assembled once however many replies it has. Chatml templates only (a tokenizer's
    chat template may render a prompt differently when a reply follows it)."""
    if template not in (CHATML_SEP, CHATML):
        raise ValueError(f"{template} cannot tokenize a reply apart from its prompt")
    layouts = _ChatmlLayouts(template, tokenizer)
    pieces = []
    for prompt, prompt_replies, declared in zip(prompts, replies, tools, strict=True):
        messages = layouts.with_tools_message(prompt, declared)
        pieces.append(
            (
                layouts.conversation(messages, declared),
                [layouts.message(len(messages), reply, declared) for reply in prompt_replies],
            )
        )
    encoded = layouts.encode()
    return [
        (
            _assemble(prompt, encoded, context=True),
            [_assemble(reply, encoded) for reply in prompt_replies],
        )
        for prompt, prompt_replies in pieces
    ]


def _tokenizer_or_default(tokenizer: ChatTokenizer | None) -> ChatTokenizer:
    if tokenizer is not None:
        return tokenizer
    from .tokenizers import load_cl100k_base

    return load_cl100k_base()


class _ChatmlLayouts:
    """Lays out conversations as pieces (special ids, and indexes into the batch's distinct
    texts), then encodes every distinct text once."""

    def __init__(self, template: str, tokenizer: ChatTokenizer) -> None:
        if template not in (CHATML_SEP, CHATML):
            choices = ", ".join(TEMPLATE_NAMES)
            raise ValueError(f"unknown template {template!r}; choose one of {choices}")
        self.tokenizer = tokenizer
        self.im_start = tokenizer.special_token_id(IM_START)
        self.im_end = tokenizer.special_token_id(IM_END)
        self.im_sep = tokenizer.special_token_id(IM_SEP) if template == CHATML_SEP else None
        self.text_index: dict[str, int] = {}

    def text(self, text: str, trained: bool, part: str) -> _Piece:
        return None, self.text_index.setdefault(text, len(self.text_index)), trained, part

    @staticmethod
    def with_tools_message(messages: Sequence[Message], declared: ToolSpecs) -> Sequence[Message]:
        """The messages as rendered: declared tools need a system message to open."""
        if declared and (not messages or messages[0]["role"] != SYSTEM):
            return [{"role": SYSTEM, "content": ""}, *messages]
        return messages

    def conversation(self, messages: Sequence[Message], declared: ToolSpecs) -> list[_Piece]:
        layout: list[_Piece] = []
        for position, message in enumerate(self.with_tools_message(messages, declared)):
            layout += self.message(position, message, declared)
        return layout

    def message(self, position: int, message: Message, declared: ToolSpecs) -> list[_Piece]:
        """The pieces of the message at ``position`` of its conversation."""
        role = message["role"]
        trained = role == ASSISTANT
        layout: list[_Piece] = [(self.im_start, None, False, PART_HEADER)]
        layout.append(self.text(role, False, PART_HEADER))
        if self.im_sep is not None:
            layout.append((self.im_sep, None, False, PART_HEADER))
        else:
            layout.append(self.text("\n", False, PART_HEADER))
        if position == 0 and declared:
            layout.append(self.text(tools_block(declared), False, PART_TOOLS))
            if message["content"]:
                layout.append(self.text(TOOLS_SEPARATOR, False, PART_TOOLS))
        layout += _body_pieces(message, self.text)
        layout.append((self.im_end, None, trained, PART_END))
        if self.im_sep is None:
            layout.append(self.text("\n", False, PART_END))
        return layout

    def encode(self) -> list[list[int]]:
        return self.tokenizer.encode_ordinary_batch(list(self.text_index))


def _body_pieces(message: Message, text: Any) -> list[_Piece]:
    """A message's text pieces after its header: see the layout in :mod:`.turns`."""
    role, content = message["role"], message["content"]
    if role != ASSISTANT:
        return [text(content, False, _CONTENT_PART.get(role, role))]
    pieces = []
    reasoning = reasoning_of(message)
    if reasoning:
        pieces.append(text(THINK_OPEN, True, PART_REASONING))
        pieces.append(text(reasoning, True, PART_REASONING))
        pieces.append(text(THINK_CLOSE, True, PART_REASONING))
    pieces.append(text(content, True, PART_ANSWER))
    for index, call in enumerate(message.get("tool_calls") or ()):
        if index or content:
            pieces.append(text(PART_SEPARATOR, True, PART_TOOL_CALL))
        pieces.append(text(TOOL_CALL_OPEN, True, PART_TOOL_CALL))
        pieces.append(text(tool_call_text(call), True, PART_TOOL_CALL))
        pieces.append(text(TOOL_CALL_CLOSE, True, PART_TOOL_CALL))
    return pieces


def _assemble(
    layout: list[_Piece], encoded: list[list[int]], *, context: bool = False
) -> TokenizedExample:
    """The example of one layout; with ``context`` nothing is trained. Works piece by
    piece, never token by token: the labels are built beside the ids (a piece's ids, or
    -100 for each), which is what `TokenizedExample.from_ids_and_mask` derives, without a
    pass over every token."""
    input_ids: list[int] = []
    loss_mask: list[int] = []
    labels: list[int] = []
    runs: list[tuple[str, int]] = []
    for special_id, text_index, trained, part in layout:
        ids = [special_id] if special_id is not None else encoded[text_index]  # type: ignore[index]
        count = len(ids)
        input_ids += ids
        if context:
            pass  # masked as a whole below
        elif trained:
            loss_mask += [1] * count
            labels += ids
        else:
            loss_mask += [0] * count
            labels += [IGNORE_INDEX] * count
        if runs and runs[-1][0] == part:
            runs[-1] = (part, runs[-1][1] + count)
        elif count:
            runs.append((part, count))
    if context:
        loss_mask, labels = [0] * len(input_ids), [IGNORE_INDEX] * len(input_ids)
    return TokenizedExample(input_ids, loss_mask, labels, len(input_ids), tuple(runs))


def count_conversation_tokens(
    messages: Sequence[Message],
    template: str = DEFAULT_TEMPLATE,
    tokenizer: ChatTokenizer | None = None,
    tools: ToolSpecs = (),
) -> int:
    """Total tokens of the rendered conversation, exactly as the export counts them."""
    return tokenize_conversation(messages, template, tokenizer, tools).num_tokens


def preview_tokens(example: TokenizedExample, tokenizer: ChatTokenizer) -> list[TokenPiece]:
    """Per-token chips for the export preview.

    A token whose bytes are not valid UTF-8 on their own (part of a multi-byte
    character) is shown as the repr of its bytes, e.g. ``b'\\xe4\\xbd'``.
    """
    pieces = []
    for token_id, trained in zip(example.input_ids, example.loss_mask, strict=True):
        raw = tokenizer.token_bytes(token_id)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = repr(raw)
        pieces.append(TokenPiece(text, tokenizer.is_special(token_id), bool(trained)))
    return pieces


class OverflowPolicy(StrEnum):
    """What to do with a conversation longer than ``max_tokens``."""

    DROP = "drop"
    TRUNCATE = "truncate"


class OverflowStatus(StrEnum):
    """What :func:`apply_max_tokens` did."""

    KEPT = "kept"
    TRUNCATED = "truncated"
    DROPPED = "dropped"


def apply_max_tokens(
    example: TokenizedExample,
    max_tokens: int | None,
    overflow: OverflowPolicy | str = OverflowPolicy.DROP,
) -> tuple[TokenizedExample | None, OverflowStatus]:
    """Enforce ``max_tokens`` (None: no limit); returns the example to keep and the status.

    ``truncate`` keeps the first ``max_tokens`` tokens (the result may have no
    trained token left; check :attr:`TokenizedExample.num_trained_tokens`).
    ``drop`` returns ``(None, DROPPED)``.
    """
    policy = OverflowPolicy(overflow)
    if max_tokens is None or example.num_tokens <= max_tokens:
        return example, OverflowStatus.KEPT
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if policy is OverflowPolicy.DROP:
        return None, OverflowStatus.DROPPED
    truncated = example.first(max_tokens)
    return truncated, OverflowStatus.TRUNCATED


def trained_runs(example: TokenizedExample) -> list[tuple[int, int]]:
    """The ``[start, end)`` token ranges where the loss mask is 1, in order.

    In the chatml templates each assistant message is exactly one run (its header is
    never trained and its ``<|im_end|>`` always is).
    """
    runs: list[tuple[int, int]] = []
    start = None
    for index, bit in enumerate([*example.loss_mask, 0]):
        if bit and start is None:
            start = index
        elif not bit and start is not None:
            runs.append((start, index))
            start = None
    return runs


def assistant_turns_trained(
    example: TokenizedExample, kept: TokenizedExample, assistant_turns: int
) -> list[bool]:
    """Per assistant message, whether ``kept`` (``example`` after the length limit) trains
    all of it: False for a turn that truncation cut, wholly or partly.

    When the trained runs do not match the assistant messages one to one (a chat
    template that trains only some turns), every turn counts as trained unless the
    example was truncated.
    """
    runs = trained_runs(example)
    if len(runs) != assistant_turns:
        return [kept.num_tokens == example.num_tokens] * assistant_turns
    return [end <= kept.num_tokens for _, end in runs]
