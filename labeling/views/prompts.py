"""The prompts page of a project: find, edit and retire prompts (admins)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.exceptions import form_add_error
from core.keyset import CursorError, keyset_page
from labeling.forms import PromptEditForm, PromptFilterForm
from labeling.models import Project, Prompt
from labeling.permissions import ADMIN, role_required
from labeling.selectors import prompts_find
from labeling.services.prompts import PromptError, prompt_retire, prompt_update

PAGE_SIZE = 50


@role_required(ADMIN)
def prompt_list(request, slug: str):
    project = get_object_or_404(Project, slug=slug)
    form = PromptFilterForm(request.GET or None, project=project)
    filters = form.cleaned_data if form.is_valid() else {}
    prompts = prompts_find(
        project,
        search=filters.get("q") or "",
        domain=filters.get("domain") or "",
        status=filters.get("status") or "",
        batch=filters.get("batch"),
    )
    try:
        page = keyset_page(
            prompts, ordering=("-pk",), cursor=request.GET.get("cursor", ""), size=PAGE_SIZE
        )
    except CursorError:
        # An edited link: the first page, rather than an error page.
        page = keyset_page(prompts, ordering=("-pk",), cursor="", size=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("cursor", None)
    context = {"project": project, "form": form, "page": page, "query": query.urlencode()}
    if request.htmx:
        return render(request, "labeling/prompt_list.html#results", context)
    return render(request, "labeling/prompt_list.html", context)


@role_required(ADMIN)
def prompt_edit(request, slug: str, prompt_id: int):
    prompt = get_object_or_404(Prompt, pk=prompt_id, project__slug=slug)
    initial = {"text": prompt.text, "domain": prompt.domain.slug if prompt.domain else None}
    form = PromptEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            prompt_update(
                prompt=prompt, text=form.cleaned_data["text"], domain=form.cleaned_data["domain"]
            )
        except PromptError as error:
            form_add_error(form, error)
        else:
            messages.success(request, f"Prompt #{prompt.pk} saved.")
            return redirect("labeling:prompt-list", slug=slug)
    started = prompt.assignments.exists()
    return render(
        request,
        "labeling/prompt_edit.html",
        {"project": prompt.project, "prompt": prompt, "form": form, "started": started},
        status=400 if form.errors else 200,
    )


@role_required(ADMIN)
@require_POST
def prompt_retire_view(request, slug: str, prompt_id: int):
    prompt = get_object_or_404(Prompt, pk=prompt_id, project__slug=slug)
    prompt_retire(prompt=prompt)
    messages.success(request, f"Prompt #{prompt.pk} is retired: nobody will be offered it again.")
    return redirect("labeling:prompt-list", slug=slug)
