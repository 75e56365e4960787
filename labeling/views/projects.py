"""Admin screens to create and edit projects, their guidelines and prompt import; the
guidelines page for everyone. The project list and dashboard count conversations, so they
live in conversations.views.projects."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from core.exceptions import form_add_error
from core.jobs import QueueUnavailable
from core.markdown import render_markdown
from labeling.forms import GuidelinesForm, ProjectForm, PromptUploadForm
from labeling.models import Domain, ImportBatch, Project
from labeling.permissions import ADMIN, can_view_project, member_required, role_required
from labeling.services import (
    ImportSource,
    ProjectError,
    guidelines_mark_read,
    guidelines_save,
    project_create,
    project_delete,
    project_update,
    prompts_import_cancel,
    prompts_import_enqueue,
    prompts_preview,
)
from labeling.services.projects import PROJECT_FIELDS
from labeling.uploads import (
    imports_in_background,
    keep_upload,
    kept_upload,
    limit_uploads,
    too_large_message,
)

SESSION_KEY = "prompt-imports"


def _project_form_save(request, form: ProjectForm, project: Project | None):
    data = form.cleaned_data
    fields = {name: data[name] for name in PROJECT_FIELDS if name in data}
    try:
        if project is None:
            return project_create(
                created_by=request.user,
                domains=data["domains"],
                guidelines=request.POST.get("guidelines", ""),
                **{k: v for k, v in fields.items() if k != "name"},
                name=data["name"],
            )
        return project_update(project=project, domains=data["domains"], **fields)
    except ProjectError as error:
        form_add_error(form, error)
        return None


@role_required(ADMIN)
def project_create_view(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = _project_form_save(request, form, None)
        if project:
            messages.success(request, f"Created {project.name}.")
            return redirect("conversations:project-detail", slug=project.slug)
    return render(
        request,
        "labeling/project_form.html",
        {
            "form": form,
            "project": None,
            "guidelines_form": GuidelinesForm(),
            "ai_draft_key_set": bool(settings.AI_DRAFT_API_KEY),
        },
    )


@role_required(ADMIN)
def project_edit(request, slug: str):
    project = get_object_or_404(Project, slug=slug)
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        # The form may have changed the instance in memory; the service saves it.
        saved = _project_form_save(request, form, Project.objects.get(pk=project.pk))
        if saved:
            messages.success(request, "Settings saved.")
            return redirect("conversations:project-detail", slug=saved.slug)
    current = project.guideline_versions.order_by("-version").first()
    return render(
        request,
        "labeling/project_form.html",
        {
            "form": form,
            "project": project,
            "guidelines_form": GuidelinesForm(initial={"body": current.body if current else ""}),
            "guidelines": current,
            "ai_draft_key_set": bool(settings.AI_DRAFT_API_KEY),
        },
    )


@role_required(ADMIN)
@require_POST
def project_guidelines_save(request, slug: str):
    project = get_object_or_404(Project, slug=slug)
    form = GuidelinesForm(request.POST)
    if form.is_valid():
        try:
            version = guidelines_save(
                project=project, body=form.cleaned_data["body"], user=request.user
            )
            messages.success(request, f"Guidelines are at version {version.version}.")
        except ProjectError as error:
            messages.error(request, str(error))
    else:
        messages.error(request, "Guidelines: write something, or keep the current version.")
    return redirect("labeling:project-edit", slug=project.slug)


@role_required(ADMIN)
@require_POST
def project_delete_view(request, slug: str):
    project = get_object_or_404(Project, slug=slug)
    try:
        project_delete(project=project)
    except ProjectError as error:
        messages.error(request, str(error))
        return redirect("labeling:project-edit", slug=project.slug)
    messages.success(request, f"Deleted {project.name}.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("conversations:project-list"))
    return redirect("conversations:project-list")


@member_required
def project_guidelines(request, slug: str):
    """The current guidelines; showing them records that the person read them."""
    project = get_object_or_404(Project.objects.prefetch_related("domains"), slug=slug)
    if not can_view_project(request.user, project):
        raise Http404("No such project.")
    current = project.guideline_versions.order_by("-version").first()
    guidelines_mark_read(user=request.user, project=project)
    return render(
        request,
        "labeling/guidelines.html",
        {
            "project": project,
            "guidelines": current,
            "body": render_markdown(current.body) if current else "",
        },
    )


# Import: upload → preview and report → confirm ----------------------------------------


@csrf_exempt
@role_required(ADMIN)
def prompt_upload(request, slug: str):
    # The size limit must be in place before anything (the CSRF check included) reads
    # the body; the CSRF check then runs as usual.
    limit_uploads(request)
    return _prompt_upload(request, slug)


@csrf_protect
def _prompt_upload(request, slug: str):
    project = get_object_or_404(Project, slug=slug)
    form = PromptUploadForm(request.POST or None, request.FILES or None, project=project)
    context = {"project": project, "form": form}
    if request.method == "POST":
        if request.upload_too_large:
            form.errors.clear()
            form.add_error("file", too_large_message())
            return render(request, "labeling/prompt_import.html", context, status=413)
        if form.is_valid():
            uploaded = form.cleaned_data["file"]
            path = keep_upload(uploaded)
            on_duplicate = form.cleaned_data["on_duplicate"]
            domain = form.cleaned_data["domain"]
            if imports_in_background(uploaded.size):
                # Even checking a file this large could outlive the request: the worker
                # checks and imports it (all or nothing) while the progress page shows it.
                try:
                    batch = prompts_import_enqueue(
                        project=project,
                        upload=path,
                        file_name=uploaded.name,
                        user=request.user,
                        on_duplicate=on_duplicate,
                        default_domain=domain,
                    )
                except QueueUnavailable as down:
                    return queue_down_page(request, down)
                return background_import_page(request, uploaded, batch)
            report = prompts_preview(
                project=project,
                source=ImportSource(name=uploaded.name, path=path),
                on_duplicate=on_duplicate,
                default_domain=domain,
            )
            pending = request.session.get(SESSION_KEY, {})
            pending[path.name] = {
                "project": project.pk,
                "name": uploaded.name,
                "on_duplicate": on_duplicate,
                "domain": domain.slug if domain else "",
                "rows": report.rows_read,
            }
            request.session[SESSION_KEY] = pending
            context.update(report=report, token=path.name)
    return render(request, "labeling/prompt_import.html", context)


@role_required(ADMIN)
@require_POST
def prompt_import_confirm(request, slug: str):
    """Queue the previewed file for a worker and show the batch's progress page."""
    project = get_object_or_404(Project, slug=slug)
    token = request.POST.get("token", "")
    pending = request.session.get(SESSION_KEY, {})
    entry = pending.pop(token, None)
    request.session[SESSION_KEY] = pending
    path = kept_upload(token)
    if not entry or entry["project"] != project.pk or path is None:
        messages.error(request, "That upload is no longer available: please upload the file again.")
        return redirect("labeling:prompt-upload", slug=project.slug)
    try:
        batch = prompts_import_enqueue(
            project=project,
            upload=path,
            file_name=entry["name"],
            user=request.user,
            on_duplicate=entry["on_duplicate"],
            rows_total=entry.get("rows", 0),
            default_domain=Domain.objects.filter(slug=entry.get("domain")).first()
            if entry.get("domain")
            else None,
        )
    except QueueUnavailable as down:
        return queue_down_page(request, down)
    return redirect("labeling:import-batch", slug=project.slug, batch_id=batch.pk)


def background_import_page(request, uploaded, batch: ImportBatch):
    """A file too large to import in the request went to a worker: its progress page."""
    messages.info(
        request,
        f"{uploaded.name} is {filesizeformat(uploaded.size)}: it is checked and "
        "imported in the background. If any line is wrong nothing is imported, "
        "and the errors show here.",
    )
    return redirect("labeling:import-batch", slug=batch.project.slug, batch_id=batch.pk)


def queue_down_page(request, down: QueueUnavailable):
    """The batch is saved and queued but its task could not be sent: its progress page,
    with the message, as a 503; it starts by itself once the broker is back."""
    batch = ImportBatch.objects.select_related("project", "created_by").get(pk=down.extra["job"])
    messages.warning(request, str(down))
    context = {"project": batch.project, "batch": batch}
    return render(request, "labeling/import_batch.html", context, status=503)


@role_required(ADMIN)
def import_batch_detail(request, slug: str, batch_id: int):
    """A batch's progress while a worker runs it (htmx polls the status partial), then
    its result: imported, or failed with every line-numbered error."""
    batch = get_object_or_404(
        ImportBatch.objects.select_related("project", "created_by"),
        pk=batch_id,
        project__slug=slug,
    )
    template = "labeling/import_batch.html"
    if request.htmx:
        template += "#status"
    return render(request, template, {"project": batch.project, "batch": batch})


@role_required(ADMIN)
@require_POST
def import_batch_cancel(request, slug: str, batch_id: int):
    """Stop a queued or running import; nothing of it is saved."""
    batch = get_object_or_404(ImportBatch, pk=batch_id, project__slug=slug)
    batch = prompts_import_cancel(batch=batch)
    if batch.is_active:
        messages.info(request, "Stopping the import after the current rows: nothing is saved.")
    url = reverse("labeling:import-batch", args=[slug, batch.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)
