from django.urls import path

from . import api, prompt_api, task_api

urlpatterns = [
    path("me/", api.MeApi.as_view(), name="api-me"),
    path("members/", api.MemberListApi.as_view(), name="api-members"),
    path("domains/", api.DomainListApi.as_view(), name="api-domains"),
    path("tasks/next/", task_api.TaskNextApi.as_view(), name="api-task-next"),
    path("tasks/<int:assignment_id>/skip/", task_api.TaskSkipApi.as_view(), name="api-task-skip"),
    path("projects/", task_api.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", task_api.ProjectDetailApi.as_view(), name="api-project"),
    path(
        "projects/<slug:slug>/guidelines/",
        task_api.GuidelinesApi.as_view(),
        name="api-project-guidelines",
    ),
    path("projects/<slug:slug>/prompts/", prompt_api.PromptListApi.as_view(), name="api-prompts"),
    path(
        "projects/<slug:slug>/prompts/import/",
        prompt_api.PromptImportApi.as_view(),
        name="api-prompts-import",
    ),
    path(
        "projects/<slug:slug>/imports/<int:batch_id>/",
        prompt_api.ImportBatchApi.as_view(),
        name="api-import-batch",
    ),
]
