"""Live token counts with the project's export tokenizer and template (the export's own code)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from labeling.models import Project
from sftpipeline.render import count_conversation_tokens
from sftpipeline.tokenizers import TokenizerError, get_tokenizer


@dataclass(frozen=True)
class TokenCounts:
    per_message: list[int]
    total: int | None
    max_tokens: int
    tokenizer: str
    error: str = ""

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
        }


def token_counts(*, project: Project, messages: Sequence[Mapping]) -> TokenCounts:
    """Content tokens per message and the whole rendered conversation's tokens, as exported.

    A tokenizer that needs a vocabulary file the server does not have (o200k_base,
    an uploaded Hugging Face tokenizer) gives no counts and says why, rather than
    counting with a different tokenizer and showing wrong numbers.
    """
    try:
        tokenizer = get_tokenizer(project.tokenizer)
        contents = [m.get("content") or "" for m in messages]
        per_message = [len(ids) for ids in tokenizer.encode_ordinary_batch(contents)]
        total = count_conversation_tokens(
            [
                {"role": m.get("role") or "user", "content": m.get("content") or ""}
                for m in messages
            ],
            project.template,
            tokenizer,
        )
    except (TokenizerError, ValueError) as error:
        return TokenCounts(
            [0] * len(messages), None, project.max_tokens, project.tokenizer, str(error)
        )
    return TokenCounts(per_message, total, project.max_tokens, project.tokenizer)
