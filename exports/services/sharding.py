"""A sharded export job (design.md contract 8): plan shards, run them anywhere, publish once.

The job's run (after the job engine's claim) plans the shards once, by id range, and
records them as `ExportShard` rows. One shard runs inline in the job's task; more run as
a Celery chord: a group of `run_export_shard` tasks that any worker may take, then
`finish_export_job`, which merges the shards' statistics, writes the card and the
manifest and publishes. Each shard records itself done with its results in one UPDATE
after its files are whole in storage, so a crash re-runs only unfinished shards; a shard
run owns its shard by `attempt` exactly as a job run owns its job. Files and statistics
depend only on the data, the config and the shard plan, never on which worker ran what
or in which order: the same bytes with one worker or many.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Subquery, Sum
from django.utils import timezone

from core.jobs import JobHeartbeat, heartbeat_stale, poison_message
from exports.models import ExportArtifact, ExportJob, ExportShard
from exports.storage import ExportStorage, export_storage
from sftpipeline.hashing import sha256_file
from sftpipeline.publish import MANIFEST_NAME

from .config import ExportConfigError, export_config_from_dict
from .rows import ExportError
from .running import ExportCancelled, ShardSpec, export_finish, export_shard_plan, export_shard_run

logger = logging.getLogger(__name__)


class ExportShardBusy(Exception):
    """Another run of this shard is alive (its heartbeat is fresh); try again later."""


class ExportSuperseded(Exception):
    """This run no longer owns its job or shard: another delivery took it over."""


def export_folder_name(job: ExportJob) -> str:
    """The job's folder (or key prefix): stable across retries, unique if ids are reused."""
    return f"export-{job.id}-{job.created_at:%Y%m%dT%H%M%S%f}"


STOPPED = (ExportJob.Status.FAILED, ExportJob.Status.CANCELLED)


def _spec(shard: ExportShard, shards: int) -> ShardSpec:
    return ShardSpec(shard.index, shards, shard.id_from, shard.id_to, shard.conversations)


@transaction.atomic
def export_job_plan(*, job: ExportJob) -> list[ExportShard]:
    """The job's shards, planned on its first run (EXPORT_SHARD_SIZE conversations each)
    and kept for every later one: a takeover finishes the same plan."""
    ExportJob.objects.select_for_update().filter(id=job.id).first()
    shards = list(job.shards.order_by("index"))
    if shards:
        return shards
    # A first run: whatever an earlier, unplanned run left behind goes.
    export_storage().reset(export_folder_name(job))
    config = export_config_from_dict(job.config)
    plan = export_shard_plan(config, shard_size=settings.EXPORT_SHARD_SIZE)
    shards = ExportShard.objects.bulk_create(
        ExportShard(
            job=job,
            index=spec.index,
            id_from=spec.id_from,
            id_to=spec.id_to,
            conversations=spec.conversations,
        )
        for spec in plan
    )
    ExportJob.objects.filter(id=job.id).update(rows_total=sum(spec.conversations for spec in plan))
    return shards


def export_job_continue(*, job_id: int, attempt: int) -> str | None:
    """Carry the job's run `attempt` on: run or send its unfinished shards, or publish it
    when every shard is done. Returns the job's status, None when the run lost the job.

    A done shard whose files are missing from storage is run again (as after a publish
    whose record failed). Never raises for the export's own failures: they are recorded.
    """
    mine = ExportJob.objects.filter(id=job_id, attempt=attempt, status=ExportJob.Status.RUNNING)
    job = mine.first()
    if job is None:
        _discard_if_stopped(job_id)
        return None
    # Beats through every step, the long ones that write no progress included (the
    # card, the manifest, the upload or rename): only a dead run ever looks stale.
    with JobHeartbeat(mine):
        return _continue(job, attempt)


def _continue(job: ExportJob, attempt: int) -> str | None:
    job_id = job.id
    storage = export_storage()
    folder = export_folder_name(job)
    try:
        shards = export_job_plan(job=job)
        unfinished = _unfinished(shards, storage, folder)
        if unfinished and len(shards) == 1:
            # One shard: no chord, this task runs it.
            if export_shard_execute(job_id=job_id, index=0) != ExportShard.Status.DONE:
                return _status(job_id)
            shards, unfinished = list(job.shards.order_by("index")), []
        if unfinished:
            _send_chord(job_id, attempt, unfinished)
            return ExportJob.Status.RUNNING
        _publish(job, attempt, shards, storage, folder)
    except ExportShardBusy:
        raise
    except Exception as error:
        return _job_failed(job_id, attempt, error, storage, folder)
    return ExportJob.Status.SUCCEEDED


def _status(job_id: int) -> str | None:
    return ExportJob.objects.filter(id=job_id).values_list("status", flat=True).first()


def _unfinished(shards: list[ExportShard], storage: ExportStorage, folder: str) -> list[int]:
    present = storage.present(folder)
    unfinished = []
    for shard in shards:
        whole = all(
            present.get(entry["name"]) == entry["bytes"] for entry in shard.result.get("files", [])
        )
        if shard.status == ExportShard.Status.DONE and not whole:
            ExportShard.objects.filter(id=shard.id, status=ExportShard.Status.DONE).update(
                status=ExportShard.Status.PENDING, result={}
            )
            shard.status = ExportShard.Status.PENDING
        if shard.status != ExportShard.Status.DONE:
            unfinished.append(shard.index)
    return unfinished


def _send_chord(job_id: int, attempt: int, indexes: list[int]) -> None:
    from celery import chord

    from exports.tasks import finish_export_job, run_export_shard

    header = [run_export_shard.si(job_id, index) for index in indexes]
    transaction.on_commit(lambda: chord(header)(finish_export_job.si(job_id, attempt)))


def _publish(
    job: ExportJob, attempt: int, shards: list[ExportShard], storage: ExportStorage, folder: str
) -> None:
    """Write the card and the manifest and publish, holding the job's row from just before
    until the artifacts are recorded: a cancel or a takeover either comes first (and
    nothing is published) or waits until the job has succeeded. A failure after the
    publication (recording, commit) takes it back down."""
    config = export_config_from_dict(job.config)
    written: dict[str, Any] = {}

    def finish(path: Any) -> None:
        written["manifest"] = export_finish(
            config=config,
            results=[shard.result for shard in shards],
            matched=sum(shard.conversations for shard in shards),
            folder=path,
            # The job's own time: a retried run writes the very same manifest.
            created_at=job.created_at,
        )
        manifest_path = path / MANIFEST_NAME
        written["manifest_file"] = (manifest_path.stat().st_size, sha256_file(manifest_path))

    mine = ExportJob.objects.filter(id=job.id, attempt=attempt, status=ExportJob.Status.RUNNING)
    published = False
    try:
        with transaction.atomic():
            if not mine.update(heartbeat_at=timezone.now()):
                raise ExportSuperseded
            if mine.filter(cancel_requested=True).exists():
                raise ExportCancelled
            storage.publish(folder, finish)
            published = True
            _publish_record(job.id, storage.location(folder), written)
    except BaseException:
        if published:
            storage.unpublish(folder)
        raise


def _publish_record(job_id: int, location: str, written: dict[str, Any]) -> None:
    """The published files as artifacts; the job succeeded. Inside the publish transaction."""
    manifest = written["manifest"]
    files = [(entry["name"], entry["bytes"], entry["sha256"]) for entry in manifest["files"]]
    files.append((MANIFEST_NAME, *written["manifest_file"]))
    ExportArtifact.objects.filter(job_id=job_id).delete()
    ExportArtifact.objects.bulk_create(
        ExportArtifact(job_id=job_id, name=name, size=size, sha256=digest)
        for name, size, digest in sorted(files)
    )
    now = timezone.now()
    ExportJob.objects.filter(id=job_id).update(
        status=ExportJob.Status.SUCCEEDED,
        output_dir=location,
        manifest=manifest,
        rows_done=manifest["counts"]["read"],
        rows_total=manifest["counts"]["read"],
        finished_at=now,
        heartbeat_at=now,
    )


def _stop_job(job_id: int, status: str, error: str = "") -> None:
    """A shard or the final step ends the whole job (any run of it) as failed or cancelled."""
    ExportJob.objects.filter(id=job_id, status=ExportJob.Status.RUNNING).update(
        status=status, error=error, finished_at=timezone.now()
    )


def export_files_drop(job: ExportJob, storage: ExportStorage | None = None) -> None:
    """Remove a failed or cancelled job's files, staged or published: a folder that a
    killed run renamed into place before it could record the job is taken down too, so
    no dataset is ever left published under a job that did not succeed."""
    storage = storage or export_storage()
    folder = export_folder_name(job)
    storage.unpublish(folder)
    storage.discard(folder)


def _discard_if_stopped(job_id: int) -> None:
    job = ExportJob.objects.filter(id=job_id).first()
    if job is not None and job.status in STOPPED:
        export_files_drop(job)


def _job_failed(
    job_id: int, attempt: int | None, error: Exception, storage: ExportStorage, folder: str
) -> str | None:
    """Record why the job stopped and drop its unfinished files; None when this run lost
    the job (the run that took it over records the outcome)."""
    mine = ExportJob.objects.filter(id=job_id, status=ExportJob.Status.RUNNING)
    if attempt is not None:
        mine = mine.filter(attempt=attempt)
    if isinstance(error, ExportSuperseded) or not mine.exists():
        logger.warning("export job %s: this run was taken over by another worker", job_id)
        return None
    if isinstance(error, ExportCancelled):
        status, message = ExportJob.Status.CANCELLED, ""
    elif isinstance(error, ExportError | ExportConfigError):
        status, message = ExportJob.Status.FAILED, str(error)
    else:
        logger.exception("export job %s failed", job_id, exc_info=error)
        status = ExportJob.Status.FAILED
        message = (
            f"The export stopped on an unexpected error ({type(error).__name__}: {error}). "
            "Nothing was published."
        )
    _stop_job(job_id, status, message)
    storage.unpublish(folder)
    storage.discard(folder)
    return status


def _shard_claim(job_id: int, index: int) -> ExportShard | None:
    """Take ownership of shard `index` for one run; None when it is done (or gone).
    ExportShardBusy when another run owns it with a fresh heartbeat. A running shard with
    a stale heartbeat lost its run: it is taken over, unless its runs died
    JOB_MAX_ATTEMPTS times, which fails the export (ExportError) instead of looping."""
    with transaction.atomic():
        shards = ExportShard.objects.filter(job_id=job_id, index=index)
        shard = shards.select_for_update().first()
        if shard is None or shard.status == ExportShard.Status.DONE:
            return None
        running = shard.status == ExportShard.Status.RUNNING
        if running and not heartbeat_stale(shard.heartbeat_at):
            raise ExportShardBusy(
                f"shard {index} of export job {job_id} is running in another worker"
            )
        lost_runs = shard.lost_runs + int(running)
        if lost_runs >= settings.JOB_MAX_ATTEMPTS:
            raise ExportError(poison_message(f"export's shard {index + 1}", lost_runs))
        # Conditional on the row as read: where the lock is a no-op (SQLite), one of two
        # racing deliveries wins.
        claimed = shards.filter(status=shard.status, attempt=shard.attempt).update(
            status=ExportShard.Status.RUNNING,
            attempt=F("attempt") + 1,
            lost_runs=lost_runs,
            heartbeat_at=timezone.now(),
            rows_done=0,
        )
        if not claimed:
            raise ExportShardBusy(f"shard {index} of export job {job_id} was claimed meanwhile")
        return shards.first()


def export_shard_execute(*, job_id: int, index: int) -> str | None:
    """Run shard `index` of a running job into storage and record it done: the body of
    `run_export_shard`. Returns the shard's status; None when its job no longer runs.

    Progress goes to the shard and to the job (the sum over its shards) with a heartbeat
    after every chunk; a cancel or another shard's failure stops it at its next chunk.
    Raises ExportShardBusy while another run owns the shard.
    """
    job = ExportJob.objects.filter(id=job_id, status=ExportJob.Status.RUNNING).first()
    if job is None:
        return None
    storage = export_storage()
    folder = export_folder_name(job)
    try:
        shard = _shard_claim(job_id, index)
    except ExportError as poisoned:
        _job_failed(job_id, None, poisoned, storage, folder)
        return _status(job_id)
    if shard is None:
        return ExportShard.Status.DONE
    mine = ExportShard.objects.filter(
        id=shard.id, attempt=shard.attempt, status=ExportShard.Status.RUNNING
    )
    running = ExportJob.objects.filter(id=job_id, status=ExportJob.Status.RUNNING)
    shard_rows = ExportShard.objects.filter(job_id=OuterRef("id")).values("job_id")
    job_progress = Subquery(shard_rows.annotate(done=Sum("rows_done")).values("done")[:1])

    def progress(read: int) -> None:
        now = timezone.now()
        if not mine.update(rows_done=read, heartbeat_at=now):
            raise ExportSuperseded
        if not running.update(rows_done=job_progress, heartbeat_at=now):
            raise ExportCancelled  # another shard failed, or the job was stopped
        if running.filter(cancel_requested=True).exists():
            raise ExportCancelled

    shards = job.shards.count()
    try:
        # The shard's and the job's heartbeat go on after the last chunk too: closing
        # the writers, hashing every file and the fsync or upload write no progress.
        with JobHeartbeat(mine, running), storage.shard_workspace(folder) as workspace:
            config = export_config_from_dict(job.config)
            progress(0)
            result = export_shard_run(
                config=config,
                shard=_spec(shard, shards),
                folder=workspace,
                progress=progress,
                chunk_size=settings.EXPORT_CHUNK_SIZE,
            )
            storage.shard_commit(folder, workspace)
        if not mine.update(
            status=ExportShard.Status.DONE,
            result=result,
            rows_done=result["selection"]["read"],
            finished_at=timezone.now(),
        ):
            raise ExportSuperseded
    except Exception as error:
        if isinstance(error, ExportSuperseded):
            logger.warning(
                "export job %s: shard %s was taken over by another worker", job_id, index
            )
            return None
        _job_failed(job_id, None, error, storage, folder)
        return _status(job_id)
    return ExportShard.Status.DONE
