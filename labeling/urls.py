from django.urls import path

from .views import members, projects, prompts

app_name = "labeling"

urlpatterns = [
    path("people/", members.people, name="people"),
    path("people/<int:user_id>/", members.person_edit, name="person-edit"),
    path("people/domains/", members.domain_create, name="domain-create"),
    path("projects/new/", projects.project_create_view, name="project-create"),
    path("projects/<slug:slug>/edit/", projects.project_edit, name="project-edit"),
    path(
        "projects/<slug:slug>/guidelines/edit/",
        projects.project_guidelines_save,
        name="project-guidelines-save",
    ),
    path("projects/<slug:slug>/delete/", projects.project_delete_view, name="project-delete"),
    path("projects/<slug:slug>/guidelines/", projects.project_guidelines, name="guidelines"),
    path("projects/<slug:slug>/import/", projects.prompt_upload, name="prompt-upload"),
    path("projects/<slug:slug>/prompts/", prompts.prompt_list, name="prompt-list"),
    path(
        "projects/<slug:slug>/prompts/<int:prompt_id>/",
        prompts.prompt_edit,
        name="prompt-edit",
    ),
    path(
        "projects/<slug:slug>/prompts/<int:prompt_id>/retire/",
        prompts.prompt_retire_view,
        name="prompt-retire",
    ),
    path(
        "projects/<slug:slug>/import/confirm/",
        projects.prompt_import_confirm,
        name="prompt-import-confirm",
    ),
    path(
        "projects/<slug:slug>/imports/<int:batch_id>/",
        projects.import_batch_detail,
        name="import-batch",
    ),
    path(
        "projects/<slug:slug>/imports/<int:batch_id>/cancel/",
        projects.import_batch_cancel,
        name="import-batch-cancel",
    ),
]
