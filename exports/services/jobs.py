"""Export jobs: create and enqueue, cancel, and the body of the Celery task."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from exports.models import ExportArtifact, ExportJob, TokenizerAsset
from labeling.models import Project, User
from sftpipeline.hashing import sha256_file
from sftpipeline.publish import MANIFEST_NAME

from .config import ExportConfig, ExportConfigError, export_config_from_dict
from .rows import ExportError
from .running import ExportCancelled, export_run

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
    return Path(settings.EXPORT_ROOT) / f"export-{job.id}-{job.created_at:%Y%m%dT%H%M%S%f}"


class ExportJobBusy(Exception):
    """Another run of this job is alive (its heartbeat is fresh); try again later."""


class ExportSuperseded(Exception):
    """This run no longer owns its job: another delivery of the task took it over."""


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
    stale = _stale_before()
    with transaction.atomic():
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


def _finish(job_id: int, attempt: int, status: str, error: str = "") -> None:
    """Record how this run ended, unless another run took the job over meanwhile."""
    ExportJob.objects.filter(id=job_id, attempt=attempt, status=ExportJob.Status.RUNNING).update(
        status=status, error=error, finished_at=timezone.now()
    )


def export_job_execute(*, job_id: int) -> str | None:
    """Run a job to the end: the Celery task's body. Returns the final status.

    Idempotent: a finished job is not redone; a job interrupted while running (its
    heartbeat stale) starts again into a fresh staging folder, and only a complete
    export is ever published. Raises ExportJobBusy while another run owns the job.
    Every write of this run (progress, status, artifacts) is conditional on the job's
    `attempt` still being this run's, so a run that was taken over changes nothing.
    """
    claim = _job_claim(job_id)
    if claim is None:
        return None
    job, attempt = claim
    mine = ExportJob.objects.filter(id=job_id, attempt=attempt, status=ExportJob.Status.RUNNING)

    def progress(done: int, total: int) -> None:
        # The heartbeat: proof that this run is alive, and that it still owns the job.
        if not mine.update(rows_done=done, rows_total=total, heartbeat_at=timezone.now()):
            raise ExportSuperseded
        if mine.filter(cancel_requested=True).exists():
            raise ExportCancelled

    @contextlib.contextmanager
    def publish_guard() -> Iterator[None]:
        """Held from just before the rename until the artifacts are recorded.

        The conditional UPDATE takes the job's row (PostgreSQL) or the database's write
        lock (SQLite) until commit, so a cancel or a takeover either happens before it
        (and nothing is published) or waits until the job has succeeded."""
        with transaction.atomic():
            if not mine.update(heartbeat_at=timezone.now()):
                raise ExportSuperseded
            if mine.filter(cancel_requested=True).exists():
                raise ExportCancelled
            yield
            _publish_record(job_id, folder)

    folder = export_job_folder(job)
    try:
        config = export_config_from_dict(job.config)
        export_run(
            config=config,
            destination=folder,
            progress=progress,
            chunk_size=settings.EXPORT_CHUNK_SIZE,
            # The job's own time: a retried run writes the very same manifest.
            created_at=job.created_at,
            publish_guard=publish_guard,
        )
    except Exception as error:
        if isinstance(error, ExportSuperseded) or not mine.exists():
            # Another delivery took the job over (and may have removed this run's
            # staging folder under it): that run records the outcome, not this one.
            logger.warning(
                "export job %s: run %s was taken over by another worker", job_id, attempt
            )
            return None
        if isinstance(error, ExportCancelled):
            _finish(job_id, attempt, ExportJob.Status.CANCELLED)
            return ExportJob.Status.CANCELLED
        if isinstance(error, ExportError | ExportConfigError):
            _finish(job_id, attempt, ExportJob.Status.FAILED, str(error))
            return ExportJob.Status.FAILED
        logger.exception("export job %s failed", job_id)
        _finish(
            job_id,
            attempt,
            ExportJob.Status.FAILED,
            f"The export stopped on an unexpected error ({type(error).__name__}: {error}). "
            "Nothing was published.",
        )
        return ExportJob.Status.FAILED
    return ExportJob.Status.SUCCEEDED


def _publish_record(job_id: int, folder: Path) -> None:
    """The published folder's files as artifacts; the job succeeded. Inside the guard's
    transaction, right after the rename."""
    job = ExportJob.objects.get(id=job_id)
    manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    job.artifacts.all().delete()
    files = [(entry["name"], entry["bytes"], entry["sha256"]) for entry in manifest["files"]]
    manifest_path = folder / MANIFEST_NAME
    files.append((MANIFEST_NAME, manifest_path.stat().st_size, sha256_file(manifest_path)))
    ExportArtifact.objects.bulk_create(
        ExportArtifact(job=job, name=name, size=size, sha256=digest)
        for name, size, digest in sorted(files)
    )
    job.status = ExportJob.Status.SUCCEEDED
    job.output_dir = str(folder)
    job.manifest = manifest
    job.rows_done = job.rows_total = manifest["counts"]["read"]
    job.finished_at = timezone.now()
    job.heartbeat_at = timezone.now()
    job.save()


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


def export_artifact_path(*, job: ExportJob, name: str) -> Path | None:
    """The published file `name` of a succeeded job, or None (never a path outside its folder)."""
    if job.status != ExportJob.Status.SUCCEEDED or not job.output_dir:
        return None
    # The views and the API pass a job with its artifacts prefetched: no extra query.
    if not any(artifact.name == name for artifact in job.artifacts.all()):
        return None
    folder = Path(job.output_dir).resolve()
    path = (folder / name).resolve()
    if folder not in path.parents or not path.is_file():
        return None
    return path
