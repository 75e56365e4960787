"""The admin's project list and project dashboard: prompts, leases and conversation counts."""

from django.shortcuts import get_object_or_404, render

from conversations.selectors.projects import project_dashboard, project_list_for_admin
from core.keyset import keyset_page_or_first
from labeling.models import Project
from labeling.permissions import ADMIN, role_required
from labeling.selectors import PROJECT_ORDER

PAGE_SIZE = 50


@role_required(ADMIN)
def project_list(request):
    page = keyset_page_or_first(
        project_list_for_admin(),
        ordering=PROJECT_ORDER,
        cursor=request.GET.get("cursor", ""),
        size=PAGE_SIZE,
    )
    return render(request, "conversations/project_list.html", {"projects": page})


@role_required(ADMIN)
def project_detail(request, slug: str):
    project = get_object_or_404(
        Project.objects.select_related("created_by").prefetch_related("domains"), slug=slug
    )
    dashboard = project_dashboard(project, cursors=request.GET)
    return render(
        request,
        "conversations/project_detail.html",
        {"project": project, **dashboard},
        status=400 if dashboard["cursor_error"] else 200,
    )
