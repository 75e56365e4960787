"""The exports API: create and enqueue, status and progress, cancel, list and download files."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_errors import QUEUE_DOWN_RESPONSE, ApiError
from labeling.permissions import ADMIN, api_role, can_view_export_job

from .models import ExportJob
from .selectors import EXPORT_JOB_ORDER, export_job_detail, export_jobs
from .services import (
    ARTIFACT_MEDIA_TYPES,
    ExportConfigError,
    artifact_media_type,
    export_artifact_open,
    export_config_from_dict,
    export_job_cancel,
    export_job_create,
)


class ExportCreateInput(serializers.Serializer):
    """The export settings; everything is checked by the same service as the form and CLI."""

    projects = serializers.ListField(child=serializers.SlugField(), allow_empty=False)
    domains = serializers.ListField(child=serializers.SlugField(), required=False)
    date_field = serializers.ChoiceField(["decided_at", "submitted_at"], required=False)
    date_from = serializers.DateField(required=False, allow_null=True)
    date_to = serializers.DateField(required=False, allow_null=True)
    min_score = serializers.FloatField(required=False, allow_null=True)
    exclude_unedited_ai_drafts = serializers.BooleanField(required=False)
    template = serializers.CharField(required=False)
    tokenizer = serializers.CharField(required=False)
    tokenizer_asset = serializers.IntegerField(required=False, allow_null=True)
    max_tokens = serializers.IntegerField(required=False, allow_null=True)
    overflow = serializers.ChoiceField(["drop", "truncate"], required=False)
    val_fraction = serializers.FloatField(required=False)
    seed = serializers.IntegerField(required=False)
    formats = serializers.ListField(child=serializers.CharField(), required=False)
    pack_length = serializers.IntegerField(required=False, allow_null=True)
    drop_reasoning = serializers.BooleanField(required=False, default=False)
    dedupe = serializers.BooleanField(required=False, default=True)
    license = serializers.CharField(required=False)
    preference_sources = serializers.ListField(child=serializers.CharField(), required=False)
    preference_threshold = serializers.FloatField(required=False)
    ranking_pairs = serializers.ChoiceField(["all", "majority"], required=False)

    def validate(self, attrs):
        try:
            attrs["config"] = export_config_from_dict(dict(attrs))
        except ExportConfigError as error:
            raise serializers.ValidationError(error.errors) from None
        return attrs


class ArtifactOutput(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    url = serializers.SerializerMethodField()

    def get_url(self, artifact) -> str:
        path = reverse("api-export-file", kwargs={"pk": artifact.job_id, "name": artifact.name})
        return self.context["request"].build_absolute_uri(path)


class ExportJobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    rows_done = serializers.IntegerField()
    rows_total = serializers.IntegerField()
    progress_percent = serializers.IntegerField()
    seconds_left = serializers.SerializerMethodField(
        help_text="At the pace measured in this run; null when nothing measures it (before "
        "the first chunk, or while no worker is running the job)."
    )
    cancel_requested = serializers.BooleanField()
    error = serializers.CharField()
    config = serializers.JSONField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    files = ArtifactOutput(source="artifacts.all", many=True)
    manifest = serializers.JSONField()

    def get_seconds_left(self, job) -> int | None:
        return job.seconds_left(timezone.now())


def _job(request, pk: int) -> ExportJob:
    try:
        job = export_job_detail(pk)
    except ExportJob.DoesNotExist:
        raise Http404 from None
    if not can_view_export_job(request.user, job):
        raise Http404
    return job


class ExportListCreateApi(ListAPIView):
    """GET: every export job, a page at a time, newest first (follow `next`); POST: a new
    export, queued."""

    permission_classes = [api_role(ADMIN)]
    serializer_class = ExportJobOutput
    keyset_ordering = EXPORT_JOB_ORDER

    def get_queryset(self):
        return export_jobs()

    @extend_schema(operation_id="exports_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="exports_create",
        request=ExportCreateInput,
        responses={201: ExportJobOutput, 503: QUEUE_DOWN_RESPONSE},
    )
    def post(self, request):
        data = ExportCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = export_job_create(config=data.validated_data["config"], created_by=request.user)
        except ExportConfigError as error:
            raise serializers.ValidationError(error.errors) from None
        job = export_job_detail(job.id)
        output = ExportJobOutput(job, context={"request": request}).data
        return Response(output, status=status.HTTP_201_CREATED)


class ExportDetailApi(APIView):
    permission_classes = [api_role(ADMIN)]

    @extend_schema(operation_id="exports_retrieve", responses=ExportJobOutput)
    def get(self, request, pk: int):
        return Response(ExportJobOutput(_job(request, pk), context={"request": request}).data)


class ExportCancelApi(APIView):
    permission_classes = [api_role(ADMIN)]

    @extend_schema(operation_id="exports_cancel", request=None, responses=ExportJobOutput)
    def post(self, request, pk: int):
        job = export_job_cancel(job=_job(request, pk))
        job = export_job_detail(job.id)
        return Response(ExportJobOutput(job, context={"request": request}).data)


class ExportFilesApi(APIView):
    permission_classes = [api_role(ADMIN)]

    @extend_schema(operation_id="exports_files_list", responses=ArtifactOutput(many=True))
    def get(self, request, pk: int):
        job = _job(request, pk)
        artifacts = job.artifacts.all() if job.status == ExportJob.Status.SUCCEEDED else []
        return Response(ArtifactOutput(artifacts, many=True, context={"request": request}).data)


class ExportFileDownloadApi(APIView):
    permission_classes = [api_role(ADMIN)]

    @extend_schema(
        operation_id="exports_files_download",
        responses={
            **{
                (200, media_type): OpenApiTypes.OBJECT
                if media_type == "application/json"
                else OpenApiTypes.BINARY
                for media_type in [*ARTIFACT_MEDIA_TYPES.values(), "application/octet-stream"]
            },
            404: OpenApiResponse(
                ApiError, description="No such export, or no such file in a finished one."
            ),
        },
    )
    def get(self, request, pk: int, name: str):
        job = _job(request, pk)
        stream, url = export_artifact_open(job=job, name=name)
        if url:
            return HttpResponseRedirect(url)
        if stream is None:
            raise Http404
        return FileResponse(
            stream, as_attachment=True, filename=name, content_type=artifact_media_type(name)
        )
