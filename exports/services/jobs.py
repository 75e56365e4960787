"""Export jobs: create and enqueue, cancel, and the body of the Celery task."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exports.models import ExportArtifact, ExportJob, TokenizerAsset
from exports.pipeline.hashing import sha256_file
from exports.pipeline.publish import MANIFEST_NAME
from labeling.models import Project

from .config import ExportConfig, ExportConfigError, export_config_from_dict
from .running import ExportCancelled, ExportError, export_run

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
def export_job_create(*, config: ExportConfig, created_by) -> ExportJob:
    """Record a queued export job and start it in Celery once the row is committed."""
    from exports.tasks import run_export_job

    projects = export_config_check(config=config)
    job = ExportJob.objects.create(config=config.to_dict(), created_by=created_by)
    job.projects.set(projects)
    transaction.on_commit(lambda: run_export_job.delay(job.id))
    return job


@transaction.atomic
def export_job_cancel(*, job: ExportJob) -> ExportJob:
    """Ask a queued or running job to stop. A queued job stops at once; a running one at
    its next chunk. Finished jobs are left as they are."""
    job = ExportJob.objects.select_for_update().get(id=job.id)
    if job.status not in ACTIVE:
        return job
    job.cancel_requested = True
    fields = ["cancel_requested"]
    if job.status == ExportJob.Status.QUEUED:
        job.status = ExportJob.Status.CANCELLED
        job.finished_at = timezone.now()
        fields += ["status", "finished_at"]
    job.save(update_fields=fields)
    return job


def export_job_folder(job: ExportJob) -> Path:
    """Where the job publishes: stable across retries, unique even if ids are ever reused."""
    return Path(settings.EXPORT_ROOT) / f"export-{job.id}-{job.created_at:%Y%m%dT%H%M%S%f}"


def _job_claim(job_id: int) -> ExportJob | None:
    """Mark the job running, or None when it is finished (a redelivered task does nothing)."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(id=job_id).first()
        if job is None or job.status not in ACTIVE:
            return None
        if job.cancel_requested:
            job.status = ExportJob.Status.CANCELLED
            job.finished_at = timezone.now()
            job.save(update_fields=["status", "finished_at"])
            return None
        # A job found `running` was interrupted (worker killed): start again from scratch.
        job.status = ExportJob.Status.RUNNING
        job.started_at = timezone.now()
        job.rows_done = 0
        job.error = ""
        job.save(update_fields=["status", "started_at", "rows_done", "error"])
        return job


def _finish(job_id: int, status: str, error: str = "") -> None:
    ExportJob.objects.filter(id=job_id).update(
        status=status, error=error, finished_at=timezone.now()
    )


def export_job_execute(*, job_id: int) -> str | None:
    """Run a job to the end: the Celery task's body. Returns the final status.

    Idempotent: a finished job is not redone; a job interrupted while running starts
    again into a fresh staging folder, and only a complete export is ever published.
    """
    job = _job_claim(job_id)
    if job is None:
        return None

    def progress(done: int, total: int) -> None:
        ExportJob.objects.filter(id=job_id).update(rows_done=done, rows_total=total)
        if ExportJob.objects.filter(id=job_id, cancel_requested=True).exists():
            raise ExportCancelled

    folder = export_job_folder(job)
    try:
        config = export_config_from_dict(job.config)
        manifest = export_run(
            config=config,
            destination=folder,
            progress=progress,
        )
    except ExportCancelled:
        _finish(job_id, ExportJob.Status.CANCELLED)
        return ExportJob.Status.CANCELLED
    except (ExportError, ExportConfigError) as error:
        _finish(job_id, ExportJob.Status.FAILED, str(error))
        return ExportJob.Status.FAILED
    except Exception as error:
        logger.exception("export job %s failed", job_id)
        _finish(
            job_id,
            ExportJob.Status.FAILED,
            f"The export stopped on an unexpected error ({type(error).__name__}: {error}). "
            "Nothing was published.",
        )
        return ExportJob.Status.FAILED
    _publish_record(job_id, folder, manifest)
    return ExportJob.Status.SUCCEEDED


@transaction.atomic
def _publish_record(job_id: int, folder: Path, manifest: dict) -> None:
    job = ExportJob.objects.select_for_update().get(id=job_id)
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
    job.save()


def export_artifact_path(*, job: ExportJob, name: str) -> Path | None:
    """The published file `name` of a succeeded job, or None (never a path outside its folder)."""
    if job.status != ExportJob.Status.SUCCEEDED or not job.output_dir:
        return None
    if not job.artifacts.filter(name=name).exists():
        return None
    folder = Path(job.output_dir).resolve()
    path = (folder / name).resolve()
    if folder not in path.parents or not path.is_file():
        return None
    return path
