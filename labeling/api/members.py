from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.models import Domain, Role, User
from labeling.permissions import ADMIN, api_role
from labeling.selectors import DOMAIN_ORDER, MEMBER_ORDER, domain_list, member_list
from labeling.services import member_save
from labeling.services.members import DOMAIN_NAME_MAX_LENGTH, EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH


class MemberOutput(serializers.ModelSerializer):
    roles = serializers.ListField(child=serializers.CharField())
    labeler_domains: serializers.SlugRelatedField[Domain] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="slug"
    )
    reviewer_domains: serializers.SlugRelatedField[Domain] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="slug"
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "is_active",
            "roles",
            "labeler_domains",
            "reviewer_domains",
        ]


class MemberInput(serializers.Serializer):
    # The user model's own rule, so the API refuses what the schema's pattern refuses.
    username = serializers.CharField(
        max_length=USERNAME_MAX_LENGTH, validators=[User.username_validator]
    )
    email = serializers.EmailField(required=False, allow_blank=True, max_length=EMAIL_MAX_LENGTH)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.values))
    labeler_domains = serializers.ListField(
        child=serializers.CharField(max_length=DOMAIN_NAME_MAX_LENGTH), required=False, default=list
    )
    reviewer_domains = serializers.ListField(
        child=serializers.CharField(max_length=DOMAIN_NAME_MAX_LENGTH), required=False, default=list
    )
    password = serializers.CharField(required=False, write_only=True, allow_blank=True)


class MeApi(APIView):
    @extend_schema(responses=MemberOutput)
    def get(self, request):
        return Response(MemberOutput(request.user).data)


class MemberListApi(ListAPIView):
    """GET: everyone, a page at a time by username (follow `next`); POST: add or update a
    person."""

    permission_classes = [api_role(ADMIN)]
    serializer_class = MemberOutput
    keyset_ordering = MEMBER_ORDER

    def get_queryset(self):
        return member_list()

    @extend_schema(
        request=MemberInput,
        responses={
            201: OpenApiResponse(MemberOutput, description="A new person."),
            200: OpenApiResponse(MemberOutput, description="An existing person, updated."),
        },
    )
    def post(self, request):
        data = MemberInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, created = member_save(
            **{**data.validated_data, "password": data.validated_data.get("password") or None}
        )
        return Response(
            MemberOutput(user).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class DomainOutput(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class DomainListApi(ListAPIView):
    """The domains, a page at a time by slug (follow `next`)."""

    serializer_class = DomainOutput
    keyset_ordering = DOMAIN_ORDER

    def get_queryset(self):
        return domain_list()
