"""Reads for the review queue, the review page, the labeler's feedback and notifications."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import (
    Count,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce, Substr
from django.utils import timezone

from conversations.diffing import edit_ratio, word_diff
from conversations.models import (
    Conversation,
    ConversationState,
    Message,
    MessageOrigin,
    MessageRole,
    Notification,
    Review,
    ReviewClaim,
    ReviewDecision,
    Revision,
)
from core.exceptions import ApplicationError
from core.markdown import render_markdown
from labeling.models import User
from labeling.permissions import covered_conversations_q
from structured_turns.rules import snapshot_read

PROMPT_PREVIEW_CHARS = 120


def reviewer_domain_ids(user: User) -> list[int]:
    return list(user.reviewer_domains.values_list("pk", flat=True))


def _count_of(queryset: QuerySet) -> Coalesce:
    return Coalesce(
        Subquery(
            queryset.order_by().values("conversation_id").annotate(n=Count("pk")).values("n")[:1],
            output_field=IntegerField(),
        ),
        0,
    )


def prompt_preview() -> Substr:
    """The first characters of the first user message: the prompt, also for imported
    conversations that have no Prompt row. Plain text; the template shortens it."""
    first_user_message = Message.objects.filter(
        conversation_id=OuterRef("pk"), role=MessageRole.USER
    ).order_by("position")
    return Substr(Subquery(first_user_message.values("content")[:1]), 1, PROMPT_PREVIEW_CHARS + 1)


def review_queue_base(*, reviewer: User) -> QuerySet[Conversation]:
    """Submitted conversations `reviewer` may review: their domains, never their own, and not
    a revision they already judged."""
    return (
        Conversation.objects.filter(state=ConversationState.SUBMITTED)
        .exclude(labeler_id=reviewer.pk)
        .filter(covered_conversations_q(reviewer_domain_ids(reviewer)))
        .exclude(
            Exists(
                Review.objects.filter(
                    revision_id=OuterRef("current_revision_id"), reviewer_id=reviewer.pk
                )
            )
        )
    )


# The queue's order, oldest submission first; its pages follow by keyset (core.keyset).
QUEUE_ORDERING = ("submitted_at", "pk")


class QueueFilterError(ApplicationError):
    """A queue filter that can never match for this reviewer (a 400, not an empty queue)."""


def review_queue(
    *,
    reviewer: User,
    project_id: int | None = None,
    domain: str | None = None,
    labeler_id: int | None = None,
) -> QuerySet[Conversation]:
    """The queue, oldest submission first, with claim and approval counts per row.

    A `domain` outside the reviewer's domains raises QueueFilterError rather than answer an
    empty queue that looks like "nothing to review".
    """
    if domain:
        mine = list(reviewer.reviewer_domains.values_list("slug", flat=True))
        if domain not in mine:
            raise QueueFilterError(
                f'"{domain}" is not one of your reviewer domains '
                f"({', '.join(mine) or 'you have none'}).",
                field="domain",
            )
    now = timezone.now()
    queue = review_queue_base(reviewer=reviewer)
    if project_id:
        queue = queue.filter(project_id=project_id)
    if domain:
        queue = queue.filter(prompt__domain__slug=domain)
    if labeler_id:
        queue = queue.filter(labeler_id=labeler_id)
    active_claims = ReviewClaim.objects.filter(conversation_id=OuterRef("pk"), expires_at__gt=now)
    return (
        queue.select_related("project", "prompt__domain", "labeler", "current_revision")
        .defer("current_revision__messages")
        .annotate(
            prompt_start=prompt_preview(),
            claimed_by_me=Exists(active_claims.filter(reviewer_id=reviewer.pk)),
            claims_by_others=_count_of(active_claims.exclude(reviewer_id=reviewer.pk)),
            approvals=_count_of(
                Review.objects.filter(
                    conversation_id=OuterRef("pk"),
                    revision_id=OuterRef("current_revision_id"),
                    decision=ReviewDecision.APPROVE,
                )
            ),
        )
        .order_by(*QUEUE_ORDERING)
    )


def review_queue_counts(*, reviewer: User) -> dict:
    """How many conversations wait, per project, domain and labeler (three grouped queries)."""
    base = review_queue_base(reviewer=reviewer).order_by()
    projects = list(
        base.values("project_id", "project__name").annotate(n=Count("pk")).order_by("project__name")
    )
    domains = list(
        base.values("prompt__domain__slug").annotate(n=Count("pk")).order_by("prompt__domain__slug")
    )
    labelers = list(
        base.values("labeler_id", "labeler__username")
        .annotate(n=Count("pk"))
        .order_by("labeler__username")
    )
    return {
        "total": sum(row["n"] for row in projects),
        "projects": [
            {"id": r["project_id"], "name": r["project__name"], "count": r["n"]} for r in projects
        ],
        "domains": [
            {"slug": r["prompt__domain__slug"] or "", "count": r["n"]}
            for r in domains
            if r["prompt__domain__slug"]
        ],
        "labelers": [
            {"id": r["labeler_id"], "username": r["labeler__username"], "count": r["n"]}
            for r in labelers
            if r["labeler_id"]
        ],
    }


def conversation_for_review(*, conversation_id: int) -> Conversation | None:
    return (
        Conversation.objects.select_related(
            "project", "prompt__domain", "labeler", "current_revision"
        )
        .prefetch_related("project__domains")
        .filter(pk=conversation_id)
        .first()
    )


def active_claims(*, conversation: Conversation) -> list[ReviewClaim]:
    return list(
        ReviewClaim.objects.filter(conversation=conversation, expires_at__gt=timezone.now())
        .select_related("reviewer")
        .order_by("claimed_at")
    )


def conversation_reviews(*, conversation: Conversation) -> list[Review]:
    """Every review of the conversation, oldest first, with its reviewer, revision and comments."""
    return list(
        Review.objects.filter(conversation=conversation)
        .select_related("reviewer", "revision")
        .prefetch_related("message_comments")
        .order_by("created_at", "pk")
    )


def conversation_revisions(*, conversation: Conversation) -> list[Revision]:
    return list(
        Revision.objects.filter(conversation=conversation)
        .select_related("created_by")
        .order_by("number")
    )


@dataclass
class ShownMessage:
    position: int
    role: str
    content: str
    origin: str
    html: str
    draft_diff: str | None = None
    draft_edit_ratio: float | None = None
    previous_diff: str | None = None
    changed_since_previous: bool = False
    comments: list = field(default_factory=list)
    # Structured turns (contract 6) and, per part ("reasoning", "tool_calls", "tool_call_id"),
    # the word diffs against the AI draft and the previous revision where they differ.
    reasoning: str = ""
    tool_calls: list = field(default_factory=list)
    tool_call_id: str = ""
    parts_draft_diff: dict = field(default_factory=dict)
    parts_previous_diff: dict = field(default_factory=dict)
    # Each call with its arguments as indented JSON and the tool message answering it.
    calls: list[dict] = field(default_factory=list)
    reasoning_html: str = ""

    @property
    def tool_calls_json(self) -> str:
        return part_text({"tool_calls": self.tool_calls}, "tool_calls")


def part_text(message: dict, part: str) -> str:
    """A part as text to diff and show: calls (the model's original ones too) as indented JSON
    (keys in their order)."""
    value = message[part]
    if part in ("tool_calls", "model_original_tool_calls"):
        return json.dumps(value, indent=2, ensure_ascii=False) if value else ""
    return value


def revision_messages(
    *, revision: Revision, previous: Revision | None = None, reviews: Sequence[Review] = ()
) -> list[ShownMessage]:
    """The revision's messages as the labeler sees them, with diffs (answer and each part)
    against the AI draft and against `previous`, and the message comments of `reviews` that
    judged this revision."""
    earlier = [snapshot_read(m) for m in previous.messages] if previous else []
    shown = []
    for position, snapshot in enumerate(revision.messages):
        message = snapshot_read(snapshot)
        content = message["content"]
        original = message["model_original"]
        item = ShownMessage(
            position=position,
            role=message["role"],
            content=content,
            origin=message["origin"],
            html=render_markdown(content),
            reasoning=message["reasoning"],
            tool_calls=message["tool_calls"],
            tool_call_id=message["tool_call_id"],
            reasoning_html=render_markdown(message["reasoning"]) if message["reasoning"] else "",
        )
        is_model = item.role == MessageRole.ASSISTANT and item.origin != MessageOrigin.HUMAN
        if item.role == MessageRole.ASSISTANT and original:
            item.draft_diff = word_diff(original, content)
            item.draft_edit_ratio = edit_ratio(original, content)
        before = earlier[position] if position < len(earlier) else None
        for part in DIFFED_PARTS:
            text = part_text(message, part)
            if is_model and part in DRAFTED_PARTS:
                draft = part_text(message, f"model_original_{part}")
                if draft != text:
                    item.parts_draft_diff[part] = word_diff(draft, text)
            if previous is not None:
                old = part_text(before, part) if before else ""
                if old != text:
                    item.parts_previous_diff[part] = word_diff(old, text)
        if previous is not None:
            before_content = before["content"] if before else ""
            item.changed_since_previous = before_content != content or bool(
                item.parts_previous_diff
            )
            if before_content != content:
                item.previous_diff = word_diff(before_content, content)
        shown.append(item)
    _pair_calls_with_results(shown)
    # Comments on this revision, and on the one it is compared with (was the fix made?).
    judged = {revision.pk, previous.pk if previous else None}
    for review in reviews:
        if review.revision_id not in judged:
            continue
        for comment in review.message_comments.all():
            if comment.message_position < len(shown):
                shown[comment.message_position].comments.append((review, comment))
    return shown


def _pair_calls_with_results(shown: list[ShownMessage]) -> None:
    """Each assistant call beside the tool message that answers it (results follow the call)."""
    for item in shown:
        results: dict[str, ShownMessage] = {}
        for later in shown[item.position + 1 :]:
            if later.role != MessageRole.TOOL:
                break
            results.setdefault(later.tool_call_id, later)
        for call in item.tool_calls:
            answer = results.get(call["id"])
            item.calls.append(
                {
                    "id": call["id"],
                    "name": call["function"]["name"],
                    "arguments": json.dumps(
                        call["function"]["arguments"], indent=2, ensure_ascii=False
                    ),
                    "result": answer.content if answer else None,
                    "result_position": answer.position if answer else None,
                }
            )


DIFFED_PARTS = ("reasoning", "tool_calls", "tool_call_id")
# The parts an AI draft writes (kept as model_original_*).
DRAFTED_PARTS = ("reasoning", "tool_calls")


def conversation_feedback(*, conversation: Conversation) -> list[dict]:
    """Each review of the conversation, newest first, with its comments beside the messages
    they point at (quoted from the revision that review judged)."""
    feedback = []
    for review in reversed(conversation_reviews(conversation=conversation)):
        messages = review.revision.messages
        feedback.append(
            {
                "review": review,
                "comments": [
                    {
                        "position": comment.message_position,
                        # One numbering everywhere: the position in the conversation, from 1.
                        "number": comment.message_position + 1,
                        "role": messages[comment.message_position].get("role", "")
                        if comment.message_position < len(messages)
                        else "",
                        "excerpt": (messages[comment.message_position].get("content", "")[:160])
                        if comment.message_position < len(messages)
                        else "",
                        "text": comment.text,
                    }
                    for comment in review.message_comments.all()
                ],
            }
        )
    return feedback


def review_outcomes_for_labeler(user: User, *, limit: int = 20) -> list[Conversation]:
    """The labeler's reviewed conversations, returned ones first, then by latest review.

    Each has `.latest_review` (with `.message_comments` prefetched) for the home page.
    """
    conversations: list[Conversation] = list(
        Conversation.objects.filter(labeler=user, reviews__isnull=False)
        .annotate(last_review_at=Max("reviews__created_at"))
        .select_related("project", "prompt")
        .prefetch_related(
            Prefetch(
                "reviews",
                queryset=Review.objects.select_related("reviewer")
                .prefetch_related("message_comments")
                .order_by("-created_at", "-pk"),
            )
        )
        .order_by("-last_review_at")[:limit]
    )
    for conversation in conversations:
        reviews = list(conversation.reviews.all())
        # An attribute for the home page's template, not a model field.
        conversation.latest_review = reviews[0] if reviews else None  # type: ignore[attr-defined]
    conversations.sort(key=lambda c: c.state != ConversationState.CHANGES_REQUESTED)
    return conversations


def notification_list(*, user: User, limit: int = 100) -> list[Notification]:
    return list(Notification.objects.filter(user=user).order_by("-created_at", "-pk")[:limit])


def unread_notification_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
