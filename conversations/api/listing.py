"""`GET /api/conversations/browse/`: the conversations page as an API, same filters, same rows."""

from typing import cast

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.reverse import reverse

from conversations.models import ConversationState
from conversations.selectors.listing import NO_DOMAIN, ConversationFilters, conversation_list
from labeling.models import User
from labeling.permissions import ADMIN, REVIEWER, api_role


class ConversationListFilter(serializers.Serializer):
    state = serializers.ChoiceField(choices=ConversationState.choices, required=False)
    project = serializers.IntegerField(required=False, min_value=1, help_text="A project id.")
    domain = serializers.CharField(
        required=False, help_text=f'A domain slug, or "{NO_DOMAIN}" for prompts without one.'
    )
    labeler = serializers.IntegerField(required=False, min_value=1, help_text="A person's id.")
    reviewer = serializers.IntegerField(
        required=False, min_value=1, help_text="Reviewed by this person (id)."
    )
    submitted_from = serializers.DateField(required=False)
    submitted_to = serializers.DateField(required=False)
    min_score = serializers.FloatField(required=False, min_value=1, max_value=5)
    max_score = serializers.FloatField(required=False, min_value=1, max_value=5)

    def validate(self, attrs):
        filters = ConversationFilters(
            state=attrs.get("state"),
            project_id=attrs.get("project"),
            domain=attrs.get("domain"),
            labeler_id=attrs.get("labeler"),
            reviewer_id=attrs.get("reviewer"),
            submitted_from=attrs.get("submitted_from"),
            submitted_to=attrs.get("submitted_to"),
            min_score=attrs.get("min_score"),
            max_score=attrs.get("max_score"),
        )
        errors = filters.range_errors()
        if errors:
            raise serializers.ValidationError(errors)
        return filters


class ConversationListItem(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    project = serializers.CharField(source="project.slug")
    domain = serializers.CharField(source="prompt.domain.slug", default=None, allow_null=True)
    labeler = serializers.CharField(source="labeler.username", default=None, allow_null=True)
    state = serializers.CharField()
    prompt_start = serializers.CharField(allow_null=True, help_text="null without a prompt")
    submitted_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    mean_score = serializers.FloatField(allow_null=True)
    reviewers = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    def get_reviewers(self, conversation) -> list[str]:
        names = [review.reviewer.username for review in conversation.reviews.all()]
        return list(dict.fromkeys(names))

    def get_history(self, conversation) -> str:
        return reverse(
            "api-conversation-history", args=[conversation.pk], request=self.context["request"]
        )


@extend_schema(parameters=[ConversationListFilter])
class ConversationBrowseApi(ListAPIView):
    """Every conversation an admin may read, or a reviewer in their reviewer domains,
    newest first, filtered like the conversations page. Paginated by cursor (follow `next`)."""

    permission_classes = [api_role(ADMIN, REVIEWER)]
    serializer_class = ConversationListItem

    def get_queryset(self):
        query = ConversationListFilter(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        user = cast(User, self.request.user)  # api_role admits signed-in people only
        return conversation_list(user=user, filters=query.validated_data)
