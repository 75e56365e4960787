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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from .tokenizers import IM_END, IM_SEP, IM_START, ChatTokenizer, TokenizerError

CHATML_SEP = "chatml-sep"
CHATML = "chatml"
HF_CHAT_TEMPLATE = "hf-chat-template"
TEMPLATE_NAMES: tuple[str, ...] = (CHATML_SEP, CHATML, HF_CHAT_TEMPLATE)
DEFAULT_TEMPLATE = CHATML_SEP

IGNORE_INDEX = -100
ASSISTANT = "assistant"

Message = Mapping[str, str]
"""A chat message: at least ``{"role": str, "content": str}``."""


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

    @property
    def num_trained_tokens(self) -> int:
        """Number of tokens with loss mask 1."""
        return sum(self.loss_mask)

    @classmethod
    def from_ids_and_mask(cls, input_ids: list[int], loss_mask: list[int]) -> TokenizedExample:
        """Build an example, deriving ``labels`` and ``num_tokens``."""
        if len(input_ids) != len(loss_mask):
            raise ValueError("input_ids and loss_mask differ in length")
        labels = [t if m else IGNORE_INDEX for t, m in zip(input_ids, loss_mask, strict=True)]
        return cls(input_ids, loss_mask, labels, len(input_ids))


class TokenPiece(NamedTuple):
    """One token for the preview: its text (or bytes repr), special or not, trained or not."""

    text: str
    is_special: bool
    trained: bool


@dataclass(slots=True)
class _Layout:
    """A conversation as pieces: special-token ids or indexes into the text batch."""

    # Each entry: (special_token_id, None, trained) or (None, text_index, trained).
    pieces: list[tuple[int | None, int | None, bool]] = field(default_factory=list)


def tokenize_conversation(
    messages: Sequence[Message],
    template: str = DEFAULT_TEMPLATE,
    tokenizer: ChatTokenizer | None = None,
) -> TokenizedExample:
    """Tokenize one conversation; see :func:`tokenize_conversations`."""
    return tokenize_conversations([messages], template, tokenizer)[0]


def tokenize_conversations(
    conversations: Sequence[Sequence[Message]],
    template: str = DEFAULT_TEMPLATE,
    tokenizer: ChatTokenizer | None = None,
) -> list[TokenizedExample]:
    """Tokenize a batch of conversations with ``template`` (cl100k_base by default).

    For the chatml templates all role, content and newline pieces of the batch
    are encoded in one ``encode_ordinary_batch`` call (distinct texts once), then
    assembled with the special-token ids. The loss mask is 1 on an assistant
    message's content tokens and on its closing ``<|im_end|>``, 0 elsewhere.
    """
    if tokenizer is None:
        from .tokenizers import load_cl100k_base

        tokenizer = load_cl100k_base()
    if template == HF_CHAT_TEMPLATE:
        tokenize_chat = getattr(tokenizer, "tokenize_chat", None)
        if tokenize_chat is None:
            raise TokenizerError(f"{tokenizer.name} has no chat template of its own")
        return [TokenizedExample.from_ids_and_mask(*tokenize_chat(m)) for m in conversations]
    if template not in (CHATML_SEP, CHATML):
        choices = ", ".join(TEMPLATE_NAMES)
        raise ValueError(f"unknown template {template!r}; choose one of {choices}")

    im_start = tokenizer.special_token_id(IM_START)
    im_end = tokenizer.special_token_id(IM_END)
    im_sep = tokenizer.special_token_id(IM_SEP) if template == CHATML_SEP else None
    text_index: dict[str, int] = {}

    def text_piece(text: str, trained: bool) -> tuple[None, int, bool]:
        return None, text_index.setdefault(text, len(text_index)), trained

    layouts = []
    for messages in conversations:
        layout = _Layout()
        for message in messages:
            role, content = message["role"], message["content"]
            trained = role == ASSISTANT
            layout.pieces.append((im_start, None, False))
            layout.pieces.append(text_piece(role, False))
            if im_sep is not None:
                layout.pieces.append((im_sep, None, False))
            else:
                layout.pieces.append(text_piece("\n", False))
            layout.pieces.append(text_piece(content, trained))
            layout.pieces.append((im_end, None, trained))
            if im_sep is None:
                layout.pieces.append(text_piece("\n", False))
        layouts.append(layout)

    encoded = tokenizer.encode_ordinary_batch(list(text_index))
    return [_assemble(layout, encoded) for layout in layouts]


def _assemble(layout: _Layout, encoded: list[list[int]]) -> TokenizedExample:
    input_ids: list[int] = []
    loss_mask: list[int] = []
    for special_id, text_index, trained in layout.pieces:
        ids = [special_id] if special_id is not None else encoded[text_index]  # type: ignore[index]
        input_ids.extend(ids)
        loss_mask.extend([1 if trained else 0] * len(ids))
    return TokenizedExample.from_ids_and_mask(input_ids, loss_mask)


def count_conversation_tokens(
    messages: Sequence[Message],
    template: str = DEFAULT_TEMPLATE,
    tokenizer: ChatTokenizer | None = None,
) -> int:
    """Total tokens of the rendered conversation, exactly as the export counts them."""
    return tokenize_conversation(messages, template, tokenizer).num_tokens


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
    truncated = TokenizedExample(
        example.input_ids[:max_tokens],
        example.loss_mask[:max_tokens],
        example.labels[:max_tokens],
        max_tokens,
    )
    return truncated, OverflowStatus.TRUNCATED
