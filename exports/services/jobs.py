"""Export jobs: create and enqueue, cancel, and the body of the Celery task."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import transaction

from core.jobs import JobBusy, JobKind, job_cancel, job_claim, job_enqueue, job_kind_register
from exports.models import ExportJob, ExportShard, TokenizerAsset
from exports.storage import storage_for_location
from labeling.models import Project, User

from .config import ExportConfig, ExportConfigError
from .sharding import STOPPED, export_files_drop, export_folder_name, export_job_continue

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


def _export_run_died(job: ExportJob) -> bool:
    """Whether a stale export means that a run of its own task died (planning, a single
    inline shard, publishing). A sharded run with shards left is not counted here: its
    shards count their own lost runs, and the job may merely wait for them in the queue."""
    shards = list(job.shards.values_list("status", flat=True))
    return len(shards) <= 1 or all(status == ExportShard.Status.DONE for status in shards)


def _export_waits_for_shards(job: ExportJob) -> bool:
    """A sharded run whose unfinished shards are none of them running: they wait in the
    queue behind other work (or their messages were lost), and no run of them died."""
    shards = list(job.shards.values_list("status", flat=True))
    return (
        len(shards) > 1
        and ExportShard.Status.PENDING in shards
        and (ExportShard.Status.RUNNING not in shards)
    )


EXPORT_JOBS = job_kind_register(
    JobKind(
        name="export",
        model=ExportJob,
        task="exports.tasks.run_export_job",
        queued=ExportJob.Status.QUEUED,
        running=ExportJob.Status.RUNNING,
        failed=ExportJob.Status.FAILED,
        cancelled=ExportJob.Status.CANCELLED,
        failure_fields=lambda message: {"error": message},
        lost_run=_export_run_died,
        waiting=_export_waits_for_shards,
    )
)

# A live run owns the job: this delivery does nothing (celery beat picks the job up if
# that run dies later).
ExportJobBusy = JobBusy


@transaction.atomic
def export_job_create(*, config: ExportConfig, created_by: User) -> ExportJob:
    """Record a queued export job and send it to Celery once the row is committed.

    QueueUnavailable (503) when the broker is down: the job is saved, queued, and celery
    beat sends it once the broker is back."""
    projects = export_config_check(config=config)
    job = ExportJob.objects.create(config=config.to_dict(), created_by=created_by)
    job.projects.set(projects)
    job_enqueue(EXPORT_JOBS, job.id)
    return job


def export_job_cancel(*, job: ExportJob) -> ExportJob:
    """Ask a queued or running job to stop. A queued job stops at once, and so does a
    running one whose worker is gone (stale heartbeat); a live run stops at its next
    chunk. Finished jobs are left as they are."""
    cancelled = job_cancel(EXPORT_JOBS, job.id)
    if cancelled.status == ExportJob.Status.CANCELLED:
        export_files_drop(cancelled)
    return cancelled


def export_job_folder(job: ExportJob) -> Path:
    """Where the job publishes: stable across retries, unique even if ids are ever reused."""
    return Path(settings.EXPORT_ROOT) / export_folder_name(job)


def export_job_execute(*, job_id: int) -> str | None:
    """Run a job: the Celery task's body. Returns the job's status after this run.

    Idempotent: a finished job is not redone; a job interrupted while running (its
    heartbeat stale) is taken over and carries on with the shards it has left (see
    `sharding`), and only a complete export is ever published. Raises ExportJobBusy
    while another run owns the job. Every write of this run is conditional on the job's
    `attempt` still being this run's, so a run that was taken over changes nothing. A job
    whose runs died JOB_MAX_ATTEMPTS times is failed by the claim, its files dropped.
    """
    job = job_claim(EXPORT_JOBS, job_id, rows_done=0, error="")
    if job is None:
        stopped = ExportJob.objects.filter(id=job_id).first()
        if stopped is not None and stopped.status in STOPPED:
            export_files_drop(stopped)
        return None
    return export_job_continue(job_id=job_id, attempt=job.attempt)


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
