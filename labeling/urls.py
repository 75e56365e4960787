from django.urls import path

from . import project_views, task_views, views

app_name = "labeling"

urlpatterns = [
    path("people/", views.people, name="people"),
    path("people/<int:user_id>/", views.person_edit, name="person-edit"),
    path("people/domains/", views.domain_create, name="domain-create"),
    path("tasks/", task_views.labeler_home, name="labeler-home"),
    path("tasks/next/", task_views.task_next, name="task-next"),
    path("tasks/<int:assignment_id>/skip/", task_views.task_skip_view, name="task-skip"),
    path("projects/", project_views.project_list, name="project-list"),
    path("projects/new/", project_views.project_create_view, name="project-create"),
    path("projects/<slug:slug>/", project_views.project_detail, name="project-detail"),
    path("projects/<slug:slug>/edit/", project_views.project_edit, name="project-edit"),
    path(
        "projects/<slug:slug>/guidelines/edit/",
        project_views.project_guidelines_save,
        name="project-guidelines-save",
    ),
    path("projects/<slug:slug>/delete/", project_views.project_delete_view, name="project-delete"),
    path("projects/<slug:slug>/guidelines/", project_views.project_guidelines, name="guidelines"),
    path("projects/<slug:slug>/import/", project_views.prompt_upload, name="prompt-upload"),
    path(
        "projects/<slug:slug>/import/confirm/",
        project_views.prompt_import_confirm,
        name="prompt-import-confirm",
    ),
    path(
        "projects/<slug:slug>/imports/<int:batch_id>/",
        project_views.import_batch_detail,
        name="import-batch",
    ),
]
