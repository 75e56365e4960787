"""API for tasks, projects, guidelines and prompts. Same services as the browser and the CLI."""

from pathlib import Path

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Assignment, Domain, ImportBatch, Project, ProjectStatus, Prompt
from .permissions import ADMIN, LABELER, api_role, can_work_on_assignment, has_role
from .selectors import visible_projects, visible_prompts
from .services import (
    ImportSource,
    ProjectError,
    TaskError,
    guidelines_save,
    next_task,
    project_create,
    project_delete,
    project_update,
    prompts_import,
    prompts_import_enqueue,
    prompts_preview,
    task_skip,
)
from .services.projects import PROJECT_FIELDS
from .uploads import keep_upload, limit_uploads, too_large_message


class PromptOutput(serializers.ModelSerializer):
    domain = serializers.SlugRelatedField(read_only=True, slug_field="slug")

    class Meta:
        model = Prompt
        fields = [
            "id",
            "text",
            "system",
            "messages",
            "draft",
            "domain",
            "source_id",
            "metadata",
            "created_at",
        ]


class TaskOutput(serializers.Serializer):
    id = serializers.IntegerField(source="assignment.pk")
    prompt = PromptOutput(source="assignment.prompt")
    project = serializers.CharField(source="assignment.project.slug")
    lease_expires_at = serializers.DateTimeField(source="assignment.lease_expires_at")
    conversation = serializers.IntegerField(source="conversation_id")
    resumed = serializers.BooleanField()


class TaskNextInput(serializers.Serializer):
    project = serializers.SlugField(required=False, allow_blank=True)


class TaskSkipInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


def _project_for(request, slug: str) -> Project:
    """A project the person may read, or 404 (existence is not revealed)."""
    try:
        return visible_projects(request.user).get(slug=slug)
    except Project.DoesNotExist:
        raise NotFound("No such project.") from None


class TaskNextApi(APIView):
    permission_classes = [api_role(LABELER)]

    @extend_schema(
        request=TaskNextInput,
        responses={200: TaskOutput, 204: OpenApiResponse(description="No task right now")},
    )
    def post(self, request):
        data = TaskNextInput(data=request.data or {})
        data.is_valid(raise_exception=True)
        slug = data.validated_data.get("project")
        project = _project_for(request, slug) if slug else None
        task = next_task(request.user, project)
        if not task.found:
            # 204 has no body: the friendly reason travels in headers.
            return Response(
                status=status.HTTP_204_NO_CONTENT,
                headers={"X-No-Task-Reason": task.reason, "X-No-Task-Message": task.message},
            )
        return Response(TaskOutput(task).data)


class TaskSkipApi(APIView):
    permission_classes = [api_role(LABELER)]

    @extend_schema(request=TaskSkipInput, responses={200: None})
    def post(self, request, assignment_id: int):
        assignment = Assignment.objects.filter(pk=assignment_id).first()
        if assignment is None or not can_work_on_assignment(request.user, assignment):
            raise NotFound("No such task.")
        data = TaskSkipInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            skipped = task_skip(
                user=request.user, assignment_id=assignment.pk, reason=data.validated_data["reason"]
            )
        except TaskError as error:
            raise ValidationError({"reason": [str(error)]}) from error
        return Response({"id": skipped.pk, "status": skipped.status})


class ProjectOutput(serializers.ModelSerializer):
    domains = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")

    class Meta:
        model = Project
        fields = ["id", *PROJECT_FIELDS, "domains", "created_at"]


class ProjectInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=ProjectStatus.choices, required=False)
    priority = serializers.IntegerField(required=False)
    domains = serializers.SlugRelatedField(
        many=True, slug_field="slug", queryset=Domain.objects.all(), required=False
    )
    min_turns = serializers.IntegerField(min_value=1, required=False)
    max_turns = serializers.IntegerField(min_value=1, required=False)
    system_message_allowed = serializers.BooleanField(required=False)
    fixed_system_message = serializers.CharField(required=False, allow_blank=True)
    max_tokens = serializers.IntegerField(min_value=1, required=False)
    replications = serializers.IntegerField(min_value=1, max_value=100, required=False)
    lease_minutes = serializers.IntegerField(min_value=1, required=False)
    approvals_needed = serializers.IntegerField(min_value=1, max_value=20, required=False)
    rubric = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Criterion names reviewers score 1 to 5: 1 to 10 distinct lowercase labels "
        '(letters, digits, "-" or "_"). Default helpfulness, correctness, harmlessness, style.',
    )
    guidelines = serializers.CharField(required=False, allow_blank=True)


def _project_error(error: ProjectError) -> ValidationError:
    field, _, message = str(error).partition(": ")
    return ValidationError({field if message else "detail": [message or str(error)]})


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request):
        return Response(ProjectOutput(visible_projects(request.user), many=True).data)

    @extend_schema(request=ProjectInput, responses={201: ProjectOutput})
    def post(self, request):
        if not has_role(request.user, ADMIN):
            self.permission_denied(request, message="This needs the admin role.")
        data = ProjectInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        try:
            project = project_create(
                created_by=request.user,
                domains=fields.pop("domains", []),
                guidelines=fields.pop("guidelines", ""),
                **fields,
            )
        except ProjectError as error:
            raise _project_error(error) from error
        return Response(ProjectOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectOutput)
    def get(self, request, slug: str):
        return Response(ProjectOutput(_project_for(request, slug)).data)

    @extend_schema(request=ProjectInput, responses=ProjectOutput)
    def patch(self, request, slug: str):
        project = self._admin_project(request, slug)
        data = ProjectInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        guidelines = fields.pop("guidelines", None)
        try:
            project = project_update(project=project, domains=fields.pop("domains", None), **fields)
            if guidelines:
                guidelines_save(project=project, body=guidelines, user=request.user)
        except ProjectError as error:
            raise _project_error(error) from error
        return Response(ProjectOutput(project).data)

    @extend_schema(responses={204: None})
    def delete(self, request, slug: str):
        project = self._admin_project(request, slug)
        try:
            project_delete(project=project)
        except ProjectError as error:
            return Response(
                {"error": {"status": 409, "code": "conflict", "message": str(error), "fields": {}}},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _admin_project(self, request, slug: str) -> Project:
        project = _project_for(request, slug)
        if not has_role(request.user, ADMIN):
            self.permission_denied(request, message="This needs the admin role.")
        return project


class GuidelinesInput(serializers.Serializer):
    body = serializers.CharField()


class GuidelinesOutput(serializers.Serializer):
    version = serializers.IntegerField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class ImportReportOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["preview", "imported", "failed"])
    file_name = serializers.CharField()
    batch = serializers.IntegerField(allow_null=True)
    rows_read = serializers.IntegerField()
    rows_valid = serializers.IntegerField()
    rows_imported = serializers.IntegerField()
    duplicates_found = serializers.IntegerField()
    on_duplicate = serializers.CharField()
    error_count = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.CharField())
    duplicates = serializers.ListField(child=serializers.CharField())
    preview = serializers.ListField(child=serializers.DictField())


class ImportBatchOutput(serializers.ModelSerializer):
    status = serializers.CharField(help_text="queued, running, imported or failed")
    step = serializers.CharField(help_text='while running: "checking" rows, then "saving"')
    progress_percent = serializers.IntegerField(
        allow_null=True, help_text="of rows checked; null while not known or while saving"
    )
    created_by = serializers.SlugRelatedField(read_only=True, slug_field="username")
    url = serializers.SerializerMethodField()

    class Meta:
        model = ImportBatch
        fields = [
            "id",
            "url",
            "status",
            "step",
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


class ImportBatchApi(APIView):
    """One import batch: poll it after `POST …/prompts/import/?async=1`."""

    permission_classes = [api_role(ADMIN)]

    @extend_schema(responses=ImportBatchOutput)
    def get(self, request, slug: str, batch_id: int):
        batch = get_object_or_404(
            ImportBatch.objects.select_related("project", "created_by"),
            pk=batch_id,
            project__slug=slug,
        )
        return Response(ImportBatchOutput(batch).data)


class GuidelinesApi(APIView):
    @extend_schema(responses=GuidelinesOutput)
    def get(self, request, slug: str):
        project = _project_for(request, slug)
        current = project.guideline_versions.order_by("-version").first()
        if current is None:
            raise NotFound("This project has no guidelines yet.")
        return Response(
            {"version": current.version, "body": current.body, "created_at": current.created_at}
        )

    @extend_schema(request=GuidelinesInput, responses={201: GuidelinesOutput})
    def post(self, request, slug: str):
        project = _project_for(request, slug)
        if not has_role(request.user, ADMIN):
            self.permission_denied(request, message="This needs the admin role.")
        data = GuidelinesInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version = guidelines_save(
                project=project, body=data.validated_data["body"], user=request.user
            )
        except ProjectError as error:
            raise _project_error(error) from error
        return Response(
            {"version": version.version, "body": version.body, "created_at": version.created_at},
            status=status.HTTP_201_CREATED,
        )


class PromptListApi(APIView):
    @extend_schema(responses=PromptOutput(many=True))
    def get(self, request, slug: str):
        project = _project_for(request, slug)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(visible_prompts(request.user, project), request, self)
        return paginator.get_paginated_response(PromptOutput(page, many=True).data)


class PromptImportApi(APIView):
    """Bulk import: a multipart `file` (JSONL or CSV) or a JSON list of objects or strings.

    `?on_duplicate=skip|fail`; `?dry_run=1` validates and reports without saving;
    `?async=1` (files only) queues the import for a worker and answers 202 with the batch
    to poll at `GET /api/projects/{slug}/imports/{id}/`.
    """

    permission_classes = [api_role(ADMIN)]
    parser_classes = [JSONParser, MultiPartParser]

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body: oversized files are dropped, not stored.
        limit_uploads(request)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
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
            422: ImportReportOutput,
        },
    )
    def post(self, request, slug: str):
        project = get_object_or_404(Project, slug=slug)
        on_duplicate = request.query_params.get("on_duplicate", "skip")
        if on_duplicate not in ("skip", "fail"):
            raise ValidationError({"on_duplicate": ["use skip or fail"]})
        dry_run = _flag(request, "dry_run")
        run_async = _flag(request, "async")
        if run_async and dry_run:
            raise ValidationError({"async": ["dry_run answers at once: leave out async"]})
        kept = None
        if isinstance(request.data, list):
            if run_async:
                raise ValidationError(
                    {"async": ["only for uploaded files; a JSON list imports at once"]}
                )
            source = ImportSource(name="api.json", items=request.data)
        else:
            if getattr(request._request, "upload_too_large", False):
                return Response(
                    {
                        "error": {
                            "status": 413,
                            "code": "too_large",
                            "message": too_large_message(),
                            "fields": {},
                        }
                    },
                    status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                )
            uploaded = request.data.get("file") if hasattr(request.data, "get") else None
            if uploaded is None or isinstance(uploaded, str):
                raise ValidationError(
                    {"file": ["send a multipart file, or a JSON list of prompts as the body"]}
                )
            if uploaded.size > settings.UPLOAD_MAX_BYTES:
                raise ValidationError({"file": [too_large_message(uploaded.size)]})
            kept = keep_upload(uploaded)
            source = ImportSource(name=Path(uploaded.name).name, path=kept)
            if run_async:
                # The worker owns the kept file from here and removes it when done.
                batch = prompts_import_enqueue(
                    project=project,
                    upload=kept,
                    file_name=source.name,
                    user=request.user,
                    on_duplicate=on_duplicate,
                )
                body = ImportBatchOutput(batch).data
                return Response(
                    body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]}
                )
        try:
            if dry_run:
                report = prompts_preview(project=project, source=source, on_duplicate=on_duplicate)
            else:
                report = prompts_import(
                    project=project, source=source, user=request.user, on_duplicate=on_duplicate
                )
        finally:
            if kept:
                kept.unlink(missing_ok=True)
        body = report.as_dict()
        if report.status == "failed":
            return Response(body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if report.status == "imported":
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(body)


def _flag(request, name: str) -> bool:
    return request.query_params.get(name, "") in ("1", "true", "yes")
