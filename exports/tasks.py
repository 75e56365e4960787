from celery import shared_task
from django.conf import settings

from exports.services import ExportJobBusy, export_job_execute
from exports.services.sharding import (
    ExportShardBusy,
    export_job_continue,
    export_shard_execute,
)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def run_export_job(self, job_id: int) -> None:
    """Run an export job: plan its shards, run one inline or send several as a chord.

    Acks late: a worker killed mid-run leaves the message unacknowledged, the broker
    hands it out again (Redis: after CELERY_BROKER_VISIBILITY_TIMEOUT), and the service
    takes the abandoned job over and carries on with the shards it has left; a finished
    job is not redone. When the message comes back while the first run is still alive
    (its heartbeat is fresh), this delivery does not run the job: it checks again once
    the heartbeat could have gone stale, so that a job whose worker dies later is still
    picked up and finished.
    """
    try:
        export_job_execute(job_id=job_id)
    except (ExportJobBusy, ExportShardBusy) as busy:
        raise self.retry(exc=busy, countdown=settings.EXPORT_STALE_AFTER_SECONDS) from None


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
        raise self.retry(exc=busy, countdown=settings.EXPORT_STALE_AFTER_SECONDS) from None


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def finish_export_job(self, job_id: int, attempt: int) -> None:
    """The chord's last step: merge the shards, write the card and manifest, publish."""
    try:
        export_job_continue(job_id=job_id, attempt=attempt)
    except ExportShardBusy as busy:
        raise self.retry(exc=busy, countdown=settings.EXPORT_STALE_AFTER_SECONDS) from None
