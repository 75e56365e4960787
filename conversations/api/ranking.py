"""The ranking API (design.md contract 7), in the style of the conversation API: a labeler
reads and saves their ranking with the version edited and submits it; a reviewer reads it
with the models and reorders it. Decisions go through `POST /api/conversations/{id}/reviews/`
like any conversation's (a ranking is one)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.access import conversation_to_review, own_conversation
from conversations.api.editor import STALE_VERSION, VersionInput
from conversations.api.errors import review_error_response
from conversations.models import CandidateFlag, Conversation
from conversations.selectors.ranking import ranking_cards, ranking_conversation
from conversations.services import ReviewError
from conversations.services.candidates import candidates_generate_start
from conversations.services.ranking import ranking_review_reorder, ranking_save, ranking_submit
from core.api_errors import QUEUE_DOWN_RESPONSE, ApiError
from labeling.api.prompts import ImportBatchOutput
from labeling.models import Project
from labeling.permissions import ADMIN, REVIEWER, api_role

ORDER_HELP = "Best first, a list of tie groups of candidate ids: [[3], [1, 4], [2]]."


class CandidateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    letter = serializers.CharField(help_text="A, B, … in the order shown.")
    content = serializers.CharField()
    rank = serializers.IntegerField(allow_null=True, help_text="1 = best; ties share a rank.")
    flags = serializers.ListField(child=serializers.ChoiceField(CandidateFlag.choices))


class ReviewCandidateOutput(CandidateOutput):
    model = serializers.CharField(help_text="The model that wrote it, when known.")


class PromptMessageOutput(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class RankingOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The ranking's conversation id.")
    project = serializers.SlugField()
    state = serializers.CharField()
    version = serializers.IntegerField()
    prompt = PromptMessageOutput(many=True)
    candidates = CandidateOutput(many=True, help_text="In the order this labeler is shown.")
    order = serializers.JSONField(help_text=ORDER_HELP)
    comment = serializers.CharField()
    better_reply = serializers.CharField(help_text="Ranks above every candidate when set.")


class ReviewRankingOutput(RankingOutput):
    candidates = ReviewCandidateOutput(many=True, help_text="Best first, as ranked now.")
    labeler_order = serializers.JSONField(help_text="The order as its labeler submitted it.")
    revision = serializers.IntegerField(allow_null=True, help_text="The current revision.")


def _ranking_out(conversation: Conversation, *, review: bool) -> dict:
    ranking = conversation.ranking
    cards = ranking_cards(conversation, shown="ranked" if review else "presented")
    out = {
        "id": conversation.pk,
        "project": conversation.project.slug,
        "state": conversation.state,
        "version": conversation.version,
        "prompt": [{"role": m.role, "content": m.content} for m in conversation.messages.all()],
        "candidates": [
            {
                "id": card["id"],
                "letter": card["letter"],
                "content": card["candidate"].content,
                "rank": card["rank"],
                "flags": card["flags"],
                **({"model": card["candidate"].model} if review else {}),
            }
            for card in cards
        ],
        "order": ranking.order,
        "comment": ranking.comment,
        "better_reply": ranking.better_reply,
    }
    if review:
        revision = conversation.current_revision
        out["labeler_order"] = ranking.labeler_order
        out["revision"] = revision.number if revision else None
    return out


class RankingSaveInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    order = serializers.JSONField(required=False, help_text=f"{ORDER_HELP} Partial while a draft.")
    flags = serializers.JSONField(
        required=False, help_text='{"<candidate id>": ["unsafe", "wrong"]}'
    )
    comment = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    better_reply = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class ReorderInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    order = serializers.JSONField(help_text=f"{ORDER_HELP} Every candidate exactly once.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class ReorderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    revision = serializers.IntegerField()


BAD_INPUT = OpenApiResponse(ApiError, description="The error names the field (order[1], …).")
NOT_FOUND = OpenApiResponse(ApiError, description="No such ranking of yours.")


class RankingDetailApi(APIView):
    """GET the labeler's ranking; PUT/PATCH the parts that change with the version edited."""

    @extend_schema(responses={200: RankingOutput, 404: NOT_FOUND})
    def get(self, request, conversation_id: int):
        conversation = own_conversation(request.user, ranking_conversation(conversation_id))
        return Response(_ranking_out(conversation, review=False))

    @extend_schema(
        request=RankingSaveInput,
        responses={200: RankingOutput, 400: BAD_INPUT, 404: NOT_FOUND, 409: STALE_VERSION},
    )
    def put(self, request, conversation_id: int):
        own_conversation(request.user, ranking_conversation(conversation_id))
        data = RankingSaveInput(data=request.data)
        data.is_valid(raise_exception=True)
        parts = data.validated_data
        # A stale version raises VersionConflict: the API's handler answers 409.
        ranking_save(
            conversation_id=conversation_id,
            user=request.user,
            expected_version=parts.pop("version"),
            **parts,
        )
        return Response(_ranking_out(ranking_conversation(conversation_id), review=False))

    patch = put


class RankingSubmitApi(APIView):
    """POST {version}: submit for review; 400 names what is missing, 409 a stale version."""

    @extend_schema(
        request=VersionInput,
        responses={200: RankingOutput, 400: BAD_INPUT, 404: NOT_FOUND, 409: STALE_VERSION},
    )
    def post(self, request, conversation_id: int):
        own_conversation(request.user, ranking_conversation(conversation_id))
        data = VersionInput(data=request.data)
        data.is_valid(raise_exception=True)
        ranking_submit(
            conversation_id=conversation_id,
            user=request.user,
            expected_version=data.validated_data["version"],
        )
        return Response(_ranking_out(ranking_conversation(conversation_id), review=False))


class RankingReviewApi(APIView):
    """GET a ranking to review: candidates best first with their models, the labeler's order."""

    permission_classes = [api_role(REVIEWER)]

    @extend_schema(
        responses={
            200: ReviewRankingOutput,
            403: OpenApiResponse(ApiError, description="Your own ranking."),
            404: NOT_FOUND,
        }
    )
    def get(self, request, conversation_id: int):
        conversation_to_review(request.user, conversation_id)
        return Response(_ranking_out(ranking_conversation(conversation_id), review=True))


class RankingReorderApi(APIView):
    """POST {version, order, reason?}: a reviewer's new order, stored as a new revision."""

    permission_classes = [api_role(REVIEWER)]

    @extend_schema(
        request=ReorderInput,
        responses={
            201: ReorderOutput,
            400: BAD_INPUT,
            403: OpenApiResponse(ApiError, description="Your own ranking."),
            404: NOT_FOUND,
            409: STALE_VERSION,
        },
    )
    def post(self, request, conversation_id: int):
        conversation_to_review(request.user, conversation_id)
        ranking_conversation(conversation_id)
        data = ReorderInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            revision = ranking_review_reorder(
                conversation_id=conversation_id,
                reviewer=request.user,
                expected_version=data.validated_data["version"],
                order=data.validated_data["order"],
                reason=data.validated_data.get("reason", ""),
            )
        except ReviewError as error:
            if error.field:  # bad input (RankingError): the standard error naming the field
                raise
            return review_error_response(error)
        version = Conversation.objects.values_list("version", flat=True).get(pk=conversation_id)
        return Response(
            {"id": conversation_id, "version": version, "revision": revision.number}, status=201
        )


class CandidatesGenerateApi(APIView):
    """POST: the project's AI endpoint writes `candidates_k` candidates for every prompt that
    has none, in the background; poll the batch at `GET /api/projects/{slug}/imports/{id}/`."""

    permission_classes = [api_role(ADMIN)]

    @extend_schema(
        request=None,
        responses={
            202: ImportBatchOutput,
            400: OpenApiResponse(
                ApiError,
                description="Not a ranking project, no AI endpoint, or nothing to generate.",
            ),
            404: OpenApiResponse(ApiError, description="No such project."),
            409: OpenApiResponse(ApiError, description="A generation is already running."),
            503: QUEUE_DOWN_RESPONSE,
        },
    )
    def post(self, request, slug: str):
        project = get_object_or_404(Project, slug=slug)
        batch = candidates_generate_start(project=project, user=request.user)
        queued = ImportBatchOutput(batch).data
        return Response(queued, status=202, headers={"Location": queued["url"]})
