"""`POST /api/projects/<slug>/conversations/import/`: the CLI's `import_conversations` over HTTP."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.api.errors import error_response
from conversations.models import ConversationState
from conversations.services import ConversationImportError, conversations_import
from conversations.services.import_jobs import conversations_import_enqueue
from conversations.services.importing import FORMATS, STATES
from core.api_errors import QUEUE_DOWN_RESPONSE, ApiError
from labeling.api.prompts import ImportBatchOutput, queued_response
from labeling.models import Project
from labeling.permissions import ADMIN, api_role
from labeling.uploads import imports_in_background, keep_upload, limit_uploads, too_large_message


class ConversationImportInput(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=FORMATS, default="messages")
    state = serializers.ChoiceField(choices=STATES, default=ConversationState.SUBMITTED.value)
    all_paths = serializers.BooleanField(default=False)


class ConversationImportOutput(serializers.Serializer):
    batch = serializers.IntegerField(help_text="The import batch id.")
    imported = serializers.IntegerField()
    skipped_existing = serializers.IntegerField(help_text="Source ids the project already has.")
    skipped_without_reply = serializers.IntegerField(help_text="oasst trees with no reply.")


class ConversationImportApi(APIView):
    """Import finished conversations from a multipart `file` (messages JSONL, structured turns
    included, or OpenAssistant trees). 201 with the counts; 422 with every bad line
    (`line 4: messages[1].tool_calls[0].function.arguments.unit: …`) and nothing imported.
    A file over IMPORT_SYNC_MAX_BYTES is imported by a worker: 202 with the batch to poll
    (its `errors` name the bad lines, and nothing is imported)."""

    permission_classes = [api_role(ADMIN)]
    parser_classes = [MultiPartParser]

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body: oversized files are dropped, not stored.
        limit_uploads(request)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": ConversationImportInput},
        responses={
            201: ConversationImportOutput,
            202: ImportBatchOutput,
            413: OpenApiResponse(ApiError, description="The file is over the upload limit."),
            422: OpenApiResponse(
                ApiError, description="Bad lines, listed in `errors`; nothing was imported."
            ),
            503: QUEUE_DOWN_RESPONSE,
        },
    )
    def post(self, request, slug: str):
        project = get_object_or_404(Project, slug=slug)
        if getattr(request._request, "upload_too_large", False):
            return error_response(413, "too_large", too_large_message())
        data = ConversationImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        uploaded = values["file"]
        if uploaded.size > settings.UPLOAD_MAX_BYTES:
            return error_response(413, "too_large", too_large_message(uploaded.size))
        name = Path(uploaded.name).name
        if imports_in_background(uploaded.size):
            # Checking a file this large could outlive the request: a worker does it.
            batch = conversations_import_enqueue(
                project=project,
                upload=keep_upload(uploaded, prefix="conversations"),
                file_name=name,
                user=request.user,
                file_format=values["format"],
                state=values["state"],
                all_paths=values["all_paths"],
            )
            return queued_response(batch)
        try:
            result = conversations_import(
                project=project,
                stream=uploaded.open("rb"),
                file_name=name,
                file_format=values["format"],
                state=values["state"],
                all_paths=values["all_paths"],
                created_by=request.user,
            )
        except ConversationImportError as error:
            return error_response(
                422, "invalid_lines", f"Nothing was imported from {name}.", errors=error.errors
            )
        return Response(
            {
                "batch": result.batch.pk,
                "imported": result.imported,
                "skipped_existing": result.skipped_existing,
                "skipped_without_reply": result.skipped_without_reply,
            },
            status=status.HTTP_201_CREATED,
        )
