from django.urls import path

from . import views

app_name = "labeling"

urlpatterns = [
    path("people/", views.people, name="people"),
    path("people/<int:user_id>/", views.person_edit, name="person-edit"),
    path("people/domains/", views.domain_create, name="domain-create"),
    path("tasks/", views.labeler_home, name="labeler-home"),
    path("projects/", views.project_list, name="project-list"),
]
