"""Streaming statistics for the manifest and the dataset card, in O(1) memory per row.

Memory grows with the number of distinct splits, domains, roles and origins,
never with the number of conversations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .render import PART_ANSWER, PART_REASONING, PART_TOOL_CALL, PART_TOOL_RESULT, TokenizedExample
from .turns import ASSISTANT

#: Token counts per part of a structured turn (0 where the template cannot tell parts).
PART_TOKEN_FIELDS = {
    PART_REASONING: "reasoning_tokens",
    PART_ANSWER: "answer_tokens",
    PART_TOOL_CALL: "tool_call_tokens",
    PART_TOOL_RESULT: "tool_result_tokens",
}

#: Upper bounds (inclusive) of the tokens-per-conversation histogram; one open bucket follows.
HISTOGRAM_EDGES: tuple[int, ...] = (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


def histogram_labels() -> list[str]:
    """Labels of the histogram buckets, e.g. ``"≤128"``, ``"129–256"``, ``">32768"``."""
    labels = []
    lower = 0
    for edge in HISTOGRAM_EDGES:
        labels.append(f"≤{edge}" if lower == 0 else f"{lower + 1}–{edge}")
        lower = edge
    labels.append(f">{HISTOGRAM_EDGES[-1]}")
    return labels


def _bucket(num_tokens: int) -> int:
    for index, edge in enumerate(HISTOGRAM_EDGES):
        if num_tokens <= edge:
            return index
    return len(HISTOGRAM_EDGES)


@dataclass
class Stats:
    """Accumulates counts as conversations stream past; :meth:`to_dict` is deterministic."""

    conversations: int = 0
    messages: int = 0
    characters: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    min_tokens: int | None = None
    max_tokens: int | None = None
    dropped: int = 0
    truncated: int = 0
    duplicates: int = 0
    per_split: dict[str, int] = field(default_factory=dict)
    per_domain: dict[str, dict[str, int]] = field(default_factory=dict)
    messages_by_role: dict[str, int] = field(default_factory=dict)
    messages_by_origin: dict[str, int] = field(default_factory=dict)
    # Structured turns (contract 6).
    conversations_with_reasoning: int = 0
    conversations_with_tool_calls: int = 0
    tool_calls_by_tool: dict[str, int] = field(default_factory=dict)
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    tool_call_tokens: int = 0
    tool_result_tokens: int = 0
    token_histogram: list[int] = field(default_factory=lambda: [0] * (len(HISTOGRAM_EDGES) + 1))

    def add(
        self,
        messages: Sequence[Mapping[str, Any]],
        example: TokenizedExample | None = None,
        *,
        split: str,
        domain: str | None = None,
    ) -> None:
        """Count one exported conversation.

        A message's optional ``origin`` key (human / model / model_edited) is
        counted per value.
        """
        self.conversations += 1
        self.messages += len(messages)
        self.per_split[split] = self.per_split.get(split, 0) + 1
        for message in messages:
            self.characters += len(message["content"])
            _increment(self.messages_by_role, message["role"])
            origin = message.get("origin")
            if origin:
                _increment(self.messages_by_origin, str(origin))
            for call in message.get("tool_calls") or ():
                _increment(self.tool_calls_by_tool, call["function"]["name"])
        assistants = [m for m in messages if m["role"] == ASSISTANT]
        self.conversations_with_reasoning += any(m.get("reasoning_content") for m in assistants)
        self.conversations_with_tool_calls += any(m.get("tool_calls") for m in assistants)
        domain_counts = self.per_domain.setdefault(
            domain or "(none)", {"conversations": 0, "tokens": 0, "trained_tokens": 0}
        )
        domain_counts["conversations"] += 1
        if example is None:
            return
        trained = example.num_trained_tokens
        self.tokens += example.num_tokens
        self.trained_tokens += trained
        domain_counts["tokens"] += example.num_tokens
        domain_counts["trained_tokens"] += trained
        self.min_tokens = _min(self.min_tokens, example.num_tokens)
        self.max_tokens = _max(self.max_tokens, example.num_tokens)
        self.token_histogram[_bucket(example.num_tokens)] += 1
        for part, name in PART_TOKEN_FIELDS.items():
            setattr(self, name, getattr(self, name) + example.tokens_in(part))

    @property
    def has_structured_turns(self) -> bool:
        """Whether any exported conversation has reasoning, tool calls or tool results."""
        return bool(
            self.conversations_with_reasoning
            or self.tool_calls_by_tool
            or self.messages_by_role.get("tool")
        )

    def merge(self, other: Stats) -> None:
        """Add ``other``'s counts (e.g. from another shard) into this one."""
        for name in (
            "conversations",
            "messages",
            "characters",
            "tokens",
            "trained_tokens",
            "dropped",
            "truncated",
            "duplicates",
            "conversations_with_reasoning",
            "conversations_with_tool_calls",
            *PART_TOKEN_FIELDS.values(),
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.min_tokens = _min(self.min_tokens, other.min_tokens)
        self.max_tokens = _max(self.max_tokens, other.max_tokens)
        for mine, theirs in (
            (self.per_split, other.per_split),
            (self.messages_by_role, other.messages_by_role),
            (self.messages_by_origin, other.messages_by_origin),
            (self.tool_calls_by_tool, other.tool_calls_by_tool),
        ):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        for domain, counts in other.per_domain.items():
            target = self.per_domain.setdefault(domain, dict.fromkeys(counts, 0))
            for key, value in counts.items():
                target[key] = target.get(key, 0) + value
        self.token_histogram = [
            a + b for a, b in zip(self.token_histogram, other.token_histogram, strict=True)
        ]

    @property
    def mean_tokens(self) -> float:
        """Mean tokens per conversation (0.0 when empty)."""
        return self.tokens / self.conversations if self.conversations else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready, key-sorted summary for the manifest."""
        return {
            "conversations": self.conversations,
            "messages": self.messages,
            "characters": self.characters,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "min_tokens": self.min_tokens,
            "max_tokens": self.max_tokens,
            "mean_tokens": round(self.mean_tokens, 3),
            "dropped": self.dropped,
            "truncated": self.truncated,
            "duplicates": self.duplicates,
            "per_split": dict(sorted(self.per_split.items())),
            "per_domain": {
                key: dict(sorted(v.items())) for key, v in sorted(self.per_domain.items())
            },
            "messages_by_role": dict(sorted(self.messages_by_role.items())),
            "messages_by_origin": dict(sorted(self.messages_by_origin.items())),
            "conversations_with_reasoning": self.conversations_with_reasoning,
            "conversations_with_tool_calls": self.conversations_with_tool_calls,
            "tool_calls_by_tool": dict(sorted(self.tool_calls_by_tool.items())),
            **{name: getattr(self, name) for name in PART_TOKEN_FIELDS.values()},
            "token_histogram": dict(zip(histogram_labels(), self.token_histogram, strict=True)),
        }


def _increment(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
