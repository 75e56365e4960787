"""`GET /api/conversations/<id>/history/`: revisions and reviews in one timeline."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.selectors.history import (
    REVIEW,
    REVISION,
    conversation_history,
    history_conversation,
)
from labeling.permissions import can_view_conversation_history
from structured_turns.rules import snapshot_read


def revision_out(revision) -> dict:
    return {
        "number": revision.number,
        "kind": revision.kind,
        "created_by": revision.created_by.get_username() if revision.created_by else None,
        "created_at": revision.created_at,
        "reason": revision.reason,
        # Every key on every message: snapshots from before structured turns get defaults.
        "messages": [snapshot_read(m) for m in revision.messages],
    }


def review_out(review) -> dict:
    return {
        "id": review.pk,
        "reviewer": review.reviewer.get_username(),
        "revision": review.revision.number,
        "decision": review.decision,
        "scores": review.scores,
        "comment": review.comment,
        "message_comments": [
            # "part" (reasoning, tool_call:<id>, result…) only where the comment names one.
            {"position": c.message_position, "text": c.text, **({"part": c.part} if c.part else {})}
            for c in review.message_comments.all()
        ],
        "created_at": review.created_at,
    }


class MessageCommentOutput(serializers.Serializer):
    position = serializers.IntegerField()
    text = serializers.CharField()


class RevisionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    kind = serializers.CharField()
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    reason = serializers.CharField()
    messages = serializers.ListField(child=serializers.DictField())


class ReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reviewer = serializers.CharField()
    revision = serializers.IntegerField()
    decision = serializers.CharField()
    scores = serializers.DictField(child=serializers.IntegerField())
    comment = serializers.CharField()
    message_comments = MessageCommentOutput(many=True)
    created_at = serializers.DateTimeField()


class TimelineEntryOutput(serializers.Serializer):
    """A revision's fields or a review's, by `type`; the other kind's fields are absent."""

    type = serializers.ChoiceField([REVISION, REVIEW])
    # A revision's
    number = serializers.IntegerField(required=False)
    kind = serializers.CharField(required=False)
    created_by = serializers.CharField(required=False, allow_null=True)
    reason = serializers.CharField(required=False)
    messages = serializers.ListField(child=serializers.DictField(), required=False)
    # A review's
    id = serializers.IntegerField(required=False)
    reviewer = serializers.CharField(required=False)
    revision = serializers.IntegerField(required=False)
    decision = serializers.CharField(required=False)
    scores = serializers.DictField(child=serializers.IntegerField(), required=False)
    comment = serializers.CharField(required=False)
    message_comments = MessageCommentOutput(many=True, required=False)
    # Both
    created_at = serializers.DateTimeField()


class HistoryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    version = serializers.IntegerField()
    current_revision = serializers.IntegerField(allow_null=True)
    timeline = TimelineEntryOutput(many=True)


class HistoryApi(APIView):
    """The conversation's timeline, oldest first: each entry is `{"type": "revision", ...}`
    (number, kind, who, when, reason, messages) or `{"type": "review", ...}` (decision,
    scores, comment, message comments, reviewer, the revision number it judged).

    For its author, admins and the reviewers who may review it; 404 for anyone else.
    """

    @extend_schema(responses=HistoryOutput)
    def get(self, request, conversation_id: int):
        conversation = history_conversation(conversation_id=conversation_id)
        if conversation is None or not can_view_conversation_history(request.user, conversation):
            raise Http404("No such conversation.")
        history = conversation_history(conversation=conversation)
        current = conversation.current_revision
        return Response(
            {
                "id": conversation.pk,
                "state": conversation.state,
                "version": conversation.version,
                "current_revision": current.number if current else None,
                "timeline": [
                    {"type": entry.type, **revision_out(entry.revision)}
                    if entry.type == REVISION
                    else {"type": entry.type, **review_out(entry.review)}
                    for entry in history.timeline
                ],
            }
        )
