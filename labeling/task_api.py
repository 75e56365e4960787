"""API for tasks, projects and guidelines (prompts and imports: prompt_api). Same services as
the browser and the CLI."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Assignment, Domain, Project, ProjectStatus, Prompt, ReasoningMode
from .permissions import ADMIN, LABELER, api_role, can_work_on_assignment, has_role
from .selectors import visible_projects
from .services import (
    ProjectError,
    TaskError,
    guidelines_save,
    next_task,
    project_create,
    project_delete,
    project_update,
    task_skip,
)
from .services.projects import PROJECT_FIELDS


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


def project_for(request, slug: str) -> Project:
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
    # Checked by the projects service (errors name the path, e.g. tools[1].function.name).
    tools = serializers.JSONField(
        required=False,
        help_text='Declared tools: [{"type": "function", "function": {"name", "description", '
        '"parameters": <JSON Schema>}}] (OpenAI / Hugging Face function specs).',
    )
    reasoning_mode = serializers.ChoiceField(choices=ReasoningMode.choices, required=False)


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
        return Response(ProjectOutput(project_for(request, slug)).data)

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
        project = project_for(request, slug)
        if not has_role(request.user, ADMIN):
            self.permission_denied(request, message="This needs the admin role.")
        return project


class GuidelinesInput(serializers.Serializer):
    body = serializers.CharField()


class GuidelinesOutput(serializers.Serializer):
    version = serializers.IntegerField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class GuidelinesApi(APIView):
    @extend_schema(responses=GuidelinesOutput)
    def get(self, request, slug: str):
        project = project_for(request, slug)
        current = project.guideline_versions.order_by("-version").first()
        if current is None:
            raise NotFound("This project has no guidelines yet.")
        return Response(
            {"version": current.version, "body": current.body, "created_at": current.created_at}
        )

    @extend_schema(request=GuidelinesInput, responses={201: GuidelinesOutput})
    def post(self, request, slug: str):
        project = project_for(request, slug)
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
