"""Preference pairs (design.md contract 7): the word-change ratio, tokenized pairs, their files.

A pair is (prompt = the messages before the reply, chosen reply, rejected reply,
source). Where pairs come from is the app's business (``exports.services.preference``);
this module only measures, tokenizes and writes them, with no ORM.

Tokenized pairs: ``chosen_input_ids`` is exactly the SFT rendering of
``prompt + [chosen]`` (:func:`~sftpipeline.render.tokenize_conversations`), and its
labels are the SFT labels with -100 over every prompt token as well (an earlier
assistant turn in the prompt is context here, not what is compared). Same for rejected.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from cydifflib import SequenceMatcher

from .render import (
    HF_CHAT_TEMPLATE,
    IGNORE_INDEX,
    TokenizedExample,
    tokenize_conversations,
    tokenize_prompts_and_replies,
)
from .tokenizers import ChatTokenizer
from .turns import ToolSpecs, reasoning_of, sorted_json, tool_call_text
from .writers import _BufferedParquetWriter, _JsonLinesFile

EDIT = "edit"
REVIEW_EDIT = "review_edit"
RANKING = "ranking"
#: Every source this version can extract, in the order a duplicate pair is kept by.
PREFERENCE_SOURCES: tuple[str, ...] = (EDIT, REVIEW_EDIT, RANKING)
DEFAULT_THRESHOLD = 0.10

Message = Mapping[str, Any]


def word_change_ratio(before: str, after: str) -> float:
    """Share of words changed from ``before`` to ``after``, 0.0 (same words) to 1.0.

    Words are the whitespace-separated pieces (so a change of spacing alone is 0).
    Words changed = for each non-equal difflib opcode on the two word lists, the
    larger of its two spans (a replaced, deleted or inserted word counts once): the
    word-level edit distance as difflib aligns the texts (the opcodes come from
    cydifflib, difflib's algorithm in C++: the same opcodes, several times faster).
    Divided by the longer text's word count and capped at 1. The common first and last words are set aside before
    difflib aligns the rest: they count as unchanged (difflib alone may align them
    otherwise and count a little more), and corrections keep most of a draft, so this
    saves most of difflib's quadratic work.
    """
    old, new = before.split(), after.split()
    longest = max(len(old), len(new))
    if not longest:
        return 0.0
    start = _common_prefix(old, new)
    end = _common_prefix(old[start:][::-1], new[start:][::-1])
    old, new = old[start : len(old) - end], new[start : len(new) - end]
    matcher = SequenceMatcher(a=old, b=new, autojunk=False)
    changed = sum(
        max(a_end - a_start, b_end - b_start)
        for op, a_start, a_end, b_start, b_end in matcher.get_opcodes()
        if op != "equal"
    )
    return min(1.0, changed / longest)


def _common_prefix(first: list[str], second: list[str]) -> int:
    """Length of the common leading words, by bisection on slice equality (compared in C)."""
    low, high = 0, min(len(first), len(second))
    while low < high:
        middle = (low + high + 1) // 2
        if first[:middle] == second[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def reply_text(message: Message) -> str:
    """The words of a whole reply for the ratio: its reasoning, content and tool calls."""
    parts = [reasoning_of(message), message.get("content") or ""]
    parts += [tool_call_text(call) for call in message.get("tool_calls") or ()]
    return "\n".join(part for part in parts if part)


def same_reply(first: Message, second: Message) -> bool:
    """Replies are the same when every exported key is (content, reasoning, tool calls);
    dicts compare without regard to key order."""
    return dict(first) == dict(second)


@dataclass(frozen=True)
class PreferencePair:
    """One pair; ``metadata`` is its provenance (the same keys for every source)."""

    id: str
    conversation_id: int
    position: int
    source: str
    prompt: list[dict[str, Any]]
    chosen: dict[str, Any]
    rejected: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The ``{split}.preference.jsonl`` row: TRL's conversational preference format."""
        return {
            "id": self.id,
            "prompt": self.prompt,
            "chosen": [self.chosen],
            "rejected": [self.rejected],
            "source": self.source,
            "metadata": self.metadata,
        }


@dataclass(frozen=True, slots=True)
class TokenizedPair:
    """A pair's prompt and its two sides, each prompt + reply with the prompt masked (loss
    mask 0, labels -100). The sides are kept as prompt and reply and joined when asked:
    the files need only their ids and labels."""

    prompt: TokenizedExample
    chosen_reply: TokenizedExample
    rejected_reply: TokenizedExample

    @property
    def prompt_input_ids(self) -> list[int]:
        return self.prompt.input_ids

    @property
    def chosen(self) -> TokenizedExample:
        return self.prompt + self.chosen_reply

    @property
    def rejected(self) -> TokenizedExample:
        return self.prompt + self.rejected_reply

    def column_parts(self) -> dict[str, tuple[Sequence[int], ...]]:
        """The tokenized columns of ``{split}.preference.parquet``, each as the parts it
        joins (chosen = prompt + reply). The prompt goes in three columns and its labels
        in two: converted from Python ints once, then copied as C arrays."""
        prompt_ids, prompt_labels = (
            array("i", self.prompt.input_ids),
            array("i", self.prompt.labels),
        )
        return {
            "prompt_input_ids": (prompt_ids,),
            "chosen_input_ids": (prompt_ids, self.chosen_reply.input_ids),
            "chosen_labels": (prompt_labels, self.chosen_reply.labels),
            "rejected_input_ids": (prompt_ids, self.rejected_reply.input_ids),
            "rejected_labels": (prompt_labels, self.rejected_reply.labels),
        }

    def columns(self) -> dict[str, list[int]]:
        """The tokenized columns, joined."""
        return {
            name: [token for part in parts for token in part]
            for name, parts in self.column_parts().items()
        }

    @property
    def num_tokens(self) -> int:
        """The longer side, which is what a length limit must hold."""
        replies = max(self.chosen_reply.num_tokens, self.rejected_reply.num_tokens)
        return self.prompt.num_tokens + replies


def tokenize_pairs(
    pairs: Sequence[PreferencePair],
    template: str,
    tokenizer: ChatTokenizer,
    tools: Sequence[ToolSpecs],
) -> list[TokenizedPair]:
    """Tokenize pairs in one batched call. ``tools[i]`` are pair ``i``'s declared tools.

    With a chatml template the prompt is tokenized once and each reply as the message
    after it (:func:`~sftpipeline.render.tokenize_prompts_and_replies`). A tokenizer's chat
    template renders prompt, prompt + chosen and prompt + rejected whole, and raises
    ValueError when it does not render the prompt as a prefix of prompt + reply.
    """
    if template == HF_CHAT_TEMPLATE:
        return _tokenize_pairs_whole(pairs, template, tokenizer, tools)
    tokenized = tokenize_prompts_and_replies(
        [pair.prompt for pair in pairs],
        [(pair.chosen, pair.rejected) for pair in pairs],
        template,
        tokenizer,
        tools,
    )
    return [TokenizedPair(prompt, chosen, rejected) for prompt, (chosen, rejected) in tokenized]


def _tokenize_pairs_whole(
    pairs: Sequence[PreferencePair],
    template: str,
    tokenizer: ChatTokenizer,
    tools: Sequence[ToolSpecs],
) -> list[TokenizedPair]:
    conversations: list[list[Message]] = []
    declared: list[ToolSpecs] = []
    for pair, pair_tools in zip(pairs, tools, strict=True):
        conversations += [
            [*pair.prompt],
            [*pair.prompt, pair.chosen],
            [*pair.prompt, pair.rejected],
        ]
        declared += [pair_tools] * 3
    examples = tokenize_conversations(conversations, template, tokenizer, declared)
    tokenized = []
    for index in range(0, len(examples), 3):
        prompt, chosen, rejected = examples[index : index + 3]
        tokenized.append(
            TokenizedPair(_masked(prompt), _reply(prompt, chosen), _reply(prompt, rejected))
        )
    return tokenized


def _masked(prompt: TokenizedExample) -> TokenizedExample:
    count = prompt.num_tokens
    return TokenizedExample(
        prompt.input_ids, [0] * count, [IGNORE_INDEX] * count, count, prompt.part_runs
    )


def _reply(prompt: TokenizedExample, whole: TokenizedExample) -> TokenizedExample:
    """The tokens of ``whole`` (prompt + reply) after the prompt's."""
    count = prompt.num_tokens
    if whole.input_ids[:count] != prompt.input_ids:
        raise ValueError(
            "the template renders the prompt differently when a reply follows it, so the "
            "prompt's tokens cannot be masked"
        )
    return whole.after(count)


@dataclass(frozen=True, slots=True)
class KtoRow:
    id: str
    prompt: list[dict[str, Any]]
    completion: dict[str, Any]
    label: bool


def kto_rows(pairs: Sequence[PreferencePair]) -> list[KtoRow]:
    """One row per distinct (prompt, reply) of ``pairs``: true when the reply was chosen
    and never rejected, false when any pair rejected it (something better exists for
    that prompt). Ids are ``{conversation}-{position}-{n}``, n counting the replies of
    that prompt in pair order; rows keep that order.
    """
    labels: dict[tuple[str, str], bool] = {}
    rows: dict[tuple[str, str], KtoRow] = {}
    counters: dict[tuple[int, int], int] = {}
    for pair in pairs:
        prompt_key = repr(sorted_json(pair.prompt))
        for reply, chosen in ((pair.chosen, True), (pair.rejected, False)):
            key = (prompt_key, repr(sorted_json(reply)))
            labels[key] = labels.get(key, True) and chosen
            if key not in rows:
                where = (pair.conversation_id, pair.position)
                counters[where] = counters.get(where, 0) + 1
                row_id = f"{pair.conversation_id}-{pair.position}-{counters[where]}"
                rows[key] = KtoRow(row_id, pair.prompt, reply, True)
    return [KtoRow(row.id, row.prompt, row.completion, labels[key]) for key, row in rows.items()]


class PreferenceJsonlWriter(_JsonLinesFile):
    """``{split}.preference.jsonl``: ``{"id", "prompt", "chosen", "rejected", "source",
    "metadata"}`` with messages in the JSONL shape (loads in TRL's ``DPOTrainer``)."""

    def write(self, pair: PreferencePair) -> None:
        self._write_record(pair.record())


class KtoJsonlWriter(_JsonLinesFile):
    """``{split}.kto.jsonl``: ``{"id", "prompt", "completion", "label"}`` (TRL's
    conversational unpaired preference format)."""

    def write(self, row: KtoRow) -> None:
        self._write_record(
            {"id": row.id, "prompt": row.prompt, "completion": [row.completion], "label": row.label}
        )


PREFERENCE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("prompt_input_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("chosen_input_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("chosen_labels", pa.list_(pa.int32()), nullable=False),
        pa.field("rejected_input_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("rejected_labels", pa.list_(pa.int32()), nullable=False),
    ]
)


class PreferenceParquetWriter(_BufferedParquetWriter):
    """``{split}.preference.parquet``: the tokenized pairs (see :class:`TokenizedPair`)."""

    schema = PREFERENCE_SCHEMA

    def write(self, pair_id: str, pair: TokenizedPair) -> None:
        self._append({"id": pair_id, **pair.column_parts()})
