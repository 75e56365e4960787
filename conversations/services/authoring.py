"""Writing a conversation: start it from a lease, save it (with its version), submit it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from conversations.models import (
    Conversation,
    ConversationState,
    DraftRequest,
    Message,
    MessageOrigin,
    MessageRole,
    Revision,
)
from core.exceptions import ApplicationError
from labeling.models import Assignment, User
from labeling.services.assignment import task_complete, task_lock
from structured_turns.rules import (
    STRUCTURED_DEFAULTS,
    StructuredError,
    clean_parts,
    conversation_problems,
)

from .checks import CheckResult, ConversationRules, blocking_results, run_checks
from .counts import state_count_move
from .revisions import SNAPSHOT_FIELDS, revision_create
from .tokens import TokenCounts, token_counts

AUTHOR = "author"
REVIEW = "review"
SAVE_KINDS = (AUTHOR, REVIEW)
EDITABLE_STATES = (ConversationState.DRAFT, ConversationState.CHANGES_REQUESTED)
MAX_MESSAGES = 401
MAX_MESSAGE_CHARS = 100_000
# What a save writes on each message (what a revision snapshots); origin and model
# originals are worked out here.
MESSAGE_FIELDS = SNAPSHOT_FIELDS
# The parts a model may write and a human may then edit.
MODEL_PARTS = (
    ("content", "model_original"),
    ("reasoning", "model_original_reasoning"),
    ("tool_calls", "model_original_tool_calls"),
)
# A message without anything a model wrote.
_NO_ORIGINAL: dict = {
    original: STRUCTURED_DEFAULTS.get(original, "") for _, original in MODEL_PARTS
}
# The structured parts a person writes beside the content (contract 6).
STRUCTURED_PARTS = ("reasoning", "tool_calls", "tool_call_id")


class ConversationError(ApplicationError):
    """A change a person asked for that the rules do not allow; the message says why and
    `field` the field path it concerns (`messages[2].content`), when there is one."""


class VersionConflict(ConversationError):
    """The conversation changed since the person loaded it: nothing was overwritten."""

    status = 409
    code = "version_conflict"

    def __init__(self, conversation: Conversation, expected_version: int) -> None:
        self.conversation = conversation
        self.expected_version = expected_version
        super().__init__(
            f"This conversation changed since you opened it (you had version {expected_version}, "
            f"it is now {conversation.version})."
        )


class ChecksFailed(ConversationError):
    """Submit refused: at least one blocking quality check failed (`results` lists them all)."""

    code = "checks_failed"

    def __init__(self, results: list[CheckResult]) -> None:
        self.results = results
        blocking = blocking_results(results)
        super().__init__(
            "Fix these before submitting: " + " ".join(result.message for result in blocking),
            extra={"checks": [result.as_dict() for result in results]},
        )


def prompt_messages(assignment: Assignment) -> list[Message]:
    """The prompt as unsaved messages: the system message the project shows (fixed, or the
    prompt's when allowed), earlier imported turns, then the user's query."""
    prompt, project = assignment.prompt, assignment.project
    messages = []
    system = project.fixed_system_message or (
        prompt.system if project.system_message_allowed else ""
    )
    if system:
        messages.append(Message(role=MessageRole.SYSTEM, content=system))
    for earlier in prompt.messages or []:
        messages.append(Message(role=earlier["role"], content=earlier["content"]))
    messages.append(Message(role=MessageRole.USER, content=prompt.text))
    return messages


def _seed_messages(assignment: Assignment) -> list[Message]:
    """A new conversation's messages: the prompt, then its AI draft or an empty reply."""
    prompt = assignment.prompt
    messages = prompt_messages(assignment)
    if prompt.draft:
        messages.append(
            Message(
                role=MessageRole.ASSISTANT,
                content=prompt.draft,
                origin=MessageOrigin.MODEL,
                model_original=prompt.draft,
            )
        )
    else:
        messages.append(Message(role=MessageRole.ASSISTANT, content=""))
    return messages


def _written(messages: Sequence[Message]) -> list[tuple]:
    return [(m.role, m.content, m.reasoning, m.tool_calls, m.tool_call_id) for m in messages]


@dataclass(frozen=True)
class SetAside:
    """What `conversation_set_aside` did with a skipped task's draft."""

    conversation: Conversation  # deleted when not `kept` (its fields still readable)
    kept: bool

    def count_move(self, *, shard_by: int) -> None:
        """Count the move in the project's counts: draft → abandoned, or draft → gone."""
        state_count_move(
            conversation=self.conversation,
            before=ConversationState.DRAFT,
            after=ConversationState.ABANDONED if self.kept else None,
            shard_by=shard_by,
        )


@transaction.atomic
def conversation_set_aside(*, assignment: Assignment) -> SetAside | None:
    """A skipped task's draft: kept as abandoned when it holds anything the labeler wrote
    (visible to them and to admins, never reviewed or exported), deleted when it is still
    exactly as seeded. Returns what happened, or None when there was no draft.

    Caller holds the assignment's row lock (lock order: labeling.services.assignment) and
    calls `count_move` on the result once it holds every other row it needs: the counts'
    rows come last in the lock order (task_skip does so after the prompt's).
    """
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .filter(assignment=assignment, state=ConversationState.DRAFT)
        .first()
    )
    if conversation is None:
        return None
    messages = list(conversation.messages.order_by("position"))
    conversation.prompt = assignment.prompt
    if _written(messages) == _written(_seed_messages(assignment)):
        pk = conversation.pk
        conversation.delete()
        conversation.pk = pk  # for the caller's count and messages
        return SetAside(conversation=conversation, kept=False)
    conversation.state = ConversationState.ABANDONED
    conversation.version += 1
    conversation.save(update_fields=["state", "version", "updated_at"])
    return SetAside(conversation=conversation, kept=True)


@transaction.atomic(savepoint=False)  # one less round trip: its failure fails the caller
def conversation_start(
    *, assignment: Assignment, new_lease: bool = False, guideline_version_id: int | None = None
) -> Conversation:
    """The conversation for a lease: created on first call with the prompt (and any AI draft).

    `new_lease`: the caller just created the assignment row, so it has no conversation
    yet and `guideline_version_id` is the project's current guidelines (both known from
    the caller's own queries): two statements, the conversation and its messages.
    """
    if not new_lease:
        existing = Conversation.objects.filter(assignment=assignment).first()
        if existing:
            return existing
        latest = assignment.project.guideline_versions.order_by("-version").first()
        guideline_version_id = latest.pk if latest else None
    conversation = Conversation.objects.create(
        project=assignment.project,
        prompt=assignment.prompt,
        assignment=assignment,
        labeler_id=assignment.labeler_id,
        guideline_version_id=guideline_version_id,
    )
    conversation_seed(conversation, _seed_messages(assignment))
    return conversation


def conversation_seed(conversation: Conversation, messages: list[Message]) -> None:
    """Give a just-created draft its first `messages`, in order, and count it as a draft.
    Caller runs inside the transaction that created it."""
    for position, message in enumerate(messages):
        message.conversation = conversation
        message.position = position
    Message.objects.bulk_create(messages)
    state_count_move(
        conversation=conversation,
        before=None,
        after=ConversationState.DRAFT,
        shard_by=conversation.labeler_id or 0,
    )


def protected_prefix_length(conversation: Conversation, existing: Sequence[Message]) -> int:
    """How many leading messages a labeler may not change: a fixed system message and the prompt.

    The prompt (with any earlier turns it was imported with) is the dataset's input; the
    labeler writes the replies and any follow-up turns after it.
    """
    if conversation.prompt is None:
        return 1 if conversation.project.fixed_system_message else 0
    has_system = bool(existing) and existing[0].role == MessageRole.SYSTEM
    # An editable system message sits inside the prefix; the caller lets it change.
    return (1 if has_system else 0) + len(conversation.prompt.messages or []) + 1


def _clean_messages(
    conversation: Conversation, existing: Sequence[Message], messages: Sequence[Mapping], kind: str
) -> list[dict]:
    """Validate the shape of what was sent, structured parts included (contract 6: arguments
    are JSON objects, sizes within limits); content rules are the checks' job, not the save's."""
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        raise ConversationError("send a list of {role, content} objects.", field="messages")
    if not messages:
        raise ConversationError("a conversation needs at least one message.", field="messages")
    if len(messages) > MAX_MESSAGES:
        raise ConversationError(f"at most {MAX_MESSAGES} messages.", field="messages")
    project = conversation.project
    cleaned = []
    for position, message in enumerate(messages):
        where = f"messages[{position}]"
        if not isinstance(message, Mapping):
            raise ConversationError("send an object with role and content.", field=where)
        role, content = message.get("role"), message.get("content") or ""
        if role not in MessageRole.values:
            raise ConversationError(
                f"use one of {', '.join(MessageRole.values)}.", field=f"{where}.role"
            )
        if not isinstance(content, str):
            raise ConversationError("must be text.", field=f"{where}.content")
        # A tool result has its own, larger limit (clean_parts).
        if role != MessageRole.TOOL and len(content) > MAX_MESSAGE_CHARS:
            raise ConversationError(
                f"at most {MAX_MESSAGE_CHARS} characters.", field=f"{where}.content"
            )
        try:
            parts = clean_parts(message, path=where)
        except StructuredError as error:
            raise ConversationError(f"{error.problem}.", field=error.path or where) from None
        if role == MessageRole.SYSTEM:
            if position != 0:
                raise ConversationError("a system message can only come first.", field=where)
            if not (project.system_message_allowed or project.fixed_system_message):
                raise ConversationError(
                    "this project does not allow a system message.", field=where
                )
        draft_request = message.get("draft_request")
        if draft_request is not None and not isinstance(draft_request, int):
            raise ConversationError("must be a draft request id.", field=f"{where}.draft_request")
        cleaned.append(
            {
                "role": role,
                "content": content.replace("\r\n", "\n"),
                **parts,
                "draft_request": draft_request,
            }
        )
    if kind == AUTHOR:
        _check_protected(conversation, existing, cleaned)
    return cleaned


def _check_protected(
    conversation: Conversation, existing: Sequence[Message], cleaned: list[dict]
) -> None:
    """A labeler cannot change the prompt (and earlier imported turns) nor a fixed system message.

    Compared without any editable system message, so adding or removing one is allowed.
    """
    project = conversation.project
    fixed = project.fixed_system_message
    if fixed and (cleaned[0]["role"] != MessageRole.SYSTEM or cleaned[0]["content"] != fixed):
        raise ConversationError(
            "the fixed system message cannot be changed or removed here.", field="messages[0]"
        )
    if conversation.prompt is None:
        return
    old = [m for m in existing if m.role != MessageRole.SYSTEM]
    new = [(i, m) for i, m in enumerate(cleaned) if m["role"] != MessageRole.SYSTEM]
    for index in range(min(len(old), len(conversation.prompt.messages or []) + 1)):
        if index >= len(new) or (new[index][1]["role"], new[index][1]["content"]) != (
            old[index].role,
            old[index].content,
        ):
            position = new[index][0] if index < len(new) else len(cleaned)
            raise ConversationError(
                "the prompt cannot be changed or removed here.", field=f"messages[{position}]"
            )


@transaction.atomic
def conversation_save(
    *,
    conversation_id: int,
    user: User,
    expected_version: int,
    messages: Sequence[Mapping],
    kind: str = AUTHOR,
    reason: str = "",
) -> Conversation:
    """Replace the conversation's messages with `messages`, if nobody saved since `expected_version`.

    `messages` is the whole list, in order: `{"role", "content"}`, the structured parts
    (`reasoning`, `tool_calls`, `tool_call_id`, contract 6; their shape is checked here,
    the rules across messages by the checks) and optionally `"draft_request"` (the id of a
    succeeded AI draft the message came from). Origins are worked out here, never taken
    from the caller: a message whose model answer, reasoning or calls were edited becomes
    `model_edited`, the model's originals are kept.

    `kind="author"` is the labeler's autosave (draft or changes requested; the prompt is
    read-only). `kind="review"` is a reviewer's in-place edit of a submitted conversation:
    it also stores a review-edit revision with `reason`, and the result must keep every
    contract-6 rule (it was submitted so). The caller checks permissions.

    Raises `VersionConflict` (nothing written) when the version moved on, and
    `ConversationError` for anything else refused. A constant number of queries
    whatever the number of messages.
    """
    if kind not in SAVE_KINDS:
        raise ConversationError(f"use one of {', '.join(SAVE_KINDS)}.", field="kind")
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("project", "prompt")
        .get(pk=conversation_id)
    )
    _refuse_ranking(conversation)
    if kind == AUTHOR:
        if conversation.labeler_id != user.pk:
            raise ConversationError("Only the labeler who writes this conversation can edit it.")
        if conversation.state not in EDITABLE_STATES:
            raise ConversationError(
                f"This conversation is {conversation.get_state_display().lower()}: "
                "it cannot be edited any more."
            )
    elif conversation.state != ConversationState.SUBMITTED:
        raise ConversationError("Only a submitted conversation can be edited in review.")
    if conversation.version != expected_version:
        raise VersionConflict(conversation, expected_version)

    existing = list(conversation.messages.order_by("position"))
    cleaned = _clean_messages(conversation, existing, messages, kind)
    if kind == REVIEW:
        _check_structure(conversation, cleaned)
    drafts = _succeeded_drafts(conversation, cleaned)

    to_update, to_create = [], []
    origins = _origins(existing, cleaned, drafts)
    for position, (new, origin) in enumerate(zip(cleaned, origins, strict=True)):
        fields = {name: new[name] for name in ("role", "content", *STRUCTURED_PARTS)}
        fields.update(origin)
        message = existing[position] if position < len(existing) else None
        if message is None:
            to_create.append(Message(conversation=conversation, position=position, **fields))
        elif any(getattr(message, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(message, name, value)
            to_update.append(message)
    if len(existing) > len(cleaned):
        conversation.messages.filter(position__gte=len(cleaned)).delete()
    if to_update:
        Message.objects.bulk_update(to_update, list(MESSAGE_FIELDS))
    if to_create:
        Message.objects.bulk_create(to_create)

    now = timezone.now()
    Conversation.objects.filter(pk=conversation.pk).update(version=F("version") + 1, updated_at=now)
    conversation.version += 1
    conversation.updated_at = now
    if kind == REVIEW:
        revision_create(
            conversation=conversation,
            kind=Revision.Kind.REVIEW_EDIT,
            created_by=user,
            reason=reason,
        )
    return conversation


def _refuse_ranking(conversation: Conversation) -> None:
    """A ranking's messages are its prompt: the ranking services change the ranking."""
    if conversation.project.is_ranking:
        raise ConversationError(
            "This is a ranking task: change its ranking, not its messages.", field="messages"
        )


def _originals(message: Message) -> dict:
    return {original: getattr(message, original) for _, original in MODEL_PARTS}


def _origins(
    existing: Sequence[Message], messages: Sequence[Mapping], drafts: Mapping[int, dict]
) -> list[dict]:
    """Origin and model originals of each of `messages` replacing `existing`: a message
    keeps the originals of the stored turn at its place, or takes those of the AI draft
    (`drafts`: draft request id → originals) it names."""
    # Model originals follow their message even when a system message is added or removed.
    originals = [_originals(m) for m in existing if m.role != MessageRole.SYSTEM]
    old_roles = [m.role for m in existing if m.role != MessageRole.SYSTEM]
    origins = []
    turn = 0
    for new in messages:
        original = _NO_ORIGINAL
        if new["role"] != MessageRole.SYSTEM:
            if turn < len(originals) and old_roles[turn] == new["role"]:
                original = originals[turn]
            turn += 1
        if new.get("draft_request") in drafts:
            original = drafts[new["draft_request"]]
        origins.append(_origin(new, original))
    return origins


def typed_messages(*, conversation: Conversation, messages: Sequence[Mapping]) -> list[dict]:
    """`messages` as typed in the editor and not saved yet, with the origin and model originals
    conversation_save will give them, so the live checks and badges match the saved state
    (an AI draft just put in a reply is `model`, before its save lands).

    Each message: `role`, `content`, its structured parts and optionally `draft_request`;
    nothing is validated (the checks name what is wrong). A draft request that is not a
    finished draft of this conversation is ignored here (the save refuses it).
    """
    typed = [{**STRUCTURED_DEFAULTS, **message} for message in messages]
    wanted = {m.get("draft_request") for m in typed}
    drafts = _draft_originals(conversation, {pk for pk in wanted if isinstance(pk, int)})
    existing = list(conversation.messages.all())
    for message, origin in zip(typed, _origins(existing, typed, drafts), strict=True):
        message.pop("draft_request", None)
        message.update(origin)
    return typed


def _origin(new: Mapping, original: Mapping) -> dict:
    """Origin and model originals of an assistant message: `model` while every part the model
    wrote (answer, reasoning, calls) is unchanged, `model_edited` once a human changed one."""
    if new["role"] != MessageRole.ASSISTANT or not any(original.values()):
        return {"origin": MessageOrigin.HUMAN, **_NO_ORIGINAL}
    unchanged = all(new[part] == original[key] for part, key in MODEL_PARTS)
    return {
        "origin": MessageOrigin.MODEL if unchanged else MessageOrigin.MODEL_EDITED,
        **original,
    }


def _check_structure(conversation: Conversation, cleaned: list[dict]) -> None:
    """A reviewer's edit keeps the conversation within contract 6 (it was submitted so)."""
    project = conversation.project
    problems = conversation_problems(
        cleaned, tools=project.tools or [], reasoning_mode=project.reasoning_mode
    )
    if problems:
        first = problems[0]
        raise ConversationError(f"{first.detail}.", field=first.path or None)


def _succeeded_drafts(conversation: Conversation, cleaned: list[dict]) -> dict[int, dict]:
    """Draft request id → the model's parts, as model originals."""
    wanted = {m["draft_request"] for m in cleaned if m["draft_request"] is not None}
    found = _draft_originals(conversation, wanted)
    missing = wanted - set(found)
    if missing:
        first = next(i for i, m in enumerate(cleaned) if m["draft_request"] in missing)
        raise ConversationError(
            f"no finished AI draft {', '.join(map(str, sorted(missing)))} for this conversation.",
            field=f"messages[{first}].draft_request",
        )
    for position, message in enumerate(cleaned):
        if message["draft_request"] is not None and message["role"] != MessageRole.ASSISTANT:
            raise ConversationError(
                "an AI draft goes in an assistant turn.", field=f"messages[{position}]"
            )
    return found


def _draft_originals(conversation: Conversation, wanted: set[int]) -> dict[int, dict]:
    """The finished AI drafts among `wanted` (ids) of this conversation, as model originals."""
    if not wanted:
        return {}
    return {
        pk: {
            "model_original": text,
            "model_original_reasoning": reasoning,
            "model_original_tool_calls": tool_calls,
        }
        for pk, text, reasoning, tool_calls in DraftRequest.objects.filter(
            pk__in=wanted, conversation=conversation, status=DraftRequest.Status.SUCCEEDED
        ).values_list("pk", "text", "reasoning", "tool_calls")
    }


def message_dicts(messages: Sequence[Message]) -> list[dict]:
    """Every stored field of each message, structured parts included (empty where unset)."""
    return [{name: getattr(m, name) for name in MESSAGE_FIELDS} for m in messages]


def conversation_checks(
    *, conversation: Conversation, messages: Sequence[Mapping]
) -> tuple[list[CheckResult], TokenCounts]:
    """Run the quality checks with live token counts; returns (results, token counts)."""
    counts = token_counts(project=conversation.project, messages=messages)
    results = run_checks(
        messages, ConversationRules.for_project(conversation.project), total_tokens=counts.total
    )
    return results, counts


def submitted_mark(*, conversation: Conversation, user: User) -> Revision:
    """The conversation (its row locked by the caller) turns submitted, stamped now, with a
    new version and its SUBMIT revision, which is returned."""
    conversation.state = ConversationState.SUBMITTED
    conversation.submitted_at = timezone.now()
    conversation.version += 1
    conversation.save(update_fields=["state", "submitted_at", "version", "updated_at"])
    return revision_create(conversation=conversation, kind=Revision.Kind.SUBMIT, created_by=user)


@transaction.atomic
def conversation_submit(*, conversation_id: int, user: User, expected_version: int) -> Conversation:
    """Submit a draft (or a conversation returned for changes) for review.

    Runs the quality checks (a blocking one raises `ChecksFailed`), stores an immutable
    revision, completes the assignment and puts the conversation in the review queue.
    """
    # Lock order (labeling.services.assignment): the person and their task first, then the
    # conversation; a skip in another tab takes them in the same order.
    assignment_id = (
        Conversation.objects.filter(pk=conversation_id)
        .values_list("assignment_id", flat=True)
        .get()
    )
    task_lock(user=user, assignment_id=assignment_id)
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("project", "prompt")
        .get(pk=conversation_id)
    )
    _refuse_ranking(conversation)
    if conversation.labeler_id != user.pk:
        raise ConversationError("Only the labeler who wrote this conversation can submit it.")
    if conversation.state not in EDITABLE_STATES:
        raise ConversationError(
            f"This conversation is {conversation.get_state_display().lower()}: "
            "it cannot be submitted."
        )
    if conversation.version != expected_version:
        raise VersionConflict(conversation, expected_version)
    results, _ = conversation_checks(
        conversation=conversation,
        messages=message_dicts(list(conversation.messages.order_by("position"))),
    )
    if blocking_results(results):
        raise ChecksFailed(results)

    before = conversation.state
    submitted_mark(conversation=conversation, user=user)
    now = conversation.submitted_at
    if conversation.assignment_id:
        # The assignment service keeps the prompt's slot count right, even for a lease
        # that expired while the person was still writing.
        task_complete(assignment_id=conversation.assignment_id, now=now)
    # Counts last, after the prompt's row (task_complete): the order a lease takes them in.
    state_count_move(
        conversation=conversation, before=before, after=conversation.state, shard_by=user.pk
    )
    return conversation
