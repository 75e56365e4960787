"""AI candidates for ranking projects (design.md contract 7): the project's AI endpoint
writes `candidates_k` replies per prompt that came without candidates, at the project's
`candidates_temperature`, as a background job.

The job is an `ImportBatch` of kind "candidates": the same status, progress and
line-by-line errors the import pages and `GET /api/projects/{slug}/imports/{id}/` show,
run by the one job engine (core.jobs: claim, heartbeat, attempts, beat, cancel).
Each prompt is all or nothing: its candidates are saved together, only when at least two
distinct replies came back, and only while it still has none (a rerun, or a run that
takes over from a dead one, fills the gaps). The HTTP calls hold no lock and no
transaction.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from core.jobs import (
    JobBusy,
    JobHeartbeat,
    JobKind,
    job_claim,
    job_enqueue,
    job_finish,
    job_kind_register,
)
from labeling.models import Candidate, ImportBatch, Project, Prompt, User
from labeling.services import text_key
from labeling.services.import_rows import MAX_CANDIDATES

from .authoring import ConversationError
from .drafts import DraftError, ai_drafts_available, chat_completion, draft_endpoint

logger = logging.getLogger(__name__)

MESSAGES_KEPT = 200

CANDIDATE_JOBS = job_kind_register(
    JobKind(
        name="AI candidates job",
        model=ImportBatch,
        task="conversations.tasks.candidates_generate",
        queued=ImportBatch.Status.QUEUED,
        running=ImportBatch.Status.RUNNING,
        failed=ImportBatch.Status.FAILED,
        cancelled=ImportBatch.Status.CANCELLED,
        failure_fields=lambda message: {"errors": [message], "step": ""},
        scope={"kind": ImportBatch.Kind.CANDIDATES},
    )
)


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
    """Queue the generation for every prompt of a ranking project that has no candidates.

    QueueUnavailable (503) when the broker is down: the batch is saved, queued, and celery
    beat sends it once the broker is back."""
    if not project.is_ranking:
        raise CandidatesError("Only a ranking project's prompts have candidates.")
    if not ai_drafts_available(project):
        raise CandidatesError(
            "Turn AI drafts on and set their endpoint and model (or the server's) first."
        )
    # Under the project's row lock: two clicks never queue two jobs for the same prompts.
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).values_list("pk").first()
    # A job whose worker died is taken over by the engine (beat), so it blocks no longer
    # than its recovery does.
    running = (
        CANDIDATE_JOBS.rows().filter(project=project, status__in=CANDIDATE_JOBS.active).first()
    )
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
    job_enqueue(CANDIDATE_JOBS, batch.pk)
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


def candidates_generate_run(*, batch_id: int) -> str | None:
    """The job's body: each waiting prompt gets its candidates or a line in the errors.
    Returns the final status, or None when this delivery has nothing to do (a live run
    owns the job, or it is finished). A cancel stops it before its next prompt; the
    prompts done so far keep their candidates."""
    try:
        batch = job_claim(CANDIDATE_JOBS, batch_id, step=ImportBatch.Step.GENERATING)
    except JobBusy:
        logger.info("AI candidates %s: a live run owns it; this delivery does nothing", batch_id)
        return None
    if batch is None:
        return None
    mine = CANDIDATE_JOBS.mine(batch_id, batch.attempt)
    project = batch.project
    model = draft_endpoint(project).model
    errors: list[str] = list(batch.errors or [])[:MESSAGES_KEPT]
    done, imported = batch.rows_done, batch.rows_imported
    with JobHeartbeat(mine):
        for prompt in prompts_without_candidates(project).order_by("pk").iterator():
            if mine.filter(cancel_requested=True).exists():
                job_finish(CANDIDATE_JOBS, batch_id, batch.attempt, ImportBatch.Status.CANCELLED)
                return ImportBatch.Status.CANCELLED
            try:
                replies = _replies(prompt, project)
                if len(replies) < 2:
                    raise DraftError(f"{len(replies)} distinct replies came back; 2 are needed.")
                imported += int(_save_candidates(prompt, replies, model))
            except DraftError as error:
                if len(errors) < MESSAGES_KEPT:
                    errors.append(f"prompt {prompt.pk}: {error}")
            done += 1
            progress = {"rows_done": done, "rows_read": done, "rows_imported": imported}
            if not mine.update(errors=errors, heartbeat_at=timezone.now(), **progress):
                logger.warning("AI candidates %s: this run was taken over", batch_id)
                return None
    status = ImportBatch.Status.FAILED if errors and not imported else ImportBatch.Status.IMPORTED
    job_finish(CANDIDATE_JOBS, batch_id, batch.attempt, status, step="")
    return status
