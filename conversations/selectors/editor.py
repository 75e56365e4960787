"""Reads for the editor, its partials and its API: each a fixed number of queries."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from conversations.models import (
    Conversation,
    ConversationState,
    DraftRequest,
    Message,
    Review,
    ReviewDecision,
)
from labeling.models import GuidelineVersion, Project, User


def editor_conversation(conversation_id: int) -> Conversation:
    """The conversation with everything the editor shows; 404 when it does not exist."""
    return get_object_or_404(
        Conversation.objects.select_related(
            "project", "prompt", "prompt__domain", "assignment", "labeler"
        ).prefetch_related(Prefetch("messages", queryset=Message.objects.order_by("position"))),
        pk=conversation_id,
    )


def conversation_for_access(conversation_id: int) -> Conversation:
    """Just the row and its project, for endpoints that check access then do one thing."""
    return get_object_or_404(Conversation.objects.select_related("project"), pk=conversation_id)


def own_conversations(user: User) -> QuerySet[Conversation]:
    return (
        Conversation.objects.filter(labeler=user)
        .select_related("project", "prompt")
        .order_by("-updated_at", "-id")
    )


def latest_change_request(conversation: Conversation) -> Review | None:
    """The reviewer's request for changes that sent the conversation back, with its comments."""
    if conversation.state != ConversationState.CHANGES_REQUESTED:
        return None
    return (
        Review.objects.filter(conversation=conversation, decision=ReviewDecision.REQUEST_CHANGES)
        .select_related("reviewer", "revision")
        .prefetch_related("message_comments")
        .order_by("-created_at", "-id")
        .first()
    )


def current_guidelines(project: Project) -> GuidelineVersion | None:
    """The guideline version in force (whether the person read it: labeling's guidelines_notice)."""
    return GuidelineVersion.objects.filter(project=project).order_by("-version").first()


def draft_request_get(conversation: Conversation, draft_request_id: int) -> DraftRequest:
    return get_object_or_404(DraftRequest, pk=draft_request_id, conversation=conversation)


def pending_draft_requests(conversation: Conversation) -> list[DraftRequest]:
    return list(
        conversation.draft_requests.filter(
            status__in=[DraftRequest.Status.QUEUED, DraftRequest.Status.RUNNING]
        ).order_by("id")
    )
