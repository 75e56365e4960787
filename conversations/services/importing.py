"""Import finished conversations: the export's messages JSONL, or OpenAssistant message trees.

Same rules as the prompt import: every line is checked first; any bad line is named
(`line 7: field "messages[2].role": unknown role "bot"`) and nothing is imported.
Everything that passes is written in one transaction.

Structured turns (contract 6) in the export's shape: `tools` on the row, `tool_calls` on
assistant messages (arguments an object or a JSON string, as OpenAI's fine-tuning files
write them), `tool_call_id` on tool messages, and the reasoning as `reasoning_content`
(or `reasoning`, or `thinking`). Every contract-6 rule is checked against the project's
declared tools (`line 4: messages[2].tool_calls[0].function.arguments.unit: 'K' is not
one of ['C', 'F']`). A row's `tools` must each be declared by the project, identically:
the project's declaration is what labelers, reviewers and the export use, so a file
cannot widen it; rows without `tools` use the project's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import transaction
from django.utils import timezone

from config.nul import NUL_PROBLEM, nul_path, without_nul
from conversations.models import (
    Conversation,
    ConversationState,
    Message,
    MessageOrigin,
    MessageRole,
    Revision,
)
from labeling.models import ImportBatch, Project, User
from labeling.services.counters import counts_add
from labeling.services.imports import (
    BATCH_SIZE,
    ImportFileError,
    Progress,
    decoded_lines,
    import_batch_record,
    import_batch_still_running,
)
from sftpipeline.split import snapshot_dedup_key
from structured_turns.rules import (
    StructuredError,
    clean_parts,
    clean_tools,
    conversation_problems,
    is_empty_turn,
    snapshot_compact,
)

FORMATS = ("messages", "oasst")
STATES = (ConversationState.SUBMITTED.value, ConversationState.APPROVED.value)
ROLES = frozenset(MessageRole.values)
ORIGINS = frozenset(MessageOrigin.values)
OASST_ROLES = {"prompter": MessageRole.USER.value, "assistant": MessageRole.ASSISTANT.value}
MAX_ERRORS = 50
# Names other tools give an assistant's reasoning, first found wins (one per message).
REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")


class ConversationImportError(ValueError):
    """One or more lines are bad; `errors` lists them as `line N: …`. Nothing was imported."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        shown = errors[:10]
        more = f"\n… and {len(errors) - 10} more" if len(errors) > 10 else ""
        super().__init__("\n".join(shown) + more)


class _LineError(Exception):
    def __init__(self, field_path: str, problem: str, *, quoted: bool = True) -> None:
        if field_path and quoted:
            problem = f'field "{field_path}": {problem}'
        elif field_path:
            problem = f"{field_path}: {problem}"
        super().__init__(problem)

    @classmethod
    def at(cls, path: str, problem: str) -> _LineError:
        """A structured-turn error, written `path: problem` like the editor's."""
        return cls(path, problem, quoted=False)


@dataclass
class ParsedConversation:
    source_id: str
    messages: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportResult:
    batch: ImportBatch
    imported: int
    skipped_existing: int
    skipped_without_reply: int


def _text(value: Any, field_path: str) -> str:
    if not isinstance(value, str):
        raise _LineError(field_path, "missing" if value is None else "must be text")
    if not value.strip():
        raise _LineError(field_path, "empty content")
    return value


def _reasoning(message: dict, where: str) -> str:
    given = [key for key in REASONING_KEYS if message.get(key) not in (None, "")]
    if len(given) > 1:
        raise _LineError.at(f"{where}.{given[1]}", f"give the reasoning once (also in {given[0]})")
    return message[given[0]] if given else ""


def _parse_message(message: Any, where: str) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise _LineError(where, "must be an object with role and content")
    role = message.get("role")
    if role not in ROLES:
        raise _LineError(f"{where}.role", f"unknown role {json.dumps(role)}")
    origin = message.get("origin") or MessageOrigin.HUMAN.value
    if origin not in ORIGINS:
        raise _LineError(f"{where}.origin", f"unknown origin {json.dumps(origin)}")
    try:
        parts = clean_parts({**message, "reasoning": _reasoning(message, where)}, path=where)
    except StructuredError as error:
        raise _LineError.at(error.path, error.problem) from None
    content = message.get("content")
    if content is None and parts["tool_calls"]:
        content = ""  # OpenAI writes null for an assistant that only calls tools
    parsed = {"role": role, "content": content, "origin": origin, **parts}
    if is_empty_turn(parsed) or not isinstance(content, str):
        _text(content, f"{where}.content")
    return parsed


def _row_tools(record: dict, project: Project) -> None:
    """A row's tools must be the project's own declarations (see the module's docstring)."""
    tools = record.get("tools")
    if tools in (None, []):
        return
    try:
        # Specs first, as the project settings check them: a spec without a name is named so.
        clean_tools(tools)
    except StructuredError as error:
        raise _LineError.at(error.path, error.problem) from None
    declared = {spec["function"]["name"]: spec for spec in project.tools or []}
    for index, spec in enumerate(tools):
        name = spec["function"]["name"]
        if name not in declared:
            raise _LineError.at(
                f"tools[{index}]",
                f"{json.dumps(name)} is not a tool project {project.slug!r} declares "
                "(declare it in the project settings first)",
            )
        if spec != declared[name]:
            raise _LineError.at(
                f"tools[{index}]", f'"{name}" differs from the project\'s declaration'
            )


def _parse_messages_line(record: Any, number: int, project: Project) -> list[ParsedConversation]:
    if not isinstance(record, dict):
        raise _LineError("", "expected a JSON object")
    if "messages" not in record:
        raise _LineError("messages", "missing")
    raw_messages = record["messages"]
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _LineError("messages", "must be a non-empty list")
    messages = [
        _parse_message(message, f"messages[{index}]") for index, message in enumerate(raw_messages)
    ]
    if not any(m["role"] == MessageRole.ASSISTANT for m in messages):
        raise _LineError("messages", "has no assistant message")
    _row_tools(record, project)
    problems = conversation_problems(
        messages, tools=project.tools or [], reasoning_mode=project.reasoning_mode
    )
    if problems:
        raise _LineError.at(problems[0].path, problems[0].detail)
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _LineError("metadata", "must be an object")
    source = record.get("id")
    source_id = str(source) if source not in (None, "") else f"line-{number}"
    return [ParsedConversation(source_id, messages, dict(metadata))]


def _oasst_message(message: Any, where: str) -> dict[str, str]:
    if not isinstance(message, dict):
        raise _LineError(where, "must be a message object")
    role_name = message.get("role")
    role = OASST_ROLES.get(role_name) if isinstance(role_name, str) else None
    if role is None:
        raise _LineError(f"{where}.role", f"unknown role {json.dumps(message.get('role'))}")
    text = _text(message.get("text"), f"{where}.text")
    synthetic = role == MessageRole.ASSISTANT and bool(message.get("synthetic"))
    return {
        "role": role,
        "content": text,
        "origin": MessageOrigin.MODEL.value if synthetic else MessageOrigin.HUMAN.value,
        "message_id": str(message.get("message_id") or ""),
    }


def _oasst_replies(message: dict, where: str) -> list[tuple[dict, str]]:
    replies = message.get("replies") or []
    if not isinstance(replies, list):
        raise _LineError(f"{where}.replies", "must be a list")
    return [
        (reply, f"{where}.replies[{index}]")
        for index, reply in enumerate(replies)
        if not (isinstance(reply, dict) and reply.get("deleted"))
    ]


def _rank_key(item: tuple[dict, str]) -> tuple[int, float]:
    rank = item[0].get("rank")
    return (0, float(rank)) if isinstance(rank, int | float) else (1, 0.0)


def _best_path(root: dict) -> list[dict[str, str]]:
    path, node, where = [], root, "prompt"
    while True:
        path.append(_oasst_message(node, where))
        replies = _oasst_replies(node, where)
        if not replies:
            return path
        node, where = min(replies, key=_rank_key)  # rank 0 first; unranked after ranked


def _all_paths(root: dict) -> list[list[dict[str, str]]]:
    paths = []
    stack: list[tuple[dict, str, list[dict[str, str]]]] = [(root, "prompt", [])]
    while stack:
        node, where, prefix = stack.pop()
        path = [*prefix, _oasst_message(node, where)]
        replies = _oasst_replies(node, where)
        if not replies:
            paths.append(path)
        for reply, reply_where in reversed(sorted(replies, key=_rank_key)):
            stack.append((reply, reply_where, path))
    return paths


def _ending_with_assistant(path: list[dict[str, str]]) -> list[dict[str, str]]:
    while path and path[-1]["role"] != MessageRole.ASSISTANT:
        path = path[:-1]
    return path


def _parse_oasst_line(record: Any, all_paths: bool) -> list[ParsedConversation]:
    if not isinstance(record, dict):
        raise _LineError("", "expected a JSON object")
    if "prompt" not in record:
        raise _LineError("prompt", "missing")
    tree_id = str(record.get("message_tree_id") or "")
    if not tree_id:
        raise _LineError("message_tree_id", "missing")
    root = record["prompt"]
    if isinstance(root, dict) and root.get("role") != "prompter":
        raise _LineError("prompt.role", f'must be "prompter", not {json.dumps(root.get("role"))}')
    paths = _all_paths(root) if all_paths else [_best_path(root)]
    conversations, seen = [], set()
    for path in paths:
        path = _ending_with_assistant(path)
        ids = tuple(m["message_id"] for m in path)
        if not path or ids in seen:
            continue
        seen.add(ids)
        source_id = f"{tree_id}/{ids[-1]}" if all_paths else tree_id
        metadata = {
            "format": "oasst",
            "message_tree_id": tree_id,
            "message_ids": list(ids),
            "lang": root.get("lang") or "",
        }
        messages = [{k: m[k] for k in ("role", "content", "origin")} for m in path]
        conversations.append(ParsedConversation(source_id, messages, metadata))
    return conversations


def conversations_parse(
    *,
    stream: IO[bytes] | Iterable[bytes],
    project: Project,
    file_format: str = "messages",
    all_paths: bool = False,
    progress: Progress | None = None,
) -> tuple[list[ParsedConversation], int, int]:
    """Check every line against `project`'s rules (declared tools, reasoning mode);
    return (conversations, lines read, trees without a reply). `progress` hears how many
    lines were read after every BATCH_SIZE lines.

    Raises ConversationImportError listing each bad line.
    """
    if file_format not in FORMATS:
        raise ConversationImportError([f"unknown format {file_format!r}: use messages or oasst"])
    parsed: list[ParsedConversation] = []
    errors: list[str] = []
    lines = without_reply = 0
    try:
        for number, text in decoded_lines(stream):
            if not text.strip():
                continue
            lines += 1
            if progress and lines % BATCH_SIZE == 0:
                progress(ImportBatch.Step.CHECKING, lines, None)
            try:
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as error:
                    raise _LineError(
                        "", f"not valid JSON ({error.msg}, column {error.colno})"
                    ) from None
                nul_at = nul_path(record)
                if nul_at is not None:
                    raise _LineError(without_nul(nul_at), NUL_PROBLEM)
                if file_format == "messages":
                    found = _parse_messages_line(record, number, project)
                else:
                    found = _parse_oasst_line(record, all_paths)
                    without_reply += int(not found)
                parsed.extend(found)
            except _LineError as error:
                errors.append(f"line {number}: {error}")
                if len(errors) >= MAX_ERRORS:
                    break
    except ImportFileError as error:
        errors.append(str(error))
    if not errors and not lines:
        errors.append("the file has no lines to import")
    if errors:
        raise ConversationImportError(errors)
    return parsed, lines, without_reply


def conversations_import(
    *,
    project: Project,
    stream: IO[bytes] | Iterable[bytes],
    file_name: str,
    file_format: str = "messages",
    state: str = ConversationState.SUBMITTED.value,
    all_paths: bool = False,
    created_by: User | None = None,
    batch: ImportBatch | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import every conversation of `stream` into `project`, or nothing if any line is bad.

    Each becomes an imported Conversation (its source id kept, state submitted or
    approved) with its Messages and a Revision of kind import as current revision.
    Conversations whose source id the project already imported are skipped.

    Every line is checked outside any transaction (`progress` may commit figures others
    read meanwhile); the conversations are then saved in one. `batch`, when given, is the
    queued batch a background import fills in, only while its run owns it.
    """
    if state not in STATES:
        raise ConversationImportError([f"state must be one of {', '.join(STATES)}, not {state!r}"])
    parsed, lines, without_reply = conversations_parse(
        stream=stream,
        project=project,
        file_format=file_format,
        all_paths=all_paths,
        progress=progress,
    )
    if progress:
        # Every line is checked; what is left is one transaction with no figures.
        progress(ImportBatch.Step.SAVING, lines, lines)
    with transaction.atomic():
        if batch is not None:
            import_batch_still_running(batch)
        return _save(project, parsed, lines, without_reply, file_name, state, created_by, batch)


def _save(
    project: Project,
    parsed: list[ParsedConversation],
    lines: int,
    without_reply: int,
    file_name: str,
    state: str,
    created_by: User | None,
    batch: ImportBatch | None,
) -> ImportResult:
    existing = set(
        Conversation.objects.filter(project=project, imported=True).values_list(
            "source_id", flat=True
        )
    )
    fresh: list[ParsedConversation] = []
    for item in parsed:
        if item.source_id not in existing:
            existing.add(item.source_id)
            fresh.append(item)
    now = timezone.now()
    conversations = Conversation.objects.bulk_create(
        Conversation(
            project=project,
            state=state,
            imported=True,
            source_id=item.source_id[:255],
            metadata=item.metadata,
            submitted_at=now,
            decided_at=now if state == ConversationState.APPROVED else None,
        )
        for item in fresh
    )
    counts_add(project_id=project.pk, changes=[(None, state, len(conversations))])
    Message.objects.bulk_create(_message_rows(conversations, fresh), batch_size=2000)
    revisions = Revision.objects.bulk_create(
        (
            Revision(
                conversation=conversation,
                number=1,
                kind=Revision.Kind.IMPORT,
                messages=(snapshot := [snapshot_compact(_snapshot(m)) for m in item.messages]),
                content_hash=snapshot_dedup_key(snapshot),
                created_by=created_by,
                reason=f"Imported from {file_name}",
            )
            for conversation, item in zip(conversations, fresh, strict=True)
        ),
        batch_size=1000,
    )
    for conversation, revision in zip(conversations, revisions, strict=True):
        conversation.current_revision = revision
    Conversation.objects.bulk_update(conversations, ["current_revision"], batch_size=1000)
    batch = import_batch_record(
        batch,
        kind=ImportBatch.Kind.CONVERSATIONS,
        project=project,
        status=ImportBatch.Status.IMPORTED,
        file_name=file_name,
        user=created_by,
        rows_read=lines,
        rows_imported=len(fresh),
        duplicates_skipped=len(parsed) - len(fresh),
    )
    return ImportResult(batch, len(fresh), len(parsed) - len(fresh), without_reply)


def _snapshot(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message with its model originals: a model's message keeps every part it wrote."""
    is_model = message["origin"] == MessageOrigin.MODEL
    return {
        "role": message["role"],
        "content": message["content"],
        "origin": message["origin"],
        "model_original": message["content"] if is_model else "",
        "reasoning": message.get("reasoning", ""),
        "tool_calls": message.get("tool_calls", []),
        "tool_call_id": message.get("tool_call_id", ""),
        "model_original_reasoning": message.get("reasoning", "") if is_model else "",
        "model_original_tool_calls": message.get("tool_calls", []) if is_model else [],
    }


def _message_rows(
    conversations: list[Conversation], items: list[ParsedConversation]
) -> Iterator[Message]:
    for conversation, item in zip(conversations, items, strict=True):
        for position, message in enumerate(item.messages):
            yield Message(conversation=conversation, position=position, **_snapshot(message))
