from django.urls import path

from . import api

urlpatterns = [
    path("me/", api.MeApi.as_view(), name="api-me"),
    path("members/", api.MemberListApi.as_view(), name="api-members"),
    path("domains/", api.DomainListApi.as_view(), name="api-domains"),
]
