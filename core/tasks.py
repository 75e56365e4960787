from celery import shared_task

from core.jobs import jobs_recover


@shared_task(ignore_result=True)
def recover_jobs() -> int:
    """Periodic (celery beat): send again the jobs left queued (the broker was down when
    they were created) and those whose worker died (stale heartbeat)."""
    return jobs_recover()
