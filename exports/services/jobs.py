"""Export jobs: create and enqueue, cancel, and the body of the Celery task."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from exports.models import ExportJob, TokenizerAsset
from exports.storage import storage_for_location
from labeling.models import Project, User

from .config import ExportConfig, ExportConfigError
from .sharding import export_folder_name, export_job_continue

logger = logging.getLogger(__name__)

ACTIVE = (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING)


def export_config_check(*, config: ExportConfig) -> list[Project]:
    """The config's projects; ExportConfigError when a project or uploaded tokenizer is unknown."""
    projects = list(Project.objects.filter(slug__in=config.projects).order_by("slug"))
    missing = sorted(set(config.projects) - {p.slug for p in projects})
    errors = {}
    if missing:
        errors["projects"] = f"no project with the slug {', '.join(missing)}"
    if (
        config.tokenizer_asset is not None
        and not TokenizerAsset.objects.filter(
            id=config.tokenizer_asset, kind=config.tokenizer
        ).exists()
    ):
        errors["tokenizer_asset"] = f"no uploaded {config.tokenizer} vocabulary with that id"
    if errors:
        raise ExportConfigError(errors)
    return projects


@transaction.atomic
def export_job_create(*, config: ExportConfig, created_by: User) -> ExportJob:
    """Record a queued export job and start it in Celery once the row is committed."""
    from exports.tasks import run_export_job

    projects = export_config_check(config=config)
    job = ExportJob.objects.create(config=config.to_dict(), created_by=created_by)
    job.projects.set(projects)
    transaction.on_commit(lambda: run_export_job.delay(job.id))
    return job


def _stale_before() -> dt.datetime:
    """A running job whose heartbeat is older than this has lost its worker."""
    return timezone.now() - dt.timedelta(seconds=settings.EXPORT_STALE_AFTER_SECONDS)


def _no_live_run(job: ExportJob, stale: dt.datetime) -> bool:
    """No worker is running the job: it is still queued, or its heartbeat is missing or stale."""
    return (
        job.status == ExportJob.Status.QUEUED
        or job.heartbeat_at is None
        or job.heartbeat_at < stale
    )


@transaction.atomic
def export_job_cancel(*, job: ExportJob) -> ExportJob:
    """Ask a queued or running job to stop. A queued job stops at once, and so does a
    running one whose worker is gone (stale heartbeat); a live run stops at its next
    chunk. Finished jobs are left as they are."""
    job = ExportJob.objects.select_for_update().get(id=job.id)
    if job.status not in ACTIVE:
        return job
    job.cancel_requested = True
    fields = ["cancel_requested"]
    if _no_live_run(job, _stale_before()):
        job.status = ExportJob.Status.CANCELLED
        job.finished_at = timezone.now()
        fields += ["status", "finished_at"]
    job.save(update_fields=fields)
    return job


def export_job_folder(job: ExportJob) -> Path:
    """Where the job publishes: stable across retries, unique even if ids are ever reused."""
    return Path(settings.EXPORT_ROOT) / export_folder_name(job)


class ExportJobBusy(Exception):
    """Another run of this job is alive (its heartbeat is fresh); try again later."""


def _job_claim(job_id: int) -> tuple[ExportJob, int] | None:
    """Take ownership of the job: its row and this run's attempt number.

    None when there is nothing to do: the job is gone, finished, or cancelled while
    queued. ExportJobBusy when another run owns it and its heartbeat is fresh: a task
    redelivered while the first run is still genuinely working (a Redis visibility
    timeout shorter than the export) must not run it a second time. A `running` job
    whose heartbeat is stale lost its worker (killed mid-run): it is taken over and
    started again from scratch.

    The claim is one conditional UPDATE, so that two deliveries racing for the same job
    cannot both win, on PostgreSQL (row lock, WHERE re-checked) and SQLite (one writer).
    """
    with transaction.atomic():
        # Staleness is judged once the row is locked (PostgreSQL): a heartbeat the live
        # run wrote before that counts, and a later one waits for this claim to decide.
        ExportJob.objects.select_for_update().filter(id=job_id).first()
        stale = _stale_before()
        claimed = (
            ExportJob.objects.filter(id=job_id, cancel_requested=False)
            .filter(
                Q(status=ExportJob.Status.QUEUED)
                | Q(status=ExportJob.Status.RUNNING, heartbeat_at__isnull=True)
                | Q(status=ExportJob.Status.RUNNING, heartbeat_at__lt=stale)
            )
            .update(
                status=ExportJob.Status.RUNNING,
                attempt=F("attempt") + 1,
                heartbeat_at=timezone.now(),
                started_at=timezone.now(),
                rows_done=0,
                error="",
            )
        )
        if claimed:
            owned = ExportJob.objects.get(id=job_id)
            return owned, owned.attempt
        job = ExportJob.objects.filter(id=job_id).first()
    if job is None or job.status not in ACTIVE:
        return None
    # Cancelled before a run started, or its owner died: no run will finish it.
    if job.cancel_requested and _no_live_run(job, stale):
        ExportJob.objects.filter(id=job_id, attempt=job.attempt, status__in=ACTIVE).update(
            status=ExportJob.Status.CANCELLED, finished_at=timezone.now()
        )
        return None
    raise ExportJobBusy(f"export job {job_id} is running in another worker")


def export_job_execute(*, job_id: int) -> str | None:
    """Run a job: the Celery task's body. Returns the job's status after this run.

    Idempotent: a finished job is not redone; a job interrupted while running (its
    heartbeat stale) is taken over and carries on with the shards it has left (see
    `sharding`), and only a complete export is ever published. Raises ExportJobBusy
    while another run owns the job. Every write of this run is conditional on the job's
    `attempt` still being this run's, so a run that was taken over changes nothing.
    """
    claim = _job_claim(job_id)
    if claim is None:
        return None
    _job, attempt = claim
    return export_job_continue(job_id=job_id, attempt=attempt)


# What each published file is, for downloads and the API schema: the same answer on every
# machine (Python's mimetypes knows neither .jsonl nor .parquet, and reads /etc/mime.types).
ARTIFACT_MEDIA_TYPES = {
    ".jsonl": "application/jsonl",
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    ".md": "text/markdown",
}


def artifact_media_type(name: str) -> str:
    return ARTIFACT_MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")


def _artifact_published(job: ExportJob, name: str) -> bool:
    if job.status != ExportJob.Status.SUCCEEDED or not job.output_dir:
        return False
    # The views and the API pass a job with its artifacts prefetched: no extra query.
    return any(artifact.name == name for artifact in job.artifacts.all())


def export_artifact_open(*, job: ExportJob, name: str) -> tuple[IO[bytes] | None, str | None]:
    """A published file of a succeeded job: (stream, None), or (None, a presigned URL) for a
    bucket that hands them out, or (None, None) when there is no such file. Never a file
    outside the job's folder."""
    if not _artifact_published(job, name):
        return None, None
    storage = storage_for_location(job.output_dir)
    url = storage.presigned_url(job.output_dir, name)
    if url:
        return None, url
    return storage.open(job.output_dir, name), None


def export_artifact_stream(*, job: ExportJob, name: str) -> IO[bytes] | None:
    """A published file of a succeeded job read through its storage (local or S3, never a
    presigned URL), or None; the same checks as `export_artifact_open`."""
    if not _artifact_published(job, name):
        return None
    return storage_for_location(job.output_dir).open(job.output_dir, name)
