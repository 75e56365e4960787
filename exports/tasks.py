import logging

from celery import shared_task
from django.conf import settings

from exports.services import ExportJobBusy, export_job_execute
from exports.services.sharding import (
    ExportShardBusy,
    export_job_continue,
    export_shard_execute,
)

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def run_export_job(self, job_id: int) -> None:
    """Run an export job: plan its shards, run one inline or send several as a chord.

    Acks late: a worker killed mid-run leaves the message unacknowledged; the broker
    hands it out again (Redis: after CELERY_BROKER_VISIBILITY_TIMEOUT), or celery beat
    sends the job again once its heartbeat is stale (`core.jobs.jobs_recover`), and the
    service takes the abandoned job over and carries on with the shards it has left; a
    finished job is not redone. A delivery that finds a live run does nothing: beat
    sends the job again if that run dies later.
    """
    try:
        export_job_execute(job_id=job_id)
    except ExportJobBusy:
        logger.info("export job %s: a live run owns it; this delivery does nothing", job_id)
    except ExportShardBusy as busy:
        raise self.retry(exc=busy, countdown=settings.JOB_STALE_AFTER_SECONDS) from None


# ignore_result=False: a chord counts its finished shards through the result backend.
@shared_task(
    bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=False
)
def run_export_shard(self, job_id: int, index: int) -> str | None:
    """Run one shard of a sharded export (a chord member; any worker may take it).

    Acks late like the job: a shard whose worker was killed is handed out again and
    taken over once its heartbeat is stale; a shard that is done is not run again.
    """
    try:
        return export_shard_execute(job_id=job_id, index=index)
    except ExportShardBusy as busy:
        raise self.retry(exc=busy, countdown=settings.JOB_STALE_AFTER_SECONDS) from None


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def finish_export_job(self, job_id: int, attempt: int) -> None:
    """The chord's last step: merge the shards, write the card and manifest, publish."""
    try:
        export_job_continue(job_id=job_id, attempt=attempt)
    except ExportShardBusy as busy:
        raise self.retry(exc=busy, countdown=settings.JOB_STALE_AFTER_SECONDS) from None
