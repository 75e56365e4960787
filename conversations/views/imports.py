"""The admin's page for importing finished conversations: the CLI's service in the browser."""

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from conversations.models import ConversationState
from conversations.services import ConversationImportError, conversations_import
from conversations.services.import_jobs import conversations_import_enqueue
from conversations.services.importing import FORMATS, STATES
from core.jobs import QueueUnavailable
from labeling.models import Project
from labeling.permissions import ADMIN, role_required
from labeling.uploads import imports_in_background, keep_upload, limit_uploads, too_large_message
from labeling.views.projects import background_import_page, queue_down_page


class ConversationImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL, UTF-8: one conversation per line.")
    format = forms.ChoiceField(
        choices=[(f, f) for f in FORMATS],
        initial="messages",
        help_text="messages: the export's rows (structured turns included); oasst: OpenAssistant trees.",
    )
    state = forms.ChoiceField(
        choices=[(s, s) for s in STATES], initial=ConversationState.SUBMITTED.value
    )


@csrf_exempt
@role_required(ADMIN)
def conversation_import(request, slug: str):
    """GET the form; POST imports the file, or lists every bad line and imports nothing.
    A file over IMPORT_SYNC_MAX_BYTES goes to a worker: the POST opens its progress page."""
    # The size limit must be in place before anything (the CSRF check included) reads
    # the body; the CSRF check then runs as usual.
    limit_uploads(request)
    return _conversation_import(request, slug)


@csrf_protect
def _conversation_import(request, slug: str):
    project = get_object_or_404(Project, slug=slug)
    form = ConversationImportForm(request.POST or None, request.FILES or None)
    errors: list[str] = []
    if request.method == "POST" and request.upload_too_large:
        form.errors.clear()
        context = {"project": project, "form": form, "errors": [too_large_message()]}
        return render(request, "conversations/import.html", context, status=413)
    if request.method == "POST" and form.is_valid():
        uploaded = form.cleaned_data["file"]
        name = Path(uploaded.name).name
        if uploaded.size > settings.UPLOAD_MAX_BYTES:
            errors = [too_large_message(uploaded.size)]
        elif imports_in_background(uploaded.size):
            try:
                batch = conversations_import_enqueue(
                    project=project,
                    upload=keep_upload(uploaded, prefix="conversations"),
                    file_name=name,
                    user=request.user,
                    file_format=form.cleaned_data["format"],
                    state=form.cleaned_data["state"],
                )
            except QueueUnavailable as down:
                return queue_down_page(request, down)
            return background_import_page(request, uploaded, batch)
        else:
            try:
                result = conversations_import(
                    project=project,
                    stream=uploaded.open("rb"),
                    file_name=name,
                    file_format=form.cleaned_data["format"],
                    state=form.cleaned_data["state"],
                    created_by=request.user,
                )
            except ConversationImportError as error:
                errors = error.errors
            else:
                messages.success(
                    request,
                    f"Imported {result.imported} conversations from {name}"
                    + (
                        f"; {result.skipped_existing} already imported, skipped."
                        if result.skipped_existing
                        else "."
                    ),
                )
                return redirect("conversations:project-detail", slug=project.slug)
    return render(
        request,
        "conversations/import.html",
        {"project": project, "form": form, "errors": errors},
    )
