"""A labeler's tasks through the API: the next task (its lease and conversation) and skipping
one. Same services as the labeler's home page."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.services import next_task, task_skip
from core.api_errors import ApiError
from labeling.api.projects import PromptOutput, project_for
from labeling.models import Assignment
from labeling.permissions import LABELER, api_role, can_work_on_assignment


class TaskOutput(serializers.Serializer):
    id = serializers.IntegerField(source="assignment.pk")
    prompt = PromptOutput(source="assignment.prompt")
    project = serializers.CharField(source="assignment.project.slug")
    lease_expires_at = serializers.DateTimeField(source="assignment.lease_expires_at")
    kind = serializers.CharField(
        source="assignment.project.kind",
        help_text="conversation: edit /api/conversations/{conversation}/; "
        "ranking: rank at /api/rankings/{conversation}/.",
    )
    conversation = serializers.IntegerField(source="conversation_id")
    resumed = serializers.BooleanField()


class TaskNextInput(serializers.Serializer):
    project = serializers.SlugField(required=False, allow_blank=True)


class TaskSkipInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class SkippedOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The assignment.")
    status = serializers.CharField()


class TaskNextApi(APIView):
    permission_classes = [api_role(LABELER)]

    @extend_schema(
        request=TaskNextInput,
        responses={
            200: TaskOutput,
            204: OpenApiResponse(
                description="No task right now: X-No-Task-Reason and X-No-Task-Message say why."
            ),
            404: OpenApiResponse(ApiError, description="No such project (or not yours to see)."),
        },
    )
    def post(self, request):
        data = TaskNextInput(data=request.data or {})
        data.is_valid(raise_exception=True)
        slug = data.validated_data.get("project")
        project = project_for(request, slug) if slug else None
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

    @extend_schema(request=TaskSkipInput, responses={200: SkippedOutput})
    def post(self, request, assignment_id: int):
        assignment = Assignment.objects.filter(pk=assignment_id).first()
        if assignment is None or not can_work_on_assignment(request.user, assignment):
            raise NotFound("No such task.")
        data = TaskSkipInput(data=request.data)
        data.is_valid(raise_exception=True)
        skipped = task_skip(
            user=request.user, assignment_id=assignment.pk, reason=data.validated_data["reason"]
        )
        return Response({"id": skipped.pk, "status": skipped.status})
