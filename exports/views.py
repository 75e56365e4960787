"""Export screens: the form and job list, a job's progress and files, the token preview."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from core.jobs import QueueUnavailable
from core.keyset import keyset_page_or_first
from labeling.permissions import ADMIN, can_view_export_job, role_required

from .forms import ExportForm, TokenizerUploadForm
from .models import ExportJob
from .selectors import EXPORT_JOB_ORDER, export_job_detail, export_jobs
from .services import (
    ExportConfigError,
    ExportError,
    artifact_media_type,
    export_artifact_open,
    export_estimate,
    export_job_cancel,
    export_job_create,
    export_job_preview,
    export_pair_preview,
    export_preview,
    tokenizer_asset_upload,
)
from .services.archive import export_zip_stream


def _job_or_404(request, job_id: int) -> ExportJob:
    try:
        job = export_job_detail(job_id)
    except ExportJob.DoesNotExist:
        raise Http404("No such export.") from None
    if not can_view_export_job(request.user, job):
        raise Http404("No such export.")
    return job


JOB_PAGE_SIZE = 20


def _list_context(
    request, form: ExportForm, upload_form: TokenizerUploadForm | None = None
) -> dict:
    jobs = keyset_page_or_first(
        export_jobs(),
        ordering=EXPORT_JOB_ORDER,
        cursor=request.GET.get("cursor", ""),
        size=JOB_PAGE_SIZE,
    )
    return {
        "form": form,
        "upload_form": upload_form or TokenizerUploadForm(),
        "jobs": jobs,
        "jobs_active": any(job.is_active for job in jobs),
    }


@role_required(ADMIN)
def export_list(request):
    """The form on the left, the jobs on the right; the job list refreshes itself via htmx."""
    if request.htmx and request.GET.get("part") == "jobs":
        return render(
            request, "exports/export_list.html#job-list", _list_context(request, ExportForm())
        )
    return render(request, "exports/export_list.html", _list_context(request, ExportForm()))


@role_required(ADMIN)
@require_POST
def export_create(request):
    form = ExportForm(request.POST)
    if not form.is_valid():
        return render(request, "exports/export_list.html", _list_context(request, form), status=400)
    try:
        job = export_job_create(config=form.export_config(), created_by=request.user)
    except ExportConfigError as error:
        for name, message in error.errors.items():
            form.add_error(name if name in form.fields else None, message)
        return render(request, "exports/export_list.html", _list_context(request, form), status=400)
    except QueueUnavailable as down:
        # The job is saved and queued (it shows in the list); beat starts it later.
        messages.warning(request, str(down))
        return render(request, "exports/export_list.html", _list_context(request, form), status=503)
    messages.success(request, f"Export #{job.id} is queued.")
    return redirect("exports:export-detail", job_id=job.id)


FIX_THE_FORM = "Fix the settings marked in the form"


def _field_errors(form: ExportForm) -> list[dict[str, str]]:
    """The form's errors with the id of the input each belongs to, so the page can mark
    those fields and link to them (an htmx fragment does not re-render the form)."""
    return [
        {
            "id": form[name].id_for_label if name in form.fields else "",
            "label": str(form[name].label) if name in form.fields else "Settings",
            "message": " ".join(str(message) for message in messages),
        }
        for name, messages in form.errors.items()
    ]


@role_required(ADMIN)
@require_GET
def export_preview_view(request):
    """The token preview for the form's current settings, before any job runs."""
    form = ExportForm(request.GET)
    context: dict[str, Any] = {"form": form, "examples": None, "preview_error": ""}
    if form.is_valid():
        try:
            context["examples"] = export_preview(config=form.export_config())
            context["pairs"] = export_pair_preview(config=form.export_config())
        except (ExportError, ExportConfigError) as error:
            context["preview_error"] = str(error)
    else:
        context["preview_error"] = f"{FIX_THE_FORM} to see a preview."
        context["field_errors"] = _field_errors(form)
    if request.htmx:
        return render(request, "exports/export_list.html#preview", context)
    return render(request, "exports/export_list.html", {**_list_context(request, form), **context})


@role_required(ADMIN)
@require_GET
def export_estimate_view(request):
    """How many conversations (and about how many tokens) the form's settings export, as
    the settings change."""
    form = ExportForm(request.GET)
    context: dict[str, Any] = {"estimate": None, "estimate_error": "", "field_errors": []}
    if form.is_valid():
        try:
            context["estimate"] = export_estimate(config=form.export_config())
        except (ExportError, ExportConfigError) as error:
            context["estimate_error"] = str(error)
    else:
        context["estimate_error"] = f"{FIX_THE_FORM} to see what matches."
        context["field_errors"] = _field_errors(form)
    if request.htmx:
        return render(request, "exports/export_list.html#estimate", context)
    return render(request, "exports/export_list.html", {**_list_context(request, form), **context})


@role_required(ADMIN)
def export_detail(request, job_id: int):
    job = _job_or_404(request, job_id)
    counts = (job.manifest or {}).get("counts", {})
    per_split = counts.get("per_split", {})
    preference = counts.get("preference") or {}
    context = {
        "job": job,
        # In the export's source order (the database's JSON keeps no key order).
        "pairs_per_source": [
            (source, preference.get("per_source", {}).get(source, 0))
            for source in preference.get("sources", [])
        ],
        "seconds_left": job.seconds_left(timezone.now()),
        # A published export with a split that holds nothing (e.g. validation fraction 0).
        "empty_splits": [name for name, count in per_split.items() if not count]
        if job.status == ExportJob.Status.SUCCEEDED
        else [],
    }
    if request.htmx and request.GET.get("part") == "progress":
        if not job.is_active:
            # The job just finished: reload once to show its files and preview.
            return HttpResponseClientRedirect(request.path)
        return render(request, "exports/export_detail.html#progress", context)
    return render(request, "exports/export_detail.html", context)


@role_required(ADMIN)
@require_GET
def export_job_preview_view(request, job_id: int):
    job = _job_or_404(request, job_id)
    context: dict[str, Any] = {"job": job, "examples": None, "preview_error": ""}
    try:
        context["examples"] = export_job_preview(job=job)
    except (ExportError, ExportConfigError) as error:
        context["preview_error"] = str(error)
    return render(request, "exports/export_list.html#preview", context)


@role_required(ADMIN)
@require_POST
def export_cancel(request, job_id: int):
    job = export_job_cancel(job=_job_or_404(request, job_id))
    if job.is_active:
        messages.info(request, "Stopping the export after the current chunk.")
    if request.htmx:
        return HttpResponseClientRedirect(request.build_absolute_uri(job_url(job)))
    return redirect(job_url(job))


def job_url(job: ExportJob) -> str:
    return reverse("exports:export-detail", kwargs={"job_id": job.id})


@role_required(ADMIN)
@require_GET
def artifact_download(request, job_id: int, name: str):
    """Stream one published file after the permission check."""
    job = _job_or_404(request, job_id)
    stream, url = export_artifact_open(job=job, name=name)
    if url:
        return redirect(url)
    if stream is None:
        raise Http404("No such file in this export.")
    return FileResponse(
        stream,
        as_attachment=True,
        filename=f"export-{job.id}-{name}",
        content_type=artifact_media_type(name),
    )


@role_required(ADMIN)
@require_GET
def export_zip_download(request, job_id: int):
    """The whole published export as one zip, streamed as it is compressed."""
    job = _job_or_404(request, job_id)
    if job.status != ExportJob.Status.SUCCEEDED:
        raise Http404("This export has no published files.")
    response = StreamingHttpResponse(export_zip_stream(job=job), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="export-{job.id}.zip"'
    return response


@role_required(ADMIN)
@require_POST
def tokenizer_upload(request):
    form = TokenizerUploadForm(request.POST, request.FILES)
    if form.is_valid():
        files = {upload.name: upload for upload in request.FILES.getlist("files")}
        try:
            asset = tokenizer_asset_upload(
                kind=form.cleaned_data["kind"],
                label=form.cleaned_data["label"],
                files=files,
                uploaded_by=request.user,
            )
        except ExportConfigError as error:
            form.add_error("files", "; ".join(error.errors.values()))
        else:
            messages.success(request, f"Tokenizer “{asset.label}” is ready to use.")
            return redirect("exports:export-list")
    return render(
        request, "exports/export_list.html", _list_context(request, ExportForm(), form), status=400
    )
