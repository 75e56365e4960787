"""Reviewing: claims on the queue, decisions, reviewer edits and the approval policy.

Policy, in one place:
- a conversation is approved when `project.approvals_needed` distinct reviewers approved
  the same revision, and that revision is `conversation.current_revision` (what exports read);
- a request for changes sends it back to its labeler; a rejection is final;
- a reviewer's edit is a new revision that becomes current, so approvals of older
  revisions stop counting;
- every decision is a Review row and every edit a Revision row: the audit trail.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from conversations.models import (
    Conversation,
    ConversationState,
    Review,
    ReviewClaim,
    ReviewComment,
    ReviewDecision,
    Revision,
)
from conversations.selectors.review import review_queue_base
from labeling import permissions
from labeling.models import Project, User
from labeling.services.projects import rubric_label_default, rubric_normalized
from structured_turns.rules import is_empty_turn, snapshot_read

from .authoring import REVIEW as REVIEW_SAVE
from .authoring import (
    STRUCTURED_PARTS,
    ConversationError,
    VersionConflict,
    conversation_save,
    message_dicts,
)
from .notifications import notification_create

CLAIM_LENGTH = timedelta(minutes=30)
# How many queue entries the reviewer's "next" tries before sending them to the queue page.
NEXT_CANDIDATES = 20
EDITABLE_PARTS = ("content", *STRUCTURED_PARTS)
SCORE_RANGE = range(1, 6)


class ReviewError(ConversationError):
    """A review action the rules do not allow; the message says why."""


class SelfReviewError(ReviewError):
    """Nobody reviews their own conversation, whatever roles they hold."""


class NotReviewable(ReviewError):
    """Not a conversation this person may review (role or domains): shown as not found."""


class ClaimUnavailable(ReviewError):
    """Other reviewers already hold every claim this conversation still needs."""


class StaleRevision(ReviewError):
    """The conversation was edited after the reviewer loaded it: the decision is not recorded."""


def rubric_entries(project: Project) -> list[dict[str, str]]:
    """The project's rubric as {"name", "label", "description"} (a rubric saved before labels
    existed, as bare names, gets each name's default label)."""
    entries: list[dict[str, str]] = []
    for criterion in rubric_normalized(project.rubric or []) or []:
        names = [entry["name"] for entry in entries]
        if isinstance(criterion, dict) and criterion["name"] and criterion["name"] not in names:
            entries.append(criterion)
    return entries


def review_scores_labeled(*, project: Project, scores: Mapping[str, object]) -> list[dict]:
    """A review's scores for reading, as {"name", "label", "score"}: in the rubric's order under
    each criterion's label, then any score whose criterion has left the rubric (a review kept
    from before it changed) under its name made readable (`Code_quality` -> "Code quality")."""
    labels = {entry["name"]: entry["label"] for entry in rubric_entries(project)}
    known = [name for name in labels if name in scores]
    gone = [name for name in scores if name not in labels]
    return [
        {
            "name": name,
            "label": labels.get(name) or rubric_label_default(name),
            "score": scores[name],
        }
        for name in known + gone
    ]


def rubric_criteria(project: Project) -> list[str]:
    """The project's rubric criterion names: the keys of a review's scores."""
    return [entry["name"] for entry in rubric_entries(project)]


def _lock_for_review(*, conversation_id: int, reviewer: User) -> Conversation:
    """Lock the conversation row and check the reviewer may act on it and it awaits review."""
    try:
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise NotReviewable("No such conversation.") from None
    if permissions.is_self_review(reviewer, conversation):
        raise SelfReviewError("You wrote this conversation, so someone else has to review it.")
    if not permissions.can_review_conversation(reviewer, conversation):
        raise NotReviewable("No such conversation in your review domains.")
    if conversation.state != ConversationState.SUBMITTED:
        raise ReviewError(
            f"This conversation is {conversation.get_state_display().lower()}, "
            "not waiting for review."
        )
    return conversation


def _current_revision_id(conversation: Conversation) -> int:
    # Submitting or importing records a revision: a conversation in review has one.
    assert conversation.current_revision_id is not None
    return conversation.current_revision_id


def _current_approver_ids(conversation: Conversation) -> set[int]:
    return set(
        Review.objects.filter(
            revision_id=_current_revision_id(conversation), decision=ReviewDecision.APPROVE
        ).values_list("reviewer_id", flat=True)
    )


def _claim_locked(*, conversation: Conversation, reviewer: User, now: datetime) -> ReviewClaim:
    """Give `reviewer` (or extend) a claim. Caller holds the conversation's row lock.

    One claim at a time when one approval is enough; with more, up to the number of
    approvals still missing, each by a different person.
    """
    if Review.objects.filter(
        revision_id=_current_revision_id(conversation), reviewer=reviewer
    ).exists():
        raise ReviewError("You already reviewed this revision; it is waiting for another reviewer.")
    approvals_needed = max(conversation.project.approvals_needed, 1)
    still_needed = max(approvals_needed - len(_current_approver_ids(conversation)), 1)
    ReviewClaim.objects.filter(conversation=conversation, expires_at__lte=now).delete()
    claims = list(ReviewClaim.objects.filter(conversation=conversation).select_related("reviewer"))
    mine = next((claim for claim in claims if claim.reviewer_id == reviewer.pk), None)
    others = [claim for claim in claims if claim.reviewer_id != reviewer.pk]
    if mine is None and len(others) >= still_needed:
        holders = ", ".join(claim.reviewer.get_username() for claim in others)
        until = min(claim.expires_at for claim in others)
        raise ClaimUnavailable(
            f"{holders} {'is' if len(others) == 1 else 'are'} reviewing this conversation "
            f"(claim ends {timezone.localtime(until):%H:%M})."
        )
    if mine is not None:
        mine.expires_at = now + CLAIM_LENGTH
        mine.save(update_fields=["expires_at"])
        return mine
    return ReviewClaim.objects.create(
        conversation=conversation, reviewer=reviewer, expires_at=now + CLAIM_LENGTH
    )


@transaction.atomic
def review_claim(*, conversation_id: int, reviewer: User) -> ReviewClaim:
    """Take a conversation from the queue for `CLAIM_LENGTH` (again: extend the claim).

    Race-safe: the conversation row is locked while claims are counted and written.
    """
    conversation = _lock_for_review(conversation_id=conversation_id, reviewer=reviewer)
    return _claim_locked(conversation=conversation, reviewer=reviewer, now=timezone.now())


def review_claim_next(*, reviewer: User) -> int | None:
    """Claim the next conversation of the reviewer's queue (the flow after a decision) and
    return its id, or None when nothing is left that they may take.

    One they already hold comes first, then the oldest submission; one that others hold
    every claim of is passed over. Each try is `review_claim` in its own savepoint.
    """
    mine = ReviewClaim.objects.filter(
        conversation_id=OuterRef("pk"), reviewer_id=reviewer.pk, expires_at__gt=timezone.now()
    )
    candidates = list(
        review_queue_base(reviewer=reviewer)
        .annotate(held=Exists(mine))
        .order_by("-held", "submitted_at", "pk")
        .values_list("pk", flat=True)[:NEXT_CANDIDATES]
    )
    for conversation_id in candidates:
        try:
            review_claim(conversation_id=conversation_id, reviewer=reviewer)
        except ReviewError:  # taken by others meanwhile, or decided since the query
            continue
        return conversation_id
    return None


@transaction.atomic
def review_release(*, conversation_id: int, reviewer: User) -> None:
    """Give a claimed conversation back to the queue."""
    ReviewClaim.objects.filter(conversation_id=conversation_id, reviewer=reviewer).delete()


def _clean_scores(project: Project, scores: dict | None, *, required: bool) -> dict[str, int]:
    criteria = rubric_criteria(project)
    scores = scores or {}
    if not isinstance(scores, dict):
        raise ReviewError("Scores must be an object of criterion → score from 1 to 5.")
    unknown = sorted(set(scores) - set(criteria))
    if unknown:
        raise ReviewError(
            f"Unknown rubric criteria: {', '.join(unknown)}. "
            f"This project scores: {', '.join(criteria)}."
        )
    missing = [name for name in criteria if scores.get(name) in (None, "")]
    if required and missing:
        labels = {entry["name"]: entry["label"] for entry in rubric_entries(project)}
        raise ReviewError(
            f"Score missing: {', '.join(labels[name] for name in missing)}. "
            "Score every criterion from 1 to 5 before approving.",
            extra={"missing_scores": missing},
        )
    cleaned = {}
    for name in criteria:
        value = scores.get(name)
        if value in (None, ""):
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ReviewError(f"Score {name} must be a whole number from 1 to 5.") from None
        if number not in SCORE_RANGE or str(number) != str(value).strip():
            raise ReviewError(f"Score {name} must be a whole number from 1 to 5, not {value!r}.")
        cleaned[name] = number
    return cleaned


def _comment_part(message: dict, part: object) -> str:
    """The part a comment points at, checked against the message it is on ("" = whole)."""
    if part in (None, "", "content"):
        return part or ""
    message = snapshot_read(message)
    call_ids = [call.get("id") for call in message["tool_calls"]]
    if part == "reasoning" and message["reasoning"]:
        return part
    if part == "result" and message["role"] == "tool":
        return part
    if isinstance(part, str) and part.startswith("tool_call:") and part[10:] in call_ids:
        return part
    choices = ["content"] + (["reasoning"] if message["reasoning"] else [])
    choices += [f"tool_call:{call_id}" for call_id in call_ids]
    choices += ["result"] if message["role"] == "tool" else []
    raise ReviewError(f"part {part!r}: this message has {', '.join(choices)}.")


def _clean_message_comments(
    revision: Revision, message_comments: list[dict] | None
) -> list[tuple[int, str, str]]:
    cleaned = []
    count = len(revision.messages)
    for index, item in enumerate(message_comments or []):
        try:
            position = int(item["position"])
            text = str(item.get("text", "")).strip()
        except (KeyError, TypeError, ValueError):
            raise ReviewError(
                f"Message comment {index + 1} needs a whole-number position and a text."
            ) from None
        if not 0 <= position < count:
            raise ReviewError(
                f"Message comment {index + 1} points at message {position}; "
                f"this revision has messages 0 to {count - 1}."
            )
        try:
            part = _comment_part(revision.messages[position], item.get("part"))
        except ReviewError as error:
            raise ReviewError(f"Message comment {index + 1}: {error}") from None
        if text:
            cleaned.append((position, part, text))
    return cleaned


def _feedback_url(conversation: Conversation) -> str:
    return reverse("conversations:review-feedback", args=[conversation.pk])


@transaction.atomic
def review_submit(
    *,
    conversation_id: int,
    reviewer: User,
    decision: str,
    scores: dict | None = None,
    comment: str = "",
    message_comments: list[dict] | None = None,
    revision_number: int | None = None,
) -> Review:
    """Record a reviewer's decision on the current revision and apply the approval policy.

    `revision_number`, when given, is the revision the reviewer looked at: if someone edited
    the conversation since, nothing is recorded (StaleRevision). `message_comments` are
    `{"position", "text"}` and optionally `"part"`: "content", "reasoning",
    "tool_call:<call id>" or "result" (checked against that message).
    """
    if decision not in ReviewDecision.values:
        raise ReviewError(
            f"Unknown decision {decision!r}: use one of {', '.join(ReviewDecision.values)}."
        )
    conversation = _lock_for_review(conversation_id=conversation_id, reviewer=reviewer)
    revision = Revision.objects.get(pk=_current_revision_id(conversation))
    if revision_number is not None and int(revision_number) != revision.number:
        raise StaleRevision(
            f"You reviewed revision {revision_number}, but revision {revision.number} is now "
            "current (someone edited it). Reload to see the changes; nothing was recorded."
        )
    now = timezone.now()
    _claim_locked(conversation=conversation, reviewer=reviewer, now=now)
    project = conversation.project
    cleaned_scores = _clean_scores(project, scores, required=decision == ReviewDecision.APPROVE)
    cleaned_comments = _clean_message_comments(revision, message_comments)
    comment = (comment or "").strip()
    if decision == ReviewDecision.REJECT and not comment:
        raise ReviewError("Give the reason for rejecting in the comment.")
    if decision == ReviewDecision.REQUEST_CHANGES and not (comment or cleaned_comments):
        raise ReviewError("Say what to change: a comment on the whole or on a message.")

    review = Review.objects.create(
        conversation=conversation,
        revision=revision,
        reviewer=reviewer,
        decision=decision,
        scores=cleaned_scores,
        comment=comment,
    )
    ReviewComment.objects.bulk_create(
        ReviewComment(review=review, message_position=position, part=part, text=text)
        for position, part, text in cleaned_comments
    )
    _apply_policy(conversation=conversation, review=review, reviewer=reviewer, now=now)
    return review


def _apply_policy(
    *, conversation: Conversation, review: Review, reviewer: User, now: datetime
) -> None:
    """Move the conversation on after `review`. Caller holds the row lock."""
    name = reviewer.get_username()
    labeler = conversation.labeler
    if review.decision == ReviewDecision.APPROVE:
        approvals = len(_current_approver_ids(conversation))
        needed = max(conversation.project.approvals_needed, 1)
        ReviewClaim.objects.filter(conversation=conversation, reviewer=reviewer).delete()
        if approvals < needed:
            return
        conversation.state = ConversationState.APPROVED
        text = f"Conversation #{conversation.pk} was approved."
    elif review.decision == ReviewDecision.REQUEST_CHANGES:
        conversation.state = ConversationState.CHANGES_REQUESTED
        text = f"{name} asked for changes to conversation #{conversation.pk}."
    else:
        conversation.state = ConversationState.REJECTED
        text = f"{name} rejected conversation #{conversation.pk}."
    if conversation.state != ConversationState.CHANGES_REQUESTED:
        conversation.decided_at = now
    # A new version: a tab opened before the decision cannot overwrite what follows it.
    conversation.version += 1
    conversation.save(update_fields=["state", "decided_at", "version", "updated_at"])
    ReviewClaim.objects.filter(conversation=conversation).delete()
    if labeler is not None:
        notification_create(
            user=labeler, text=text, url=_feedback_url(conversation), conversation=conversation
        )


@transaction.atomic
def review_edit(
    *,
    conversation_id: int,
    reviewer: User,
    expected_version: int,
    messages: list[dict],
    reason: str = "",
) -> Revision:
    """A reviewer's correction: new message parts become a new current revision.

    `messages` is [{"position", and any of "content", "reasoning", "tool_calls",
    "tool_call_id"}] for the messages that change; the result passes the same shape
    checks as the editor's save and keeps every contract-6 rule. Raises
    VersionConflict (nothing written) when the conversation moved past `expected_version`.
    """
    conversation = _lock_for_review(conversation_id=conversation_id, reviewer=reviewer)
    _claim_locked(conversation=conversation, reviewer=reviewer, now=timezone.now())
    if conversation.version != int(expected_version):
        raise VersionConflict(conversation, int(expected_version))
    stored = message_dicts(list(conversation.messages.order_by("position")))
    edited = [dict(m) for m in stored]
    for index, item in enumerate(messages or []):
        try:
            position = int(item["position"])
        except (KeyError, TypeError, ValueError):
            raise ReviewError(f"Edit {index + 1} needs a whole-number position.") from None
        if not 0 <= position < len(stored):
            raise ReviewError(f"Edit {index + 1}: there is no message at position {position}.")
        parts = {part: item[part] for part in EDITABLE_PARTS if part in item}
        if not parts:
            raise ReviewError(
                f"Edit {index + 1} needs a content (or reasoning, tool_calls, tool_call_id)."
            )
        if "content" in parts and not isinstance(parts["content"], str):
            raise ReviewError(f"Edit {index + 1}: content must be text.")
        edited[position].update(parts)
        if is_empty_turn(edited[position]):
            raise ReviewError(f"Message {position} cannot be empty.")
    # The editor's save service: same shape checks, versioning, origin bookkeeping and
    # review-edit revision; it also keeps every contract-6 rule.
    try:
        conversation = conversation_save(
            conversation_id=conversation.pk,
            user=reviewer,
            expected_version=int(expected_version),
            messages=[
                {"role": m["role"], "content": m["content"], **{p: m[p] for p in STRUCTURED_PARTS}}
                for m in edited
            ],
            kind=REVIEW_SAVE,
            reason=(reason or "").strip(),
        )
    except VersionConflict:
        raise
    except ConversationError as error:
        raise ReviewError(str(error)) from None
    # Compared once cleaned (arguments sent as a JSON string equal the stored object);
    # raising here rolls the save back with this transaction.
    if message_dicts(list(conversation.messages.order_by("position"))) == stored:
        raise ReviewError("Nothing changed: edit a message before saving.")
    conversation.refresh_from_db(fields=["current_revision", "version"])
    revision = conversation.current_revision
    assert revision is not None  # conversation_save just recorded it
    if conversation.labeler is not None:
        notification_create(
            user=conversation.labeler,
            text=f"{reviewer.get_username()} edited conversation #{conversation.pk} in review.",
            url=_feedback_url(conversation),
            conversation=conversation,
        )
    return revision
