from celery import shared_task
from django.conf import settings

from exports.services import ExportJobBusy, export_job_execute


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def run_export_job(self, job_id: int) -> None:
    """Run an export job.

    Acks late: a worker killed mid-run leaves the message unacknowledged, the broker
    hands it out again (Redis: after CELERY_BROKER_VISIBILITY_TIMEOUT), and the service
    takes the abandoned job over and starts it from scratch; a finished job is not
    redone. When the message comes back while the first run is still alive (its
    heartbeat is fresh), this delivery does not run the job: it checks again once the
    heartbeat could have gone stale, so that a job whose worker dies later is still
    picked up and finished.
    """
    try:
        export_job_execute(job_id=job_id)
    except ExportJobBusy as busy:
        raise self.retry(exc=busy, countdown=settings.EXPORT_STALE_AFTER_SECONDS) from None
