"""Review screens: the queue, the review page, the labeler's feedback, notifications, quality."""

import json
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from conversations.access import conversation_to_review, raise_review_refusal
from conversations.forms import ReviewQueueFilterForm
from conversations.models import (
    ConversationState,
    MessageOrigin,
    MessageRole,
    Notification,
    ReviewDecision,
)
from conversations.selectors import review as selectors
from conversations.selectors import stats
from conversations.selectors.ranking import ranking_agreement, ranking_projects_exist
from conversations.services import (
    ClaimUnavailable,
    ReviewError,
    VersionConflict,
    notifications_mark_read,
    review_claim,
    review_claim_next,
    review_edit,
    review_release,
    review_submit,
)
from conversations.services.review import rubric_criteria, rubric_entries
from core.keyset import CursorError, keyset_page
from labeling import permissions
from labeling.models import Project, User
from labeling.permissions import REVIEWER, member_required, role_required

QUEUE_PAGE_SIZE = 50


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _without_cursor(request) -> str:
    """The page's query string without its cursor: the filters a page link keeps."""
    query = request.GET.copy()
    query.pop("cursor", None)
    return query.urlencode()


@role_required(REVIEWER)
@require_GET
def review_queue(request):
    form = ReviewQueueFilterForm(request.GET)
    valid = form.is_valid()
    filters: dict[str, Any] = {
        "project_id": form.cleaned_data.get("project"),
        "domain": form.cleaned_data.get("domain") or None,
        "labeler_id": form.cleaned_data.get("labeler"),
    }
    queue, filter_error = None, form.first_error()
    if valid:
        try:
            queue = keyset_page(
                selectors.review_queue(reviewer=request.user, **filters),
                ordering=selectors.QUEUE_ORDERING,
                cursor=form.cleaned_data["cursor"],
                size=QUEUE_PAGE_SIZE,
            )
        except selectors.QueueFilterError as error:
            filter_error = f"Domain filter: {error.message}"
        except CursorError as error:
            filter_error = f"Page: {error.message}"
    context = {
        "queue": queue,
        "filter_error": filter_error,
        "counts": selectors.review_queue_counts(reviewer=request.user),
        "filters": filters,
        "page_size": QUEUE_PAGE_SIZE,
        "query": _without_cursor(request),
    }
    template = "conversations/review_queue.html"
    if request.htmx:
        template += "#queue-table"
    return render(request, template, context)


def _review_context(request, conversation, *, against: int | None = None, **extra) -> dict:
    revisions = selectors.conversation_revisions(conversation=conversation)
    reviews = selectors.conversation_reviews(conversation=conversation)
    current = conversation.current_revision
    by_number = {revision.number: revision for revision in revisions}
    if against is None and current is not None:
        against = current.number - 1
    previous = (
        by_number.get(against)
        if current and against is not None and against != current.number
        else None
    )
    shown = (
        selectors.revision_messages(revision=current, previous=previous, reviews=reviews)
        if current
        else []
    )
    claims = selectors.active_claims(conversation=conversation)
    my_review = next(
        (
            r
            for r in reviews
            if r.reviewer_id == request.user.pk and current and r.revision_id == current.pk
        ),
        None,
    )
    return {
        "conversation": conversation,
        "revisions": revisions,
        "reviews": reviews,
        "current": current,
        "previous": previous,
        "messages_shown": shown,
        "rubric": rubric_entries(conversation.project),
        "score_choices": range(1, 6),
        "claims": claims,
        "my_claim": next((c for c in claims if c.reviewer_id == request.user.pk), None),
        "others_claims": [c for c in claims if c.reviewer_id != request.user.pk],
        "my_review": my_review,
        "can_decide": conversation.state == ConversationState.SUBMITTED and my_review is None,
        "approvals": sum(
            1
            for r in reviews
            if current and r.revision_id == current.pk and r.decision == ReviewDecision.APPROVE
        ),
        # The enums the template compares with, so it never retypes their values.
        "decisions": ReviewDecision,
        "states": ConversationState,
        "origins": MessageOrigin,
        "roles": MessageRole,
        "form": {},
        "missing_scores": [],
        **extra,
    }


@role_required(REVIEWER)
@require_GET
def review_page(request, conversation_id: int):
    conversation = conversation_to_review(request.user, conversation_id)
    if conversation.project.is_ranking:
        return redirect("conversations:ranking-review", conversation.pk)
    context = _review_context(
        request, conversation, against=_int_or_none(request.GET.get("against"))
    )
    return render(request, "conversations/review.html", context)


@role_required(REVIEWER)
@require_POST
def review_claim_view(request, conversation_id: int):
    conversation = conversation_to_review(request.user, conversation_id)
    try:
        review_claim(conversation_id=conversation.pk, reviewer=request.user)
    except (ClaimUnavailable, ReviewError) as error:
        messages.error(request, str(error))
        return redirect("conversations:review-queue")
    return redirect("conversations:review", conversation.pk)


@role_required(REVIEWER)
@require_POST
def review_release_view(request, conversation_id: int):
    conversation = conversation_to_review(request.user, conversation_id)
    review_release(conversation_id=conversation.pk, reviewer=request.user)
    messages.success(request, f"Conversation #{conversation.pk} is back in the queue.")
    return redirect("conversations:review-queue")


def judged_revision(post) -> int:
    """The revision number the decision form names (the page sends the one it showed).
    Without it a decision would land on whatever revision is current by then, one the
    reviewer may never have seen: refused, as the API refuses it."""
    revision = _int_or_none(post.get("revision"))
    if revision is None:
        raise ReviewError(
            "The decision names no revision: reload the page and decide on the revision it "
            "shows. Nothing was recorded."
        )
    return revision


def _decision_form(post, criteria: list[str], message_count: int) -> dict:
    return {
        "decision": post.get("decision", ""),
        "comment": post.get("comment", ""),
        "scores": {name: post.get(f"score-{name}", "") for name in criteria},
        "message_comments": [
            {
                "position": position,
                "text": post.get(f"message-comment-{position}", ""),
                "part": post.get(f"message-comment-part-{position}", ""),
            }
            for position in range(message_count)
            if post.get(f"message-comment-{position}", "").strip()
        ],
        "revision": _int_or_none(post.get("revision")),
    }


@role_required(REVIEWER)
@require_POST
def review_decide(request, conversation_id: int):
    conversation = conversation_to_review(request.user, conversation_id)
    count = len(conversation.current_revision.messages) if conversation.current_revision else 0
    form = _decision_form(request.POST, rubric_criteria(conversation.project), count)
    try:
        review = review_submit(
            conversation_id=conversation.pk,
            reviewer=request.user,
            decision=form["decision"],
            scores={k: v for k, v in form["scores"].items() if v},
            comment=form["comment"],
            message_comments=form["message_comments"],
            revision_number=judged_revision(request.POST),
        )
    except ReviewError as error:
        raise_review_refusal(error)
        conversation = conversation_to_review(request.user, conversation_id)
        context = _review_context(
            request,
            conversation,
            error=str(error),
            form=form,
            missing_scores=error.extra.get("missing_scores", []),
        )
        status = 409 if isinstance(error, ClaimUnavailable) else 400
        return render(request, "conversations/review.html", context, status=status)
    conversation.refresh_from_db(fields=["state"])
    messages.success(
        request,
        f"{review.get_decision_display()} recorded for conversation #{conversation.pk} "
        f"— it is now {conversation.get_state_display().lower()}.",
    )
    # Straight on to the next conversation; the queue page says when nothing is left.
    next_id = review_claim_next(reviewer=request.user)
    if next_id is None:
        return redirect("conversations:review-queue")
    return redirect("conversations:review", next_id)


def _edited_parts(post) -> dict:
    """The structured parts the edit form sent (only those its message has)."""
    parts = {key: post[key] for key in ("reasoning", "tool_call_id") if key in post}
    if "tool_calls" in post:
        try:
            parts["tool_calls"] = json.loads(post["tool_calls"] or "[]")
        except ValueError as error:
            raise ReviewError(f"not valid JSON ({error}).", field="tool_calls") from None
    return parts


@role_required(REVIEWER)
@require_POST
def review_edit_view(request, conversation_id: int):
    conversation = conversation_to_review(request.user, conversation_id)
    position = _int_or_none(request.POST.get("position"))
    content = request.POST.get("content", "")
    try:
        review_edit(
            conversation_id=conversation.pk,
            reviewer=request.user,
            expected_version=_int_or_none(request.POST.get("expected_version")) or 0,
            messages=[{"position": position, "content": content, **_edited_parts(request.POST)}],
            reason=request.POST.get("reason", ""),
        )
    except VersionConflict:
        conversation = conversation_to_review(request.user, conversation_id)
        theirs = (
            conversation.messages.filter(position=position).first()
            if position is not None
            else None
        )
        context = _review_context(
            request,
            conversation,
            conflict={
                "position": position,
                "yours": content,
                "theirs": theirs.content if theirs else "",
            },
        )
        return render(request, "conversations/review.html", context, status=409)
    except ReviewError as error:
        raise_review_refusal(error)
        conversation = conversation_to_review(request.user, conversation_id)
        context = _review_context(request, conversation, error=str(error))
        return render(request, "conversations/review.html", context, status=400)
    number = (position or 0) + 1  # as the page numbers messages: from 1
    messages.success(request, f"Saved your edit of message {number} as a new revision.")
    return HttpResponseRedirect(
        reverse("conversations:review", args=[conversation.pk]) + f"#message-{position}"
    )


# The labeler's side ----------------------------------------------------------------


@member_required
@require_GET
def review_feedback(request, conversation_id: int):
    """The outcome and comments of every review of one conversation (its labeler, admins,
    and reviewers who may review it)."""
    conversation = selectors.conversation_for_review(conversation_id=conversation_id)
    if conversation is None or not permissions.can_view_conversation_history(
        request.user, conversation
    ):
        raise Http404("No such conversation.")
    context = {
        "conversation": conversation,
        "feedback": selectors.conversation_feedback(conversation=conversation),
    }
    template = "conversations/review_feedback_page.html"
    if request.htmx:
        template = "conversations/review_feedback.html"
    return render(request, template, context)


@member_required
@require_GET
def notification_list(request):
    return render(
        request,
        "conversations/notifications.html",
        {"notifications": selectors.notification_list(user=request.user)},
    )


@member_required
@require_POST
def notification_open(request, notification_id: int):
    notification = get_object_or_404(Notification, pk=notification_id, user=request.user)
    notifications_mark_read(user=request.user, notification_ids=[notification.pk])
    target = notification.url
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(target)
    return redirect("conversations:notifications")


@member_required
@require_POST
def notifications_read_all(request):
    count = notifications_mark_read(user=request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    return redirect("conversations:notifications")


# Quality figures -------------------------------------------------------------------


@member_required
@require_GET
def quality(request):
    if not permissions.can_view_all_quality(request.user):
        return redirect("conversations:quality-person", request.user.pk)
    project_id = _int_or_none(request.GET.get("project"))
    figures = stats.quality_figures(project_id=project_id)
    return render(
        request,
        "conversations/quality.html",
        {
            "figures": figures,
            "person": None,
            "project_id": project_id,
            "ranking_agreement": ranking_agreement(project_id=project_id)
            if ranking_projects_exist()
            else None,
            "projects": Project.objects.order_by("name").only("pk", "name"),
        },
    )


@member_required
@require_GET
def quality_person(request, user_id: int):
    person = get_object_or_404(User, pk=user_id)
    if not permissions.can_view_quality(request.user, person):
        raise Http404("No such person.")
    figures = stats.quality_figures(person_id=person.pk)
    return render(
        request,
        "conversations/quality.html",
        {"figures": figures, "person": person, "project_id": None},
    )
