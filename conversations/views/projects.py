"""The admin's project list and project dashboard: prompts, leases and conversation counts."""

from django.shortcuts import get_object_or_404, render

from conversations.selectors.projects import project_dashboard, project_list_for_admin
from labeling.models import Project
from labeling.permissions import ADMIN, role_required


@role_required(ADMIN)
def project_list(request):
    return render(
        request, "conversations/project_list.html", {"projects": project_list_for_admin()}
    )


@role_required(ADMIN)
def project_detail(request, slug: str):
    project = get_object_or_404(
        Project.objects.select_related("created_by").prefetch_related("domains"), slug=slug
    )
    return render(
        request,
        "conversations/project_detail.html",
        {"project": project, **project_dashboard(project)},
    )
