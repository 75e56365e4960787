"""Which approved conversations an export writes, and their messages in the export's shape.

`Selection` applies the row filters that need the messages (empty, score, unedited AI
drafts, duplicates) and knows each project's declared tools; `clean_messages` turns a
revision snapshot into the export's messages (see `sftpipeline.turns`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exports.selectors import ExportRow, export_duplicate_candidates, export_project_tools
from sftpipeline.turns import ASSISTANT, ROLES, TOOL, export_message, sorted_json

from .config import ExportConfig


class ExportError(Exception):
    """The export cannot be made; the message says why in words an admin can act on."""


@dataclass
class Selection:
    """What the row filters let through, and why the rest was left out.

    Duplicates are decided from the content hash each revision keeps: a conversation is
    a duplicate when a lower-id one of the export's selection, kept by the other filters,
    says the same. Earlier chunks (and shards) are asked of the database, never held in
    memory, so the decision is the same whichever shard a conversation falls in.
    """

    config: ExportConfig
    read: int = 0
    empty: int = 0
    below_min_score: int = 0
    unedited_ai_drafts: int = 0
    duplicates: int = 0
    labelers: set[int] = field(default_factory=set)
    reviewers: set[int] = field(default_factory=set)
    reviews: int = 0
    imported: int = 0
    #: Declared tools per project slug, sorted like the JSONL files write them.
    tools: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tools = {
            slug: sorted_json(tools or [])
            for slug, tools in export_project_tools(self.config).items()
        }

    def tools_of(self, row: ExportRow) -> list[dict[str, Any]]:
        return self.tools.get(row.project, [])

    def _left_out(self, row: ExportRow, messages: list[dict[str, Any]]) -> str | None:
        """The counter of the filter that leaves the row out, or None when it passes."""
        if not messages:
            return "empty"
        if self.config.min_score is not None and (
            row.mean_score is None or row.mean_score < self.config.min_score
        ):
            return "below_min_score"
        if self.config.exclude_unedited_ai_drafts and any(
            m["role"] == "assistant" and m.get("origin") == "model" for m in messages
        ):
            return "unedited_ai_drafts"
        return None

    def keep(self, rows: Sequence[ExportRow]) -> list[tuple[ExportRow, list[dict[str, Any]]]]:
        """The rows to export with their cleaned messages, in order (`rows` in id order)."""
        passing = []
        for row in rows:
            self.read += 1
            messages = clean_messages(row, drop_reasoning=self.config.drop_reasoning)
            reason = self._left_out(row, messages)
            if reason is not None:
                setattr(self, reason, getattr(self, reason) + 1)
                continue
            passing.append((row, messages))
        if not self.config.dedupe or not passing:
            return passing
        taken = self._hashes_taken({row.content_hash for row, _ in passing}, rows[0].id)
        kept = []
        for row, messages in passing:
            if row.content_hash in taken:
                self.duplicates += 1
                continue
            if row.content_hash:
                taken.add(row.content_hash)
            kept.append((row, messages))
        return kept

    def _hashes_taken(self, hashes: set[str], before_id: int) -> set[str]:
        """Those of `hashes` that a conversation below `before_id` passing the filters has."""
        # Without filters that need messages and scores, any candidate passes (a non-empty
        # conversation cannot share its hash with an empty one).
        needs_rows = self.config.min_score is not None or self.config.exclude_unedited_ai_drafts
        taken: set[str] = set()
        candidates = export_duplicate_candidates(
            self.config, hashes=hashes, before_id=before_id, with_rows=needs_rows
        )
        for digest, row in candidates:
            if digest in taken:
                continue
            if row is None or self._left_out(row, clean_messages(row)) is None:
                taken.add(digest)
                if taken == hashes:
                    break
        return taken

    def count_provenance(self, row: ExportRow) -> None:
        if row.labeler_id is not None:
            self.labelers.add(row.labeler_id)
        self.reviewers.update(row.reviewer_ids)
        self.reviews += len(row.reviewer_ids)
        self.imported += int(row.imported)


def clean_messages(row: ExportRow, *, drop_reasoning: bool = False) -> list[dict[str, Any]]:
    """The revision's messages in the export's shape (see `sftpipeline.turns`) plus
    their `origin`; ExportError names a broken one.

    Snapshots written before structured turns lack their keys and read as empty.
    """
    if not isinstance(row.messages, list):
        raise ExportError(
            f"Conversation {row.id} (project {row.project}): its revision holds no message list."
        )
    cleaned = []
    for position, message in enumerate(row.messages, start=1):
        where = f"Conversation {row.id} (project {row.project}), message {position}"
        if not isinstance(message, Mapping):
            raise ExportError(f"{where} is not an object.")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise ExportError(f"{where} has the unknown role {role!r}.")
        if not isinstance(content, str):
            raise ExportError(f"{where} has no text content.")
        reasoning = message.get("reasoning") or ""
        tool_calls = message.get("tool_calls") or []
        tool_call_id = message.get("tool_call_id") or ""
        if not isinstance(reasoning, str):
            raise ExportError(f"{where}: its reasoning is not text.")
        _check_tool_calls(tool_calls, where)
        if role == TOOL and not (isinstance(tool_call_id, str) and tool_call_id):
            raise ExportError(f"{where}: a tool message without the id of the call it answers.")
        exported = export_message(
            role,
            content,
            reasoning="" if drop_reasoning else reasoning,
            tool_calls=tool_calls if role == ASSISTANT else (),
            tool_call_id=tool_call_id,
        )
        exported["origin"] = message.get("origin") or ""
        cleaned.append(exported)
    return cleaned


def _check_tool_calls(tool_calls: Any, where: str) -> None:
    if not isinstance(tool_calls, list):
        raise ExportError(f"{where}: tool_calls is not a list.")
    for index, call in enumerate(tool_calls):
        function = call.get("function") if isinstance(call, Mapping) else None
        if (
            not isinstance(function, Mapping)
            or not isinstance(call.get("id"), str)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), Mapping)
        ):
            raise ExportError(
                f"{where}: tool_calls[{index}] is not "
                '{"id", "function": {"name", "arguments": {…}}} with arguments a JSON object.'
            )
