from __future__ import annotations

from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.models import Domain, Role, User
from labeling.permissions import ADMIN, api_role
from labeling.selectors import domain_list, member_list
from labeling.services import member_save


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
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(required=False, allow_blank=True)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.values))
    labeler_domains = serializers.ListField(
        child=serializers.CharField(), required=False, default=list
    )
    reviewer_domains = serializers.ListField(
        child=serializers.CharField(), required=False, default=list
    )
    password = serializers.CharField(required=False, write_only=True, allow_blank=True)


class MeApi(APIView):
    @extend_schema(responses=MemberOutput)
    def get(self, request):
        return Response(MemberOutput(request.user).data)


class MemberListApi(APIView):
    permission_classes = [api_role(ADMIN)]

    @extend_schema(responses=MemberOutput(many=True))
    def get(self, request):
        return Response(MemberOutput(member_list(), many=True).data)

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


class DomainListApi(APIView):
    @extend_schema(responses=DomainOutput(many=True))
    def get(self, request):
        return Response(DomainOutput(domain_list(), many=True).data)
