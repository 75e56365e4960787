"""The review API: the queue, claims, decisions, reviewer edits and notifications."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from conversations.access import conversation_to_review
from conversations.api.errors import review_error_response, version_conflict_response
from conversations.api.history import ReviewOutput, RevisionOutput, review_out, revision_out
from conversations.models import ReviewDecision
from conversations.selectors import review as selectors
from conversations.services import (
    ReviewError,
    VersionConflict,
    notifications_mark_read,
    review_claim,
    review_edit,
    review_submit,
)
from conversations.services.authoring import message_dicts
from core.api_errors import ApiError
from core.keyset import keyset_page
from labeling.permissions import REVIEWER, api_role

QUEUE_LIMIT = 50


class QueueItemOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    prompt_start = serializers.CharField(
        help_text="The first 120 characters of the prompt (its first user message), plain text."
    )
    project = serializers.CharField(source="project.slug")
    domain = serializers.CharField(source="prompt.domain.slug", default=None, allow_null=True)
    labeler = serializers.CharField(source="labeler.username", default=None, allow_null=True)
    submitted_at = serializers.DateTimeField()
    revision = serializers.IntegerField(
        source="current_revision.number", default=None, allow_null=True
    )
    approvals = serializers.IntegerField()
    approvals_needed = serializers.IntegerField(source="project.approvals_needed")
    claimed_by_me = serializers.BooleanField()
    claims_by_others = serializers.IntegerField()


class QueueProjectCount(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    count = serializers.IntegerField()


class QueueDomainCount(serializers.Serializer):
    slug = serializers.CharField()
    count = serializers.IntegerField()


class QueueLabelerCount(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    username = serializers.CharField(allow_null=True)
    count = serializers.IntegerField()


class QueueCountsOutput(serializers.Serializer):
    total = serializers.IntegerField()
    projects = QueueProjectCount(many=True)
    domains = QueueDomainCount(many=True)
    labelers = QueueLabelerCount(many=True)


class ReviewQueueOutput(serializers.Serializer):
    counts = QueueCountsOutput(help_text="What waits in your whole queue, unfiltered.")
    next = serializers.URLField(
        allow_null=True, help_text="The next page (the same filters), null on the last one."
    )
    results = QueueItemOutput(many=True, help_text=f"At most {QUEUE_LIMIT}, oldest first.")


class ClaimOutput(serializers.Serializer):
    conversation = serializers.IntegerField()
    reviewer = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ReviewDecisionOutput(serializers.Serializer):
    review = ReviewOutput()
    conversation_state = serializers.CharField()


class ReviewEditOutput(serializers.Serializer):
    revision = RevisionOutput()
    version = serializers.IntegerField()


class EditConflictOutput(serializers.Serializer):
    position = serializers.IntegerField(allow_null=True)
    yours = serializers.CharField(allow_null=True)
    theirs = serializers.CharField(allow_null=True)


class ReviewEditConflict(ApiError):
    version = serializers.IntegerField(help_text="The version saved now.")
    conflicts = EditConflictOutput(many=True)


class NotificationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    url = serializers.CharField()
    conversation = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    read = serializers.BooleanField()


class NotificationsOutput(serializers.Serializer):
    unread = serializers.IntegerField()
    results = NotificationOutput(many=True)


class NotificationsReadInput(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Leave out to mark all."
    )


class MarkedReadOutput(serializers.Serializer):
    marked_read = serializers.IntegerField()


# 400: the conversation is not in a state to review; 409: another reviewer's claim, or a
# revision that is no longer current.
REVIEW_REFUSALS = {
    400: OpenApiResponse(ApiError, description="Not in review (or another rule refuses)."),
    409: OpenApiResponse(ApiError, description="Claimed by another, or a stale revision."),
}


class ReviewQueueFilter(serializers.Serializer):
    """The queue's query parameters; each one left out (or empty) does not filter."""

    project = serializers.IntegerField(required=False, min_value=0, help_text="project id")
    domain = serializers.CharField(required=False, allow_blank=True, help_text="domain slug")
    labeler = serializers.IntegerField(required=False, min_value=0, help_text="labeler id")
    cursor = serializers.CharField(
        required=False, allow_blank=True, help_text="A page: the cursor of the `next` link."
    )


class ReviewQueueApi(APIView):
    """Submitted conversations in your reviewer domains, oldest first (never your own)."""

    permission_classes = [api_role(REVIEWER)]

    @extend_schema(parameters=[ReviewQueueFilter], responses=ReviewQueueOutput)
    def get(self, request):
        query = ReviewQueueFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        queue = selectors.review_queue(
            reviewer=request.user,
            project_id=query.validated_data.get("project"),
            domain=query.validated_data.get("domain") or None,
            labeler_id=query.validated_data.get("labeler"),
        )
        page = keyset_page(
            queue,
            ordering=selectors.QUEUE_ORDERING,
            cursor=query.validated_data.get("cursor", ""),
            size=QUEUE_LIMIT,
        )
        next_url = None
        if page.next_cursor:
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", page.next_cursor)
        return Response(
            {
                "counts": selectors.review_queue_counts(reviewer=request.user),
                "next": next_url,
                "results": QueueItemOutput(page.items, many=True).data,
            }
        )


class ClaimApi(APIView):
    permission_classes = [api_role(REVIEWER)]

    @extend_schema(request=None, responses={201: ClaimOutput, **REVIEW_REFUSALS})
    def post(self, request, conversation_id: int):
        conversation = conversation_to_review(request.user, conversation_id)
        try:
            claim = review_claim(conversation_id=conversation.pk, reviewer=request.user)
        except ReviewError as error:
            return review_error_response(error)
        return Response(
            {
                "conversation": conversation.pk,
                "reviewer": request.user.get_username(),
                "expires_at": claim.expires_at,
            },
            status=status.HTTP_201_CREATED,
        )


class MessageCommentInput(serializers.Serializer):
    position = serializers.IntegerField(min_value=0)
    part = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=80,
        help_text='"content", "reasoning", "tool_call:<call id>" or "result"; empty: the message',
    )
    text = serializers.CharField(max_length=5000)


class ReviewInput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ReviewDecision.values)
    scores = serializers.DictField(child=serializers.IntegerField(), required=False, default=dict)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=10000)
    message_comments = MessageCommentInput(many=True, required=False, default=list)
    revision = serializers.IntegerField(
        min_value=1,
        help_text="The revision number the reviewer judged: a decision on a revision that "
        "changed since is refused (409).",
    )


class ConversationReviewsApi(APIView):
    """POST: decide on the current revision (the history is `GET .../history/`)."""

    permission_classes = [api_role(REVIEWER)]

    @extend_schema(request=ReviewInput, responses={201: ReviewDecisionOutput, **REVIEW_REFUSALS})
    def post(self, request, conversation_id: int):
        conversation = conversation_to_review(request.user, conversation_id)
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            review = review_submit(
                conversation_id=conversation.pk,
                reviewer=request.user,
                decision=values["decision"],
                scores=values["scores"],
                comment=values["comment"],
                message_comments=values["message_comments"],
                revision_number=values["revision"],
            )
        except ReviewError as error:
            return review_error_response(error)
        conversation.refresh_from_db(fields=["state"])
        return Response(
            {"review": review_out(review), "conversation_state": conversation.state},
            status=status.HTTP_201_CREATED,
        )


class ReviewEditInput(serializers.Serializer):
    """`messages`: [{"position", and any of "content", "reasoning", "tool_calls", "tool_call_id"}]."""

    expected_version = serializers.IntegerField(min_value=1)
    messages = serializers.ListField(child=serializers.DictField(), allow_empty=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class ReviewEditApi(APIView):
    """A reviewer's in-place correction: 409 with both texts when the version moved on."""

    permission_classes = [api_role(REVIEWER)]

    @extend_schema(
        request=ReviewEditInput,
        responses={
            201: ReviewEditOutput,
            **REVIEW_REFUSALS,
            409: OpenApiResponse(
                ReviewEditConflict, description="The version moved on: both texts, or a claim."
            ),
        },
    )
    def post(self, request, conversation_id: int):
        conversation = conversation_to_review(request.user, conversation_id)
        data = ReviewEditInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            revision = review_edit(
                conversation_id=conversation.pk,
                reviewer=request.user,
                expected_version=values["expected_version"],
                messages=values["messages"],
                reason=values["reason"],
            )
        except VersionConflict as conflict:
            current = message_dicts(list(conversation.messages.all()))
            return version_conflict_response(
                conflict,
                version=conflict.conversation.version,
                conflicts=[
                    {
                        "position": item.get("position"),
                        "yours": item.get("content"),
                        "theirs": _content_at(current, item.get("position")),
                    }
                    for item in values["messages"]
                ],
                # Every part of every message as saved, to merge reasoning, calls and results.
                current={"version": conflict.conversation.version, "messages": current},
            )
        except ReviewError as error:
            return review_error_response(error)
        conversation.refresh_from_db(fields=["version"])
        return Response(
            {"revision": revision_out(revision), "version": conversation.version},
            status=status.HTTP_201_CREATED,
        )


def _content_at(messages: list[dict], position) -> str | None:
    try:
        return messages[int(position)]["content"] if int(position) >= 0 else None
    except (TypeError, ValueError, IndexError):
        return None


class NotificationsApi(APIView):
    """GET: your notifications, newest first, with the unread count. POST: mark read."""

    @extend_schema(responses=NotificationsOutput)
    def get(self, request):
        items = selectors.notification_list(user=request.user)
        return Response(
            {
                "unread": selectors.unread_notification_count(user=request.user),
                "results": [
                    {
                        "id": n.pk,
                        "text": n.text,
                        "url": n.url,
                        "conversation": n.conversation_id,
                        "created_at": n.created_at,
                        "read": n.read_at is not None,
                    }
                    for n in items
                ],
            }
        )

    @extend_schema(request=NotificationsReadInput, responses={200: MarkedReadOutput})
    def post(self, request):
        ids = request.data.get("ids") if hasattr(request.data, "get") else None
        if ids is not None and (
            not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)
        ):
            raise serializers.ValidationError({"ids": "a list of notification ids"})
        return Response(
            {"marked_read": notifications_mark_read(user=request.user, notification_ids=ids)}
        )
