"""Admins edit and retire single prompts (imports write them in bulk: imports.py)."""

from django.db import transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from labeling.models import Domain, Prompt

from .counters import PROMPTS, RETIRED, counts_add
from .import_rows import text_key


class PromptError(ApplicationError):
    """A prompt change the rules do not allow; `field` names the field, the message why."""


class PromptStarted(PromptError):
    status = 409
    code = "conflict"


@transaction.atomic
def prompt_update(*, prompt: Prompt, text: str, domain: Domain | None) -> Prompt:
    """Change the text and domain of a prompt nobody has started: once a labeler leased it,
    their conversation begins from this text, so it stays as they saw it."""
    prompt = Prompt.objects.select_for_update().get(pk=prompt.pk)
    if prompt.assignments.exists():
        raise PromptStarted(
            "A labeler has already started this prompt, so its text and domain stay as they "
            "saw them; retire it and import a corrected one instead."
        )
    text = text.strip()
    if not text:
        raise PromptError("required", field="text")
    if prompt.domain_id != (domain.pk if domain else None):
        moved = [PROMPTS, RETIRED] if prompt.retired_at else [PROMPTS]
        counts_add(
            project_id=prompt.project_id,
            changes=[(prompt.domain_id, name, -1) for name in moved]
            + [(domain.pk if domain else None, name, 1) for name in moved],
        )
    prompt.text, prompt.text_key, prompt.domain = text, text_key(text), domain
    prompt.save(update_fields=["text", "text_key", "domain"])
    return prompt


@transaction.atomic
def prompt_retire(*, prompt: Prompt) -> Prompt:
    """Take a prompt out of the pool: nobody is offered it again. A lease running on it
    stays valid until it ends, so a labeler mid-answer can still submit their work."""
    retired = Prompt.objects.filter(pk=prompt.pk, retired_at__isnull=True).update(
        retired_at=timezone.now()
    )
    prompt.refresh_from_db()
    if retired:
        counts_add(project_id=prompt.project_id, changes=[(prompt.domain_id, RETIRED, 1)])
    return prompt
