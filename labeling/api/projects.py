"""API for projects and guidelines (prompts and imports: labeling.api.prompts; a labeler's
tasks: conversations.api.tasks). Same services as the browser and the CLI.

Service errors (`ProjectError`) reach the caller through the API's exception handler."""

from typing import cast

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_errors import ApiError
from labeling.models import Domain, Project, ProjectStatus, Prompt, ReasoningMode, User
from labeling.permissions import ADMIN, has_role
from labeling.selectors import PROJECT_ORDER, visible_projects
from labeling.services import guidelines_save, project_create, project_delete, project_update
from labeling.services.projects import PROJECT_FIELDS


class PromptOutput(serializers.ModelSerializer):
    domain: serializers.SlugRelatedField[Domain] = serializers.SlugRelatedField(
        read_only=True, slug_field="slug", allow_null=True
    )

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
            "import_batch",
            "retired_at",
            "created_at",
        ]


def project_for(request, slug: str) -> Project:
    """A project the person may read, or 404 (existence is not revealed)."""
    try:
        return visible_projects(request.user).get(slug=slug)
    except Project.DoesNotExist:
        raise NotFound("No such project.") from None


class ProjectOutput(serializers.ModelSerializer):
    domains: serializers.SlugRelatedField[Domain] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="slug"
    )

    class Meta:
        model = Project
        fields = ["id", *PROJECT_FIELDS, "domains", "created_at"]


class RubricCriterionInput(serializers.Serializer):
    name = serializers.CharField(max_length=40)
    # A criterion's field named like Field.label, which the stubs type as a string.
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=80, required=False, allow_blank=True
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


# The schema shows the object form; a bare name (the older format) is accepted too.
@extend_schema_field(RubricCriterionInput)
class RubricCriterionField(serializers.Field):
    """A criterion object, or a bare name (the format before labels)."""

    default_error_messages = {
        "invalid": 'Not a criterion: give a name or {{"name", "label", "description"}}.'
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = {"name": data}
        if not isinstance(data, dict):
            self.fail("invalid")
        criterion = RubricCriterionInput(data=data)
        criterion.is_valid(raise_exception=True)
        return dict(criterion.validated_data)

    def to_representation(self, value):
        return value


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
        child=RubricCriterionField(),
        required=False,
        help_text='Criteria reviewers score 1 to 5: 1 to 10 objects {"name", "label", '
        '"description"} (label and description optional) or bare names. A name is a distinct '
        'lowercase word (letters, digits, "-" or "_") and keys the reviews\' scores; reviewers '
        "see the label with the description as help. Default helpfulness, correctness, "
        "harmlessness, style.",
    )
    ai_drafts_enabled = serializers.BooleanField(required=False)
    ai_draft_base_url = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="OpenAI-compatible chat-completions base URL; blank: the server's "
        "AI_DRAFT_BASE_URL. The key is always the server's AI_DRAFT_API_KEY.",
    )
    ai_draft_model = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Blank: AI_DRAFT_MODEL."
    )
    ai_draft_temperature = serializers.FloatField(
        required=False, allow_null=True, help_text="0 to 2; null: the endpoint's default."
    )
    ai_draft_max_tokens = serializers.IntegerField(
        required=False, allow_null=True, help_text="At least 1; null: the endpoint's default."
    )
    guidelines = serializers.CharField(required=False, allow_blank=True)
    # Checked by the projects service (errors name the path, e.g. tools[1].function.name).
    tools = serializers.JSONField(
        required=False,
        help_text='Declared tools: [{"type": "function", "function": {"name", "description", '
        '"parameters": <JSON Schema>}}] (OpenAI / Hugging Face function specs).',
    )
    reasoning_mode = serializers.ChoiceField(choices=ReasoningMode.choices, required=False)


class ProjectListApi(ListAPIView):
    """GET: the projects the caller may read, a page at a time, highest priority first
    (follow `next`); POST: a new project (admins)."""

    serializer_class = ProjectOutput
    keyset_ordering = PROJECT_ORDER

    def get_queryset(self):
        # The API's default permission lets only a signed-in member through.
        return visible_projects(cast(User, self.request.user))

    @extend_schema(request=ProjectInput, responses={201: ProjectOutput})
    def post(self, request):
        if not has_role(request.user, ADMIN):
            self.permission_denied(request, message="This needs the admin role.")
        data = ProjectInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        project = project_create(
            created_by=request.user,
            domains=fields.pop("domains", []),
            guidelines=fields.pop("guidelines", ""),
            **fields,
        )
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
        project = project_update(project=project, domains=fields.pop("domains", None), **fields)
        if guidelines:
            guidelines_save(project=project, body=guidelines, user=request.user)
        return Response(ProjectOutput(project).data)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(ApiError, description="The project has conversations."),
        }
    )
    def delete(self, request, slug: str):
        project = self._admin_project(request, slug)
        project_delete(project=project)
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
        version = guidelines_save(
            project=project, body=data.validated_data["body"], user=request.user
        )
        return Response(
            {"version": version.version, "body": version.body, "created_at": version.created_at},
            status=status.HTTP_201_CREATED,
        )
