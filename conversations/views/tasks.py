"""The labeler's home: Next task, active leases, drafts, returned work, counts."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from conversations.selectors.tasks import labeler_home as labeler_home_data
from conversations.services import next_task, task_skip
from labeling.forms import SkipForm
from labeling.models import Assignment
from labeling.permissions import LABELER, can_work_on_assignment, role_required
from labeling.selectors import labeler_projects, visible_projects
from labeling.services import TaskError


def _home(request, *, no_task=None):
    home = labeler_home_data(request.user, cursors=request.GET)
    context = {
        **home,
        "projects": labeler_projects(request.user),
        "no_task": no_task,
        "chosen_project": request.POST.get("project", ""),
    }
    template = "conversations/labeler_home.html"
    if request.htmx and request.htmx.target == "next-task":
        template += "#next-task"
    elif request.htmx:
        template += "#work"
    return render(request, template, context, status=400 if home["cursor_error"] else 200)


@role_required(LABELER)
def labeler_home(request):
    return _home(request)


@role_required(LABELER)
@require_POST
def task_next(request):
    project = None
    slug = request.POST.get("project", "").strip()
    if slug:
        # Only a project the person may see; another's name is never echoed back.
        project = get_object_or_404(visible_projects(request.user), slug=slug)
    task = next_task(request.user, project)
    if not task.found:
        return _home(request, no_task=task)
    url = reverse("conversations:editor", args=[task.conversation_id])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@role_required(LABELER)
@require_POST
def task_skip_view(request, assignment_id: int):
    assignment = get_object_or_404(Assignment, pk=assignment_id)
    if not can_work_on_assignment(request.user, assignment):
        raise Http404("No such task.")
    form = SkipForm(request.POST)
    try:
        if not form.is_valid():
            raise TaskError("Say why you skip this task, so the admins can improve it.")
        task_skip(
            user=request.user, assignment_id=assignment.pk, reason=form.cleaned_data["reason"]
        )
        messages.success(request, "Skipped. You will not get this prompt again.")
    except TaskError as error:
        messages.error(request, str(error))
    if request.htmx:
        return _home(request)
    return redirect("conversations:labeler-home")
