"""API for a project's prompts and their imports. Same services as the browser and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_errors import QUEUE_DOWN_RESPONSE, ApiError
from core.exceptions import TooLarge
from labeling.api.projects import PromptOutput, project_for
from labeling.models import Domain, ImportBatch, Project, Prompt, User
from labeling.permissions import ADMIN, api_role, has_role
from labeling.selectors import PromptStatus, prompts_find, visible_prompts
from labeling.services import (
    ImportSource,
    prompts_import,
    prompts_import_cancel,
    prompts_import_enqueue,
    prompts_preview,
)
from labeling.services.imports import ON_DUPLICATE, ImportReportStatus
from labeling.services.prompts import prompt_retire, prompt_update
from labeling.uploads import imports_in_background, keep_upload, limit_uploads, too_large_message


class ImportReportOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=ImportReportStatus.values())
    file_name = serializers.CharField()
    batch = serializers.IntegerField(allow_null=True)
    rows_read = serializers.IntegerField()
    rows_valid = serializers.IntegerField()
    rows_imported = serializers.IntegerField()
    duplicates_found = serializers.IntegerField()
    on_duplicate = serializers.CharField()
    error_count = serializers.IntegerField()
    # The serializer metaclass moves declared fields into _declared_fields, so this never
    # hides Serializer.errors at run time; mypy cannot see that.
    errors = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    duplicates = serializers.ListField(child=serializers.CharField())
    preview = serializers.ListField(child=serializers.DictField())


class ImportBatchOutput(serializers.ModelSerializer):
    status = serializers.CharField(help_text="queued, running, imported, failed or cancelled")
    cancel_requested = serializers.BooleanField()
    step = serializers.CharField(help_text='while running: "checking" rows, then "saving"')
    progress_percent = serializers.IntegerField(
        allow_null=True, help_text="of rows checked; null while not known or while saving"
    )
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        read_only=True, slug_field="username"
    )
    url = serializers.SerializerMethodField()

    class Meta:
        model = ImportBatch
        fields = [
            "id",
            "url",
            "kind",
            "status",
            "step",
            "cancel_requested",
            "file_name",
            "on_duplicate",
            "rows_done",
            "rows_total",
            "progress_percent",
            "rows_read",
            "rows_imported",
            "duplicates_skipped",
            "errors",
            "created_by",
            "created_at",
            "finished_at",
        ]

    def get_url(self, batch: ImportBatch) -> str:
        return reverse("api-import-batch", args=[batch.project.slug, batch.pk])


def queued_response(batch: ImportBatch) -> Response:
    """202 with a background import's batch, to poll at `url` (also the Location header)."""
    queued = ImportBatchOutput(batch).data
    return Response(queued, status=status.HTTP_202_ACCEPTED, headers={"Location": queued["url"]})


class ImportBatchApi(APIView):
    """One import batch: poll it after `POST …/prompts/import/?async=1`, or after a
    202 from `POST …/conversations/import/`."""

    permission_classes = [api_role(ADMIN)]

    @extend_schema(responses=ImportBatchOutput)
    def get(self, request, slug: str, batch_id: int):
        batch = get_object_or_404(
            ImportBatch.objects.select_related("project", "created_by"),
            pk=batch_id,
            project__slug=slug,
        )
        return Response(ImportBatchOutput(batch).data)


class ImportBatchCancelApi(APIView):
    """Stop a queued or running import (nothing of it is saved): a queued one at once, a
    running one at its next chunk of rows or before it saves; a finished one is left."""

    permission_classes = [api_role(ADMIN)]

    @extend_schema(request=None, responses=ImportBatchOutput)
    def post(self, request, slug: str, batch_id: int):
        batch = get_object_or_404(ImportBatch, pk=batch_id, project__slug=slug)
        prompts_import_cancel(batch=batch)
        batch = ImportBatch.objects.select_related("project", "created_by").get(pk=batch.pk)
        return Response(ImportBatchOutput(batch).data)


class PromptFilter(serializers.Serializer):
    """The prompts list's query parameters: the same filters as the prompts page."""

    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    domain = serializers.CharField(
        required=False, allow_blank=True, help_text='A domain slug, or "none".'
    )
    status = serializers.ChoiceField(choices=PromptStatus.choices, required=False, allow_blank=True)
    batch = serializers.IntegerField(required=False, min_value=1, help_text="Import batch id.")


class PromptListApi(ListAPIView):
    """The project's prompts the caller may see, filtered like the prompts page, a page at a
    time, newest first (follow `next`)."""

    serializer_class = PromptOutput

    @extend_schema(parameters=[PromptFilter])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        request = self.request
        project = project_for(request, self.kwargs["slug"])
        filters = PromptFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        prompts = prompts_find(
            project,
            search=data.get("q", ""),
            domain=data.get("domain", ""),
            status=data.get("status", ""),
            batch=data.get("batch"),
        ).order_by("id")
        user = cast(User, request.user)  # the API's default permission: signed in
        if not has_role(user, ADMIN):
            prompts = prompts.filter(pk__in=visible_prompts(user, project).values("pk"))
        return prompts


class PromptInput(serializers.Serializer):
    text = serializers.CharField(required=False)
    domain = serializers.SlugRelatedField(
        slug_field="slug", queryset=Domain.objects.all(), required=False, allow_null=True
    )


class PromptDetailApi(APIView):
    permission_classes = [api_role(ADMIN)]

    @extend_schema(responses=PromptOutput)
    def get(self, request, slug: str, prompt_id: int):
        return Response(PromptOutput(self._prompt(request, slug, prompt_id)).data)

    @extend_schema(
        request=PromptInput,
        responses={
            200: PromptOutput,
            409: OpenApiResponse(ApiError, description="A labeler has started the prompt."),
        },
    )
    def patch(self, request, slug: str, prompt_id: int):
        """Edit the text and domain of a prompt nobody has started (409 once someone has)."""
        prompt = self._prompt(request, slug, prompt_id)
        data = PromptInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = data.validated_data
        prompt = prompt_update(
            prompt=prompt,
            text=changes.get("text", prompt.text),
            domain=changes.get("domain", prompt.domain),
        )
        return Response(PromptOutput(prompt).data)

    def _prompt(self, request, slug: str, prompt_id: int) -> Prompt:
        project = project_for(request, slug)
        return get_object_or_404(
            Prompt.objects.select_related("domain"), pk=prompt_id, project=project
        )


class PromptRetireApi(APIView):
    permission_classes = [api_role(ADMIN)]

    @extend_schema(request=None, responses=PromptOutput)
    def post(self, request, slug: str, prompt_id: int):
        """Take the prompt out of the pool; running leases on it may still be submitted."""
        project = project_for(request, slug)
        prompt = get_object_or_404(Prompt, pk=prompt_id, project=project)
        return Response(PromptOutput(prompt_retire(prompt=prompt)).data)


class PromptImportFilter(serializers.Serializer):
    """The import's query parameters."""

    on_duplicate = serializers.ChoiceField(choices=ON_DUPLICATE, default="skip")
    dry_run = serializers.BooleanField(default=False)
    domain = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Domain.objects.all(),
        required=False,
        help_text="Domain given to every prompt that names none of its own.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # `async` is a Python keyword, so it cannot be a class attribute.
        fields["async"] = serializers.BooleanField(default=False)
        return fields

    def validate(self, attrs: dict) -> dict:
        if attrs["async"] and attrs["dry_run"]:
            raise serializers.ValidationError(
                {"async": ["dry_run answers at once: leave out async"]}
            )
        return attrs


class PromptImportApi(APIView):
    """Bulk import: a multipart `file` (JSONL or CSV) or a JSON list of objects or strings.

    `?on_duplicate=skip|fail`; `?dry_run=1` validates and reports without saving;
    `?async=1` (files only) queues the import for a worker and answers 202 with the batch
    to poll at `GET /api/projects/{slug}/imports/{id}/`. A file over IMPORT_SYNC_MAX_BYTES
    is queued that way by itself; one over UPLOAD_MAX_BYTES (or a JSON body over
    DATA_UPLOAD_MAX_MEMORY_SIZE) is a 413.
    """

    permission_classes = [api_role(ADMIN)]
    # Not the NUL-refusing default: a NUL is reported line by line by the import itself.
    parser_classes = [JSONParser, MultiPartParser]

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body: oversized files are dropped, not stored.
        limit_uploads(request)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        parameters=[PromptImportFilter],
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            },
            "application/json": {"type": "array", "items": {}},
        },
        responses={
            200: ImportReportOutput,
            201: ImportReportOutput,
            202: ImportBatchOutput,
            413: OpenApiResponse(
                ApiError,
                description="The file is over the upload limit, or a JSON body over "
                "the body limit.",
            ),
            422: ImportReportOutput,
            503: QUEUE_DOWN_RESPONSE,
        },
    )
    def post(self, request, slug: str):
        project = get_object_or_404(Project, slug=slug)
        query = PromptImportFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        on_duplicate = query.validated_data["on_duplicate"]
        dry_run = query.validated_data["dry_run"]
        run_async = query.validated_data["async"]
        domain = query.validated_data.get("domain")
        kept = None
        if isinstance(request.data, list):
            if run_async:
                raise ValidationError(
                    {"async": ["only for uploaded files; a JSON list imports at once"]}
                )
            source = ImportSource(name="api.json", items=request.data)
        else:
            if getattr(request._request, "upload_too_large", False):
                raise TooLarge(too_large_message())
            uploaded = request.data.get("file") if hasattr(request.data, "get") else None
            if uploaded is None or isinstance(uploaded, str):
                raise ValidationError(
                    {"file": ["send a multipart file, or a JSON list of prompts as the body"]}
                )
            if uploaded.size > settings.UPLOAD_MAX_BYTES:
                raise TooLarge(too_large_message(uploaded.size))
            kept = keep_upload(uploaded)
            source = ImportSource(name=Path(uploaded.name).name, path=kept)
            if run_async or (not dry_run and imports_in_background(uploaded.size)):
                # The worker owns the kept file from here and removes it when done.
                batch = prompts_import_enqueue(
                    project=project,
                    upload=kept,
                    file_name=source.name,
                    user=request.user,
                    on_duplicate=on_duplicate,
                    default_domain=domain,
                )
                return queued_response(batch)
        try:
            if dry_run:
                report = prompts_preview(
                    project=project, source=source, on_duplicate=on_duplicate, default_domain=domain
                )
            else:
                report = prompts_import(
                    project=project,
                    source=source,
                    user=request.user,
                    on_duplicate=on_duplicate,
                    default_domain=domain,
                )
        finally:
            if kept:
                kept.unlink(missing_ok=True)
        body = report.as_dict()
        if report.status == ImportReportStatus.FAILED:
            return Response(body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if report.status == ImportReportStatus.IMPORTED:
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(body)
