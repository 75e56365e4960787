"""Imports in the background: queue a kept upload, run it in a worker with progress, and
clear away uploads nobody confirmed. Prompt imports are defined here; conversation imports
(conversations.services.import_jobs) are the same job with another import inside.

The worker runs the same `prompts_import` as the CLI. Its first pass (validating every
row) runs outside any transaction, so progress written after each chunk of 1,000 rows
commits at once and the page polling the batch sees it, on SQLite as on PostgreSQL. The
second pass saves every prompt in one transaction (all or nothing); on SQLite that
transaction holds the database's only write lock, so no progress can be written during
it, and the page shows it as one final step ("saving") instead of a figure.
"""

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import F
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

from .imports import ON_DUPLICATE, ImportCancelled, ImportSource, Progress, prompts_import

logger = logging.getLogger(__name__)

STALE_UPLOAD_AGE = timedelta(hours=24)


def import_job_kind_register(name: str, task: str, kind: str) -> JobKind:
    """Register the background imports of one ImportBatch `kind` with the job engine."""
    return job_kind_register(
        JobKind(
            name=name,
            model=ImportBatch,
            task=task,
            queued=ImportBatch.Status.QUEUED,
            running=ImportBatch.Status.RUNNING,
            failed=ImportBatch.Status.FAILED,
            cancelled=ImportBatch.Status.CANCELLED,
            failure_fields=lambda message: {"errors": [message], "step": "", "upload_name": ""},
            scope={"kind": kind},
        )
    )


PROMPT_IMPORTS = import_job_kind_register(
    "prompt import", "labeling.tasks.run_prompt_import", ImportBatch.Kind.PROMPTS
)


@transaction.atomic
def import_job_enqueue(
    kind: JobKind,
    *,
    project: Project,
    upload: Path,
    file_name: str,
    user: User | None,
    **options: Any,
) -> ImportBatch:
    """Queue a kept upload (in MEDIA_ROOT/tmp) for a worker to import as a job of `kind`
    (prompts or conversations); `options` are the import's own (its batch's fields).
    Returns the queued batch, whose status and progress the caller can poll.

    QueueUnavailable (503) when the broker is down: the batch is saved, queued, and
    celery beat sends it once the broker is back."""
    if upload.parent != tmp_dir():
        raise ApplicationError("must be a file kept in MEDIA_ROOT/tmp", field="upload")
    batch = ImportBatch.objects.create(
        project=project,
        kind=kind.scope["kind"],
        status=ImportBatch.Status.QUEUED,
        file_name=without_nul(file_name)[:255],
        created_by=user,
        upload_name=upload.name,
        **options,
    )
    job_enqueue(kind, batch.pk)
    return batch


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
    """Queue a kept upload of prompts (see `import_job_enqueue`). `rows_total` is the row
    count from a preview, when there was one (0: not known yet)."""
    if on_duplicate not in ON_DUPLICATE:
        raise ApplicationError(f"use {' or '.join(ON_DUPLICATE)}", field="on_duplicate")
    return import_job_enqueue(
        PROMPT_IMPORTS,
        project=project,
        upload=upload,
        file_name=file_name,
        user=user,
        on_duplicate=on_duplicate,
        default_domain=default_domain,
        rows_total=rows_total,
    )


def prompts_import_cancel(*, batch: ImportBatch) -> ImportBatch:
    """Ask a queued or running import (of prompts or conversations) to stop: a queued one
    (or one whose worker died) stops at once; a live run stops at its next chunk of rows,
    or before it saves. Nothing of a cancelled import is saved. A finished import is left
    as it is."""
    try:
        # The batch may be another kind's job on the same model (AI candidates).
        kind = job_kind_of(batch)
    except LookupError:
        return batch
    batch = job_cancel(kind, batch.pk)
    if batch.status == ImportBatch.Status.CANCELLED and batch.upload_name:
        _upload_remove(batch)
    return batch


def _upload_remove(batch: ImportBatch) -> None:
    path = kept_upload(batch.upload_name)
    if path is not None:
        path.unlink(missing_ok=True)
    ImportBatch.objects.filter(pk=batch.pk).update(upload_name="", step="")


#: A background import's body: import the kept file at `path` into the claimed `batch`,
#: calling `progress` as rows are checked, record the outcome on the batch (while the run
#: owns it) and return the final status.
ImportRun = Callable[[ImportBatch, Path, Progress], str]


def import_job_execute(kind: JobKind, batch_id: int, run: ImportRun) -> str | None:
    """Run a queued import of `kind` to the end with `run`: the Celery task's body.
    Returns the final status, or None when this delivery has nothing to do.

    Idempotent: a batch claimed by a live run (a task delivered twice) or finished is
    left alone; one whose worker died (stale heartbeat) is taken over and starts again
    from scratch (its saving transaction never committed). Must not run inside a
    transaction: progress is committed as rows are checked.
    """
    try:
        batch = job_claim(kind, batch_id, step=ImportBatch.Step.CHECKING, rows_done=0)
    except JobBusy:
        logger.info("%s %s: a live run owns it; this delivery does nothing", kind.name, batch_id)
        return None
    if batch is None:
        return None
    mine = kind.mine(batch_id, batch.attempt)
    path = kept_upload(batch.upload_name)
    if path is None:
        job_finish(
            kind,
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
            raise JobLost(f"{kind.name} {batch_id} was taken over")
        if mine.filter(cancel_requested=True).exists():
            raise ImportCancelled

    try:
        with JobHeartbeat(mine):
            status = run(batch, path, progress)
    except JobLost:
        # The run that took the batch over owns its file and records its outcome.
        logger.warning("%s %s: this run was taken over by another", kind.name, batch_id)
        return None
    except ImportCancelled:
        job_finish(kind, batch_id, batch.attempt, ImportBatch.Status.CANCELLED)
        _upload_remove(batch)
        return ImportBatch.Status.CANCELLED
    except Exception as error:
        logger.exception("%s %s failed", kind.name, batch_id)
        job_finish(
            kind,
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
    # `run` recorded the outcome (conditional on this run's attempt).
    ImportBatch.objects.filter(pk=batch_id, attempt=batch.attempt).update(
        finished_at=timezone.now(), rows_done=F("rows_read")
    )
    _upload_remove(batch)
    return status


def prompts_import_execute(*, batch_id: int) -> str | None:
    """Run a queued prompt import to the end (see `import_job_execute`)."""

    def run(batch: ImportBatch, path: Path, progress: Progress) -> str:
        return prompts_import(
            project=batch.project,
            source=ImportSource(name=batch.file_name, path=path),
            user=batch.created_by,
            on_duplicate=batch.on_duplicate,
            batch=batch,
            progress=progress,
            default_domain=batch.default_domain,
        ).status

    return import_job_execute(PROMPT_IMPORTS, batch_id, run)


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
