"""Prompt imports in the background: queue a kept upload, run it in a worker with progress,
and clear away uploads nobody confirmed.

The worker runs the same `prompts_import` as the CLI. Its first pass (validating every
row) runs outside any transaction, so progress written after each chunk of 1,000 rows
commits at once and the page polling the batch sees it, on SQLite as on PostgreSQL. The
second pass saves every prompt in one transaction (all or nothing); on SQLite that
transaction holds the database's only write lock, so no progress can be written during
it, and the page shows it as one final step ("saving") instead of a figure.
"""

import logging
import time
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from config.nul import without_nul
from core.exceptions import ApplicationError
from core.jobs import (
    JobBusy,
    JobHeartbeat,
    JobKind,
    JobLost,
    job_cancel,
    job_claim,
    job_enqueue,
    job_finish,
    job_kind_of,
    job_kind_register,
)
from labeling.models import Domain, ImportBatch, Project, User
from labeling.uploads import kept_upload, tmp_dir

from .imports import ON_DUPLICATE, ImportCancelled, ImportSource, prompts_import

logger = logging.getLogger(__name__)

STALE_UPLOAD_AGE = timedelta(hours=24)


PROMPT_IMPORTS = job_kind_register(
    JobKind(
        name="prompt import",
        model=ImportBatch,
        task="labeling.tasks.run_prompt_import",
        queued=ImportBatch.Status.QUEUED,
        running=ImportBatch.Status.RUNNING,
        failed=ImportBatch.Status.FAILED,
        cancelled=ImportBatch.Status.CANCELLED,
        failure_fields=lambda message: {"errors": [message], "step": "", "upload_name": ""},
        scope={"kind": ImportBatch.Kind.PROMPTS},
    )
)


@transaction.atomic
def prompts_import_enqueue(
    *,
    project: Project,
    upload: Path,
    file_name: str,
    user: User | None,
    on_duplicate: str = "skip",
    rows_total: int = 0,
    default_domain: Domain | None = None,
) -> ImportBatch:
    """Queue a kept upload (in MEDIA_ROOT/tmp) for import by a worker. Returns the queued
    batch, whose status and progress the caller can poll. `rows_total` is the row count
    from a preview, when there was one (0: not known yet).

    QueueUnavailable (503) when the broker is down: the batch is saved, queued, and
    celery beat sends it once the broker is back."""
    if on_duplicate not in ON_DUPLICATE:
        raise ApplicationError(f"use {' or '.join(ON_DUPLICATE)}", field="on_duplicate")
    if upload.parent != tmp_dir():
        raise ApplicationError("must be a file kept in MEDIA_ROOT/tmp", field="upload")
    batch = ImportBatch.objects.create(
        project=project,
        kind=ImportBatch.Kind.PROMPTS,
        status=ImportBatch.Status.QUEUED,
        file_name=without_nul(file_name)[:255],
        created_by=user,
        on_duplicate=on_duplicate,
        default_domain=default_domain,
        upload_name=upload.name,
        rows_total=rows_total,
    )
    job_enqueue(PROMPT_IMPORTS, batch.pk)
    return batch


def prompts_import_cancel(*, batch: ImportBatch) -> ImportBatch:
    """Ask a queued or running import to stop: a queued one (or one whose worker died)
    stops at once; a live run stops at its next chunk of rows, or before it saves.
    Nothing of a cancelled import is saved. A finished import is left as it is."""
    try:
        # The batch may be another kind's job on the same model (AI candidates).
        kind = job_kind_of(batch)
    except LookupError:
        return batch  # a conversation import runs within its request: nothing to stop
    batch = job_cancel(kind, batch.pk)
    if batch.status == ImportBatch.Status.CANCELLED and batch.upload_name:
        _upload_remove(batch)
    return batch


def _upload_remove(batch: ImportBatch) -> None:
    path = kept_upload(batch.upload_name)
    if path is not None:
        path.unlink(missing_ok=True)
    ImportBatch.objects.filter(pk=batch.pk).update(upload_name="", step="")


def prompts_import_execute(*, batch_id: int) -> str | None:
    """Run a queued import to the end: the Celery task's body. Returns the final status,
    or None when this delivery has nothing to do.

    Idempotent: a batch claimed by a live run (a task delivered twice) or finished is
    left alone; one whose worker died (stale heartbeat) is taken over and starts again
    from scratch (its saving transaction never committed). Must not run inside a
    transaction: progress is committed as rows are checked.
    """
    try:
        batch = job_claim(PROMPT_IMPORTS, batch_id, step=ImportBatch.Step.CHECKING, rows_done=0)
    except JobBusy:
        logger.info("prompt import %s: a live run owns it; this delivery does nothing", batch_id)
        return None
    if batch is None:
        return None
    mine = PROMPT_IMPORTS.mine(batch_id, batch.attempt)
    path = kept_upload(batch.upload_name)
    if path is None:
        job_finish(
            PROMPT_IMPORTS,
            batch_id,
            batch.attempt,
            ImportBatch.Status.FAILED,
            errors=["The uploaded file is no longer there: upload it again."],
            upload_name="",
            step="",
        )
        return ImportBatch.Status.FAILED

    def progress(step: str, rows_done: int, rows_total: int | None) -> None:
        fields = {"step": step, "rows_done": rows_done, "heartbeat_at": timezone.now()}
        if rows_total is not None:
            fields["rows_total"] = rows_total
        if not mine.update(**fields):
            raise JobLost(f"prompt import {batch_id} was taken over")
        if mine.filter(cancel_requested=True).exists():
            raise ImportCancelled

    try:
        with JobHeartbeat(mine):
            report = prompts_import(
                project=batch.project,
                source=ImportSource(name=batch.file_name, path=path),
                user=batch.created_by,
                on_duplicate=batch.on_duplicate,
                batch=batch,
                progress=progress,
                default_domain=batch.default_domain,
            )
    except JobLost:
        # The run that took the batch over owns its file and records its outcome.
        logger.warning("prompt import %s: this run was taken over by another", batch_id)
        return None
    except ImportCancelled:
        job_finish(PROMPT_IMPORTS, batch_id, batch.attempt, ImportBatch.Status.CANCELLED)
        _upload_remove(batch)
        return ImportBatch.Status.CANCELLED
    except Exception as error:
        logger.exception("prompt import batch %s failed", batch_id)
        job_finish(
            PROMPT_IMPORTS,
            batch_id,
            batch.attempt,
            ImportBatch.Status.FAILED,
            errors=[
                f"The import stopped on an unexpected error ({type(error).__name__}: {error}). "
                "Nothing was imported."
            ],
        )
        _upload_remove(batch)
        return ImportBatch.Status.FAILED
    # prompts_import recorded the outcome (conditional on this run's attempt).
    ImportBatch.objects.filter(pk=batch_id, attempt=batch.attempt).update(
        finished_at=timezone.now(), rows_done=report.rows_read
    )
    _upload_remove(batch)
    return report.status


def stale_uploads_remove(*, older_than: timedelta = STALE_UPLOAD_AGE) -> int:
    """Periodic (celery beat): delete files in MEDIA_ROOT/tmp older than `older_than` — the
    uploads of previews nobody confirmed. A file a queued or running import still needs is
    kept whatever its age. Returns how many files were removed."""
    cutoff = time.time() - older_than.total_seconds()
    needed = set(
        ImportBatch.objects.filter(
            status__in=[ImportBatch.Status.QUEUED, ImportBatch.Status.RUNNING]
        )
        .exclude(upload_name="")
        .values_list("upload_name", flat=True)
    )
    removed = 0
    for path in tmp_dir().iterdir():
        try:
            if path.is_file() and path.name not in needed and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            # Gone meanwhile: a confirm or another cleanup removed it.
            continue
    return removed
