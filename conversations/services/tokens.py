"""Live token counts with the project's export tokenizer and template (the export's own code)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from labeling.models import Project
from sftpipeline.render import count_conversation_tokens
from sftpipeline.tokenizers import TokenizerError, get_tokenizer
from structured_turns.rules import MAX_TOOL_RESULT_BYTES

#: The longest text counted (a tool result's limit; every other part's is lower). A
#: longer one is refused on save anyway, and BPE on one long run of a repeated character
#: slows down faster than linearly (5 MB of "x" took 6 s), so it is not counted.
MAX_COUNTED_CHARS = MAX_TOOL_RESULT_BYTES


@dataclass(frozen=True)
class TokenCounts:
    per_message: list[int]
    total: int | None
    max_tokens: int
    tokenizer: str
    error: str = ""
    # Per message: {"content", "reasoning", "tool_calls"} tokens (structured turns, contract 6).
    per_part: list[dict] = field(default_factory=list)

    @property
    def share(self) -> float:
        return (self.total or 0) / self.max_tokens if self.max_tokens else 0.0

    @property
    def level(self) -> str:
        """ok / near / over: how the editor colours the total."""
        if self.total is None:
            return "ok"
        if self.total > self.max_tokens:
            return "over"
        return "near" if self.share >= 0.9 else "ok"

    def as_dict(self) -> dict:
        return {
            "per_message": self.per_message,
            "total": self.total,
            "max_tokens": self.max_tokens,
            "tokenizer": self.tokenizer,
            "level": self.level,
            "error": self.error,
            "per_part": self.per_part,
        }


def token_counts(*, project: Project, messages: Sequence[Mapping]) -> TokenCounts:
    """Content tokens per message (and per part: content, reasoning, tool calls) and the whole
    rendered conversation's tokens, as exported.

    A tokenizer that needs a vocabulary file the server does not have (o200k_base,
    an uploaded Hugging Face tokenizer) gives no counts and says why, rather than
    counting with a different tokenizer and showing wrong numbers.
    """
    texts = [_part_texts(m) for m in messages]
    for position, parts in enumerate(texts):
        if any(len(text) > MAX_COUNTED_CHARS for text in parts):
            error = f"message {position + 1} is too long to count (over {MAX_COUNTED_CHARS:,} characters)"
            return TokenCounts(
                [0] * len(messages), None, project.max_tokens, project.tokenizer, error
            )
    try:
        tokenizer = get_tokenizer(project.tokenizer)
        counts = tokenizer.encode_ordinary_batch([text for parts in texts for text in parts])
        lengths = [len(ids) for ids in counts]
        per_part = [
            dict(zip(PARTS, lengths[i * len(PARTS) : (i + 1) * len(PARTS)], strict=True))
            for i in range(len(messages))
        ]
        per_message = [part["content"] for part in per_part]
        total = count_conversation_tokens(
            [
                {
                    **{key: m[key] for key in _STRUCTURED if m.get(key)},
                    "role": m.get("role") or "user",
                    "content": m.get("content") or "",
                }
                for m in messages
            ],
            project.template,
            tokenizer,
        )
    except (TokenizerError, ValueError) as error:
        return TokenCounts(
            [0] * len(messages), None, project.max_tokens, project.tokenizer, str(error)
        )
    return TokenCounts(per_message, total, project.max_tokens, project.tokenizer, per_part=per_part)


PARTS = ("content", "reasoning", "tool_calls")
_STRUCTURED = ("reasoning", "tool_calls", "tool_call_id")


def _part_texts(message: Mapping) -> list[str]:
    """Each part's text: the content, the reasoning, and the calls as the export writes them
    (`{"name", "arguments"}` JSON, one per call)."""
    calls = message.get("tool_calls")
    functions = [
        call["function"]
        for call in (calls if isinstance(calls, list) else [])
        if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping)
    ]
    rendered = "\n".join(
        json.dumps(
            {"name": function.get("name"), "arguments": function.get("arguments")},
            ensure_ascii=False,
        )
        for function in functions
    )
    reasoning = message.get("reasoning")
    content = message.get("content")
    return [
        content if isinstance(content, str) else "",
        reasoning if isinstance(reasoning, str) else "",
        rendered,
    ]
