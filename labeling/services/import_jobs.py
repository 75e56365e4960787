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
from typing import Any

from django.db import transaction
from django.utils import timezone

from labeling.models import Domain, ImportBatch, Project, User
from labeling.uploads import kept_upload, tmp_dir

from .imports import ON_DUPLICATE, ImportSource, prompts_import

logger = logging.getLogger(__name__)

STALE_UPLOAD_AGE = timedelta(hours=24)


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
    from a preview, when there was one (0: not known yet)."""
    from labeling.tasks import run_prompt_import

    if on_duplicate not in ON_DUPLICATE:
        raise ValueError(f"on_duplicate: use {' or '.join(ON_DUPLICATE)}")
    if upload.parent != tmp_dir():
        raise ValueError("upload: must be a file kept in MEDIA_ROOT/tmp")
    batch = ImportBatch.objects.create(
        project=project,
        kind=ImportBatch.Kind.PROMPTS,
        status=ImportBatch.Status.QUEUED,
        file_name=file_name[:255],
        created_by=user,
        on_duplicate=on_duplicate,
        default_domain=default_domain,
        upload_name=upload.name,
        rows_total=rows_total,
    )
    transaction.on_commit(lambda: run_prompt_import.delay(batch.pk))
    return batch


def _claim(batch_id: int) -> ImportBatch | None:
    """Mark the batch running, or None when it is finished (a redelivered task does nothing).
    A batch found running was interrupted (worker killed): its transaction never committed,
    so it starts again from scratch."""
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None or not batch.is_active:
            return None
        batch.status = ImportBatch.Status.RUNNING
        batch.step = ImportBatch.Step.CHECKING
        batch.rows_done = 0
        batch.errors = []
        batch.save(update_fields=["status", "step", "rows_done", "errors"])
        return batch


def _finish(batch_id: int, **fields: Any) -> None:
    ImportBatch.objects.filter(pk=batch_id).update(
        upload_name="", step="", finished_at=timezone.now(), **fields
    )


def prompts_import_execute(*, batch_id: int) -> str | None:
    """Run a queued import to the end: the Celery task's body. Returns the final status.

    Must not run inside a transaction: progress is committed as rows are checked.
    """
    batch = _claim(batch_id)
    if batch is None:
        return None
    path = kept_upload(batch.upload_name)
    if path is None:
        _finish(
            batch_id,
            status=ImportBatch.Status.FAILED,
            errors=["The uploaded file is no longer there: upload it again."],
        )
        return ImportBatch.Status.FAILED

    def progress(step: str, rows_done: int, rows_total: int | None) -> None:
        fields = {"step": step, "rows_done": rows_done}
        if rows_total is not None:
            fields["rows_total"] = rows_total
        ImportBatch.objects.filter(pk=batch_id).update(**fields)

    try:
        report = prompts_import(
            project=batch.project,
            source=ImportSource(name=batch.file_name, path=path),
            user=batch.created_by,
            on_duplicate=batch.on_duplicate,
            batch=batch,
            progress=progress,
            default_domain=batch.default_domain,
        )
    except Exception as error:
        logger.exception("prompt import batch %s failed", batch_id)
        _finish(
            batch_id,
            status=ImportBatch.Status.FAILED,
            errors=[
                f"The import stopped on an unexpected error ({type(error).__name__}: {error}). "
                "Nothing was imported."
            ],
        )
        return ImportBatch.Status.FAILED
    finally:
        path.unlink(missing_ok=True)
    _finish(batch_id, rows_done=report.rows_read)
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
