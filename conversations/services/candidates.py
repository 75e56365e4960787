"""AI candidates for ranking projects (design.md contract 7): the project's AI endpoint
writes `candidates_k` replies per prompt that came without candidates, at the project's
`candidates_temperature`, as a background job.

The job is an `ImportBatch` of kind "candidates": the same status, progress and
line-by-line errors the import pages and `GET /api/projects/{slug}/imports/{id}/` show.
Each prompt is all or nothing: its candidates are saved together, only when at least two
distinct replies came back, and only while it still has none (a rerun fills the gaps).
The HTTP calls hold no lock and no transaction.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from labeling.models import Candidate, ImportBatch, Project, Prompt, User
from labeling.services import text_key
from labeling.services.import_rows import MAX_CANDIDATES

from .authoring import ConversationError
from .drafts import DraftError, ai_drafts_available, chat_completion, draft_endpoint

MESSAGES_KEPT = 200
# A job whose worker died stops blocking new runs after this long. Two runs at once are only
# wasteful, never wrong: a prompt's candidates are saved under its row lock while it has none.
JOB_BLOCKS_FOR = timedelta(hours=24)


class CandidatesError(ConversationError):
    """Generation the project cannot run; the message says why."""


class CandidatesRunning(CandidatesError):
    """A generation for the project is already queued or running."""

    status = 409
    code = "conflict"


def prompts_without_candidates(project: Project) -> QuerySet[Prompt]:
    return Prompt.objects.filter(project=project, retired_at__isnull=True).exclude(
        Exists(Candidate.objects.filter(prompt=OuterRef("pk")))
    )


@transaction.atomic
def candidates_generate_start(*, project: Project, user: User | None) -> ImportBatch:
    """Queue the generation for every prompt of a ranking project that has no candidates."""
    from conversations.tasks import candidates_generate

    if not project.is_ranking:
        raise CandidatesError("Only a ranking project's prompts have candidates.")
    if not ai_drafts_available(project):
        raise CandidatesError(
            "Turn AI drafts on and set their endpoint and model (or the server's) first."
        )
    # Under the project's row lock: two clicks never queue two jobs for the same prompts.
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).values_list("pk").first()
    running = ImportBatch.objects.filter(
        project=project,
        kind=ImportBatch.Kind.CANDIDATES,
        status__in=[ImportBatch.Status.QUEUED, ImportBatch.Status.RUNNING],
        created_at__gt=timezone.now() - JOB_BLOCKS_FOR,
    ).first()
    if running is not None:
        raise CandidatesRunning(f"AI candidates are already being generated (batch {running.pk}).")
    waiting = prompts_without_candidates(project).count()
    if not waiting:
        raise CandidatesError("Every prompt of this project already has its candidates.")
    batch = ImportBatch.objects.create(
        project=project,
        kind=ImportBatch.Kind.CANDIDATES,
        status=ImportBatch.Status.QUEUED,
        file_name=f"AI candidates: {project.candidates_k} per prompt",
        created_by=user,
        rows_total=waiting,
    )
    transaction.on_commit(lambda: candidates_generate.delay(batch.pk))
    return batch


def _prompt_messages(prompt: Prompt, project: Project) -> list[dict[str, str]]:
    """The prompt as the labeler sees it, in OpenAI's message format."""
    messages = []
    system = project.fixed_system_message or (
        prompt.system if project.system_message_allowed else ""
    )
    if system:
        messages.append({"role": "system", "content": system})
    messages += [{"role": m["role"], "content": m["content"]} for m in prompt.messages or []]
    messages.append({"role": "user", "content": prompt.text})
    return messages


def _replies(prompt: Prompt, project: Project) -> list[str]:
    """Up to k distinct replies (whitespace aside); raises DraftError on the first failure."""
    endpoint = draft_endpoint(project)
    replies: dict[str, str] = {}
    for _ in range(min(project.candidates_k, MAX_CANDIDATES)):
        reply = chat_completion(
            _prompt_messages(prompt, project),
            base_url=endpoint.base_url,
            model=endpoint.model,
            api_key=settings.AI_DRAFT_API_KEY,
            timeout=settings.AI_DRAFT_TIMEOUT_SECONDS,
            temperature=project.candidates_temperature,
            max_tokens=endpoint.max_tokens,
        )
        if reply.text.strip():
            replies.setdefault(text_key(reply.text), reply.text)
    return list(replies.values())


@transaction.atomic
def _save_candidates(prompt: Prompt, replies: list[str], model: str) -> bool:
    """Save a prompt's candidates unless it gained some meanwhile (under its row lock)."""
    Prompt.objects.select_for_update(no_key=True).filter(pk=prompt.pk).values_list("pk").first()
    if Candidate.objects.filter(prompt=prompt).exists():
        return False
    Candidate.objects.bulk_create(
        Candidate(prompt=prompt, position=position, content=reply, model=model)
        for position, reply in enumerate(replies)
    )
    return True


def candidates_generate_run(*, batch_id: int) -> ImportBatch:
    """The job's body: each waiting prompt gets its candidates or a line in the errors."""
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != ImportBatch.Status.QUEUED:
            return batch
        batch.status, batch.step = ImportBatch.Status.RUNNING, ImportBatch.Step.GENERATING
        batch.save(update_fields=["status", "step"])
    project = batch.project
    model = draft_endpoint(project).model
    errors: list[str] = []
    for prompt in prompts_without_candidates(project).order_by("pk").iterator():
        try:
            replies = _replies(prompt, project)
            if len(replies) < 2:
                raise DraftError(f"{len(replies)} distinct replies came back; 2 are needed.")
            if _save_candidates(prompt, replies, model):
                batch.rows_imported += 1
        except DraftError as error:
            if len(errors) < MESSAGES_KEPT:
                errors.append(f"prompt {prompt.pk}: {error}")
        batch.rows_done += 1
        batch.rows_read = batch.rows_done
        batch.errors = errors
        batch.save(update_fields=["rows_done", "rows_read", "rows_imported", "errors"])
    failed = bool(errors) and not batch.rows_imported
    batch.status = ImportBatch.Status.FAILED if failed else ImportBatch.Status.IMPORTED
    batch.finished_at = timezone.now()
    batch.save(update_fields=["status", "finished_at"])
    return batch
