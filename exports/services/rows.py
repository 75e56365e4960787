"""Which approved conversations an export writes, and their messages in the export's shape.

`Selection` applies the row filters that need the messages (empty, score, unedited AI
drafts, duplicates) and knows each project's declared tools; `clean_messages` turns a
revision snapshot into the export's messages (see `sftpipeline.turns`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exports.selectors import ExportRow, export_project_tools
from sftpipeline.split import Deduplicator
from sftpipeline.turns import ASSISTANT, ROLES, TOOL, export_message, sorted_json

from .config import ExportConfig


class ExportError(Exception):
    """The export cannot be made; the message says why in words an admin can act on."""


@dataclass
class Selection:
    """What the row filters let through, and why the rest was left out."""

    config: ExportConfig
    deduplicator: Deduplicator | None = None
    read: int = 0
    empty: int = 0
    below_min_score: int = 0
    unedited_ai_drafts: int = 0
    labelers: set[int] = field(default_factory=set)
    reviewers: set[int] = field(default_factory=set)
    reviews: int = 0
    imported: int = 0
    #: Declared tools per project slug, sorted like the JSONL files write them.
    tools: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.config.dedupe and self.deduplicator is None:
            self.deduplicator = Deduplicator()
        self.tools = {
            slug: sorted_json(tools or [])
            for slug, tools in export_project_tools(self.config).items()
        }

    def tools_of(self, row: ExportRow) -> list[dict[str, Any]]:
        return self.tools.get(row.project, [])

    @property
    def duplicates(self) -> int:
        return self.deduplicator.duplicates if self.deduplicator else 0

    def keep(self, rows: Sequence[ExportRow]) -> list[tuple[ExportRow, list[dict[str, Any]]]]:
        """The rows to export with their cleaned messages, in order."""
        kept = []
        for row in rows:
            self.read += 1
            messages = clean_messages(row, drop_reasoning=self.config.drop_reasoning)
            if not messages:
                self.empty += 1
                continue
            if self.config.min_score is not None and (
                row.mean_score is None or row.mean_score < self.config.min_score
            ):
                self.below_min_score += 1
                continue
            if self.config.exclude_unedited_ai_drafts and any(
                m["role"] == "assistant" and m.get("origin") == "model" for m in messages
            ):
                self.unedited_ai_drafts += 1
                continue
            if self.deduplicator is not None and self.deduplicator.is_duplicate(messages):
                continue
            kept.append((row, messages))
        return kept

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
