"""The authoring API: a labeler's own conversations, saved with the version they edited."""

from __future__ import annotations

from typing import cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.access import own_conversation
from conversations.api.errors import version_conflict_response
from conversations.diffing import edit_ratio
from conversations.models import Conversation, DraftRequest
from conversations.selectors.editor import (
    conversation_for_access,
    draft_request_get,
    editor_conversation,
    own_conversations,
)
from conversations.services import (
    VersionConflict,
    conversation_checks,
    conversation_save,
    conversation_submit,
)
from conversations.services.authoring import message_dicts, typed_messages
from conversations.services.drafts import draft_request_create, draft_requests_expire_stale
from conversations.services.tokens import token_counts
from core.api_errors import ApiError
from labeling.models import Project, User
from labeling.permissions import LABELER, api_role


def _messages_out(conversation: Conversation) -> list[dict]:
    return [
        {
            "position": position,
            **message,
            "edit_ratio": edit_ratio(message["model_original"], message["content"])
            if message["model_original"]
            else None,
        }
        for position, message in enumerate(message_dicts(list(conversation.messages.all())))
    ]


class ConversationListOutput(serializers.ModelSerializer):
    project: serializers.SlugRelatedField[Project] = serializers.SlugRelatedField(
        read_only=True, slug_field="slug"
    )
    prompt = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = ["id", "project", "state", "version", "prompt", "updated_at", "submitted_at"]

    def get_prompt(self, conversation) -> str:
        return conversation.prompt.text[:200] if conversation.prompt else ""


def _detail(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "project": conversation.project.slug,
        "state": conversation.state,
        "version": conversation.version,
        "updated_at": conversation.updated_at,
        "submitted_at": conversation.submitted_at,
        "messages": _messages_out(conversation),
    }


class MessageOutput(serializers.Serializer):
    position = serializers.IntegerField()
    role = serializers.CharField()
    content = serializers.CharField()
    origin = serializers.CharField(help_text="human, model or model_edited")
    model_original = serializers.CharField(help_text="The AI draft's text, when there was one.")
    edit_ratio = serializers.FloatField(
        allow_null=True, help_text="Share of the AI draft changed; null for human text."
    )


class ConversationDetailOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.SlugField()
    state = serializers.CharField()
    version = serializers.IntegerField()
    updated_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    messages = MessageOutput(many=True)


class SaveOutput(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    state = serializers.CharField()
    saved_at = serializers.DateTimeField()


class CurrentTextOutput(serializers.Serializer):
    version = serializers.IntegerField()
    messages = MessageOutput(many=True)


class SaveConflictOutput(ApiError):
    current = CurrentTextOutput(help_text="What is saved now, to merge with your text.")


class TokenCountsOutput(serializers.Serializer):
    per_message = serializers.ListField(child=serializers.IntegerField())
    total = serializers.IntegerField(allow_null=True, help_text="null when it cannot be counted")
    max_tokens = serializers.IntegerField()
    tokenizer = serializers.CharField()
    level = serializers.ChoiceField(["ok", "near", "over"])
    error = serializers.CharField(help_text="Why there are no counts, when there are none.")


class CheckOutput(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.CharField(help_text="blocking or warning")
    message = serializers.CharField()
    position = serializers.IntegerField(allow_null=True, help_text="the message concerned")


class ChecksOutput(serializers.Serializer):
    blocking = serializers.BooleanField()
    checks = CheckOutput(many=True)
    tokens = TokenCountsOutput()


STALE_VERSION = OpenApiResponse(ApiError, description="Saved elsewhere since that version.")


class MessageInput(serializers.Serializer):
    """One message; the structured parts (contract 6) are checked by the save service."""

    role = serializers.CharField(help_text="system, user, assistant or tool")
    # Null is accepted for an assistant that only calls tools, as OpenAI writes it.
    content = serializers.CharField(allow_blank=True, allow_null=True, trim_whitespace=False)
    reasoning = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    tool_calls = serializers.JSONField(
        required=False,
        help_text='[{"id", "type": "function", "function": {"name", "arguments"}}]; arguments '
        "a JSON object or a string of JSON",
    )
    tool_call_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    draft_request = serializers.IntegerField(required=False, allow_null=True)


class SaveInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    messages = MessageInput(many=True, allow_empty=False)


class VersionInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class MessagesInput(serializers.Serializer):
    messages = MessageInput(many=True, allow_empty=False, required=False)


class ConversationListApi(ListAPIView):
    """GET /api/conversations/: the caller's own conversations, newest change first."""

    permission_classes = [api_role(LABELER)]
    serializer_class = ConversationListOutput

    def get_queryset(self) -> QuerySet[Conversation]:
        # api_role(LABELER) lets only a signed-in labeler through.
        return own_conversations(cast(User, self.request.user))


class ConversationDetailApi(APIView):
    """GET the messages and version; PUT/PATCH the whole message list with the version edited."""

    @extend_schema(responses=ConversationDetailOutput)
    def get(self, request, conversation_id: int):
        conversation = own_conversation(request.user, editor_conversation(conversation_id))
        return Response(_detail(conversation))

    @extend_schema(
        request=SaveInput,
        responses={
            200: SaveOutput,
            409: OpenApiResponse(SaveConflictOutput, description="Saved elsewhere meanwhile."),
        },
    )
    def put(self, request, conversation_id: int):
        own_conversation(request.user, conversation_for_access(conversation_id))
        data = SaveInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            conversation = conversation_save(
                conversation_id=conversation_id,
                user=request.user,
                expected_version=data.validated_data["version"],
                messages=data.validated_data["messages"],
            )
        except VersionConflict as error:
            current = editor_conversation(conversation_id)
            return version_conflict_response(
                error, current={"version": current.version, "messages": _messages_out(current)}
            )
        return Response(
            {
                "id": conversation.pk,
                "version": conversation.version,
                "state": conversation.state,
                "saved_at": conversation.updated_at,
            }
        )

    patch = put


class SubmitApi(APIView):
    """POST {version}: submit for review; 400 lists the blocking checks, 409 a stale version."""

    @extend_schema(
        request=VersionInput, responses={200: ConversationDetailOutput, 409: STALE_VERSION}
    )
    def post(self, request, conversation_id: int):
        own_conversation(request.user, conversation_for_access(conversation_id))
        data = VersionInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation_submit(
            conversation_id=conversation_id,
            user=request.user,
            expected_version=data.validated_data["version"],
        )
        return Response(_detail(editor_conversation(conversation_id)))


def _messages_for(request, conversation: Conversation) -> list[dict]:
    """The posted messages (unsaved text) or, on GET / without any, the stored ones."""
    if request.method == "POST":
        data = MessagesInput(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data.get("messages"):
            # Origins as the save will give them (an AI draft named by draft_request counts).
            return typed_messages(
                conversation=conversation, messages=data.validated_data["messages"]
            )
    return message_dicts(list(conversation.messages.all()))


class TokensApi(APIView):
    """Token counts per message and in total, with the project's tokenizer and template."""

    @extend_schema(request=MessagesInput, responses={200: TokenCountsOutput})
    def get(self, request, conversation_id: int):
        conversation = own_conversation(request.user, editor_conversation(conversation_id))
        messages = _messages_for(request, conversation)
        return Response(token_counts(project=conversation.project, messages=messages).as_dict())

    post = get


class ChecksApi(APIView):
    """The quality checks (blocking and warnings) over the stored or the posted messages."""

    @extend_schema(request=MessagesInput, responses={200: ChecksOutput})
    def get(self, request, conversation_id: int):
        conversation = own_conversation(request.user, editor_conversation(conversation_id))
        messages = _messages_for(request, conversation)
        results, counts = conversation_checks(conversation=conversation, messages=messages)
        return Response(
            {
                "blocking": any(r.blocking for r in results),
                "checks": [r.as_dict() for r in results],
                "tokens": counts.as_dict(),
            }
        )

    post = get


class DraftRequestOutput(serializers.ModelSerializer):
    # Plain text, not an enum: "status" enums of several models would collide in the schema.
    status = serializers.CharField(read_only=True, help_text="queued, running, succeeded or failed")

    class Meta:
        model = DraftRequest
        fields = [
            "id",
            "message_position",
            "status",
            "error",
            "text",
            "reasoning",
            "tool_calls",
            "created_at",
            "finished_at",
        ]


class DraftInput(serializers.Serializer):
    position = serializers.IntegerField(min_value=0)


class DraftRequestCreateApi(APIView):
    """POST {position}: ask for an AI draft of that assistant turn (202; poll its status)."""

    @extend_schema(request=DraftInput, responses={202: DraftRequestOutput})
    def post(self, request, conversation_id: int):
        own_conversation(request.user, conversation_for_access(conversation_id))
        data = DraftInput(data=request.data)
        data.is_valid(raise_exception=True)
        draft_request = draft_request_create(
            conversation_id=conversation_id,
            user=request.user,
            message_position=data.validated_data["position"],
        )
        return Response(DraftRequestOutput(draft_request).data, status=status.HTTP_202_ACCEPTED)


class DraftRequestApi(APIView):
    @extend_schema(responses=DraftRequestOutput)
    def get(self, request, conversation_id: int, draft_request_id: int):
        conversation = own_conversation(request.user, conversation_for_access(conversation_id))
        draft_requests_expire_stale(conversation_id=conversation.pk)
        return Response(DraftRequestOutput(draft_request_get(conversation, draft_request_id)).data)
