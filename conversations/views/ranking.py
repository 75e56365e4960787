"""Ranking tasks in the browser: the labeler's page and submit, the reviewer's page, reorder
and decision. Autosave goes through the JSON API (`PATCH /api/rankings/<id>/`); every view
here asks labeling.permissions (through conversations.access) before anything else."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from conversations.access import conversation_to_review, own_conversation, raise_review_refusal
from conversations.models import CandidateFlag, Conversation, ConversationState, ReviewDecision
from conversations.selectors import review as review_selectors
from conversations.selectors.editor import current_guidelines, latest_change_request
from conversations.selectors.ranking import candidates_by_id, ranking_cards, ranking_conversation
from conversations.services import ClaimUnavailable, ReviewError, VersionConflict, review_submit
from conversations.services.authoring import EDITABLE_STATES
from conversations.services.candidates import CandidatesError, candidates_generate_start
from conversations.services.ranking import (
    RankingError,
    order_from_ranks,
    ranking_review_reorder,
    ranking_save,
    ranking_submit,
)
from conversations.services.review import rubric_criteria, rubric_entries
from conversations.views.review import judged_revision
from core.jobs import QueueUnavailable
from labeling.models import Project
from labeling.permissions import ADMIN, REVIEWER, member_required, role_required

LABELER_TEMPLATE = "conversations/ranking.html"
REVIEW_TEMPLATE = "conversations/ranking_review.html"


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def posted_order(post: QueryDict, conversation: Conversation) -> list[list[int]]:
    """The order the page's rank selects sent (`rank-<candidate id>` = 1..6, blank = not
    ranked yet); a value that is no number counts as not ranked."""
    ranks = {}
    for candidate_id in candidates_by_id(conversation):
        rank = _int_or_none(post.get(f"rank-{candidate_id}", ""))
        if rank is not None and rank > 0:
            ranks[candidate_id] = rank
    return order_from_ranks(ranks)


def posted_flags(post: QueryDict, conversation: Conversation) -> dict[str, list[str]]:
    return {
        str(candidate_id): post.getlist(f"flag-{candidate_id}")
        for candidate_id in candidates_by_id(conversation)
        if post.getlist(f"flag-{candidate_id}")
    }


def _board_context(conversation: Conversation, *, shown: str) -> dict:
    cards = ranking_cards(conversation, shown=shown)
    return {
        "conversation": conversation,
        "project": conversation.project,
        "ranking": conversation.ranking,
        "prompt_messages": list(conversation.messages.all()),
        "cards": cards,
        "rank_choices": range(1, len(cards) + 1),
        "flag_choices": CandidateFlag.choices,
    }


# The labeler -------------------------------------------------------------------------


@member_required
@require_GET
def ranking_page(request, conversation_id: int) -> HttpResponse:
    conversation = own_conversation(request.user, ranking_conversation(conversation_id))
    project = conversation.project
    return render(
        request,
        LABELER_TEMPLATE,
        {
            **_board_context(conversation, shown="presented"),
            "editable": conversation.state in EDITABLE_STATES,
            "change_request": latest_change_request(conversation),
            "guidelines": current_guidelines(project),
            "lease": conversation.assignment
            if conversation.state == ConversationState.DRAFT
            else None,
        },
    )


@member_required
@require_POST
def ranking_submit_view(request, conversation_id: int) -> HttpResponse:
    """Save what the form holds (the last keystrokes may not have autosaved), then submit."""
    conversation = own_conversation(request.user, ranking_conversation(conversation_id))
    version = _int_or_none(request.POST.get("version", ""))
    if version is None:
        flash.error(request, "The page did not send the version it edited: reload and try again.")
        return redirect("conversations:ranking", conversation.pk)
    try:
        ranking_save(
            conversation_id=conversation.pk,
            user=request.user,
            expected_version=version,
            order=posted_order(request.POST, conversation),
            flags=posted_flags(request.POST, conversation),
            comment=request.POST.get("comment", ""),
            better_reply=request.POST.get("better_reply", ""),
        )
        ranking_submit(
            conversation_id=conversation.pk, user=request.user, expected_version=version + 1
        )
    except VersionConflict as error:
        flash.error(request, f"{error} Reload to see the saved ranking.")
        return redirect("conversations:ranking", conversation.pk)
    except RankingError as error:
        flash.error(request, str(error))
        return redirect("conversations:ranking", conversation.pk)
    flash.success(request, "Ranking submitted for review. Thank you!")
    return redirect("conversations:labeler-home")


# The reviewer ------------------------------------------------------------------------


def _review_context(request, conversation: Conversation, **extra) -> dict:
    reviews = review_selectors.conversation_reviews(conversation=conversation)
    current = conversation.current_revision
    my_review = (
        next(
            (
                r
                for r in reviews
                if r.reviewer_id == request.user.pk and r.revision_id == current.pk
            ),
            None,
        )
        if current
        else None
    )
    claims = review_selectors.active_claims(conversation=conversation)
    return {
        **_board_context(conversation, shown="ranked"),
        "current": current,
        "reviews": reviews,
        "labeler_order": conversation.ranking.labeler_order,
        "reordered": conversation.ranking.order != conversation.ranking.labeler_order,
        "rubric": rubric_entries(conversation.project),
        "score_choices": range(1, 6),
        "my_claim": next((c for c in claims if c.reviewer_id == request.user.pk), None),
        "my_review": my_review,
        "can_decide": conversation.state == ConversationState.SUBMITTED and my_review is None,
        "decisions": ReviewDecision,
        "form": {},
        **extra,
    }


def _ranking_to_review(request, conversation_id: int) -> Conversation:
    """The ranking, if the person may review it (403 own work, 404 otherwise)."""
    conversation_to_review(request.user, conversation_id)
    return ranking_conversation(conversation_id)


@role_required(REVIEWER)
@require_GET
def ranking_review_page(request, conversation_id: int) -> HttpResponse:
    conversation = _ranking_to_review(request, conversation_id)
    return render(request, REVIEW_TEMPLATE, _review_context(request, conversation))


@role_required(REVIEWER)
@require_POST
def ranking_review_reorder_view(request, conversation_id: int) -> HttpResponse:
    conversation = _ranking_to_review(request, conversation_id)
    version = _int_or_none(request.POST.get("version", ""))
    if version is None:
        context = _review_context(
            request, conversation, error="The page did not send the version: reload and try again."
        )
        return render(request, REVIEW_TEMPLATE, context, status=400)
    try:
        ranking_review_reorder(
            conversation_id=conversation.pk,
            reviewer=request.user,
            expected_version=version,
            order=posted_order(request.POST, conversation),
            reason=request.POST.get("reason", ""),
        )
    except VersionConflict as error:
        flash.error(request, f"{error} The page now shows the saved order.")
        return redirect("conversations:ranking-review", conversation.pk)
    except ReviewError as error:  # RankingError too
        raise_review_refusal(error)
        conversation = ranking_conversation(conversation_id)
        context = _review_context(request, conversation, error=str(error))
        return render(request, REVIEW_TEMPLATE, context, status=400)
    flash.success(request, "New order saved as a new revision; approve it when it is right.")
    return redirect("conversations:ranking-review", conversation.pk)


@role_required(REVIEWER)
@require_POST
def ranking_review_decide(request, conversation_id: int) -> HttpResponse:
    conversation = _ranking_to_review(request, conversation_id)
    criteria = rubric_criteria(conversation.project)
    scores = {name: request.POST.get(f"score-{name}", "") for name in criteria}
    form = {"comment": request.POST.get("comment", ""), "scores": scores}
    try:
        review = review_submit(
            conversation_id=conversation.pk,
            reviewer=request.user,
            decision=request.POST.get("decision", ""),
            scores={name: value for name, value in scores.items() if value},
            comment=request.POST.get("comment", ""),
            revision_number=judged_revision(request.POST),
        )
    except ReviewError as error:
        raise_review_refusal(error)
        conversation = ranking_conversation(conversation_id)
        context = _review_context(request, conversation, error=str(error), form=form)
        status = 409 if isinstance(error, ClaimUnavailable) else 400
        return render(request, REVIEW_TEMPLATE, context, status=status)
    conversation.refresh_from_db(fields=["state"])
    flash.success(
        request,
        f"{review.get_decision_display()} recorded for ranking #{conversation.pk} "
        f"— it is now {conversation.get_state_display().lower()}.",
    )
    return redirect("conversations:review-queue")


# The admin ------------------------------------------------------------------------------


@role_required(ADMIN)
@require_POST
def candidates_generate_view(request, slug: str) -> HttpResponse:
    """Queue AI candidates for the project's bare prompts; the batch page shows progress."""
    project = get_object_or_404(Project, slug=slug)
    try:
        batch = candidates_generate_start(project=project, user=request.user)
    except CandidatesError as error:
        flash.error(request, str(error))
        return redirect("conversations:project-detail", project.slug)
    except QueueUnavailable as down:
        # Saved and queued: its page says so, and it starts once the queue is back.
        flash.warning(request, str(down))
        return redirect("labeling:import-batch", project.slug, down.extra["job"])
    return redirect("labeling:import-batch", project.slug, batch.pk)
