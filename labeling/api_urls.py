from django.urls import path

from .api import members, projects, prompts

urlpatterns = [
    path("me/", members.MeApi.as_view(), name="api-me"),
    path("members/", members.MemberListApi.as_view(), name="api-members"),
    path("domains/", members.DomainListApi.as_view(), name="api-domains"),
    path("projects/", projects.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", projects.ProjectDetailApi.as_view(), name="api-project"),
    path(
        "projects/<slug:slug>/guidelines/",
        projects.GuidelinesApi.as_view(),
        name="api-project-guidelines",
    ),
    path("projects/<slug:slug>/prompts/", prompts.PromptListApi.as_view(), name="api-prompts"),
    path(
        "projects/<slug:slug>/prompts/<int:prompt_id>/",
        prompts.PromptDetailApi.as_view(),
        name="api-prompt",
    ),
    path(
        "projects/<slug:slug>/prompts/<int:prompt_id>/retire/",
        prompts.PromptRetireApi.as_view(),
        name="api-prompt-retire",
    ),
    path(
        "projects/<slug:slug>/prompts/import/",
        prompts.PromptImportApi.as_view(),
        name="api-prompts-import",
    ),
    path(
        "projects/<slug:slug>/imports/<int:batch_id>/",
        prompts.ImportBatchApi.as_view(),
        name="api-import-batch",
    ),
    path(
        "projects/<slug:slug>/imports/<int:batch_id>/cancel/",
        prompts.ImportBatchCancelApi.as_view(),
        name="api-import-batch-cancel",
    ),
]
