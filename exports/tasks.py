from celery import shared_task

from exports.services import export_job_execute


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_export_job(job_id: int) -> None:
    """Run an export job. Acks late: a worker killed mid-run leaves the message for a retry,
    and the service starts that retry from scratch (a finished job is not redone)."""
    export_job_execute(job_id=job_id)
