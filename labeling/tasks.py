from celery import shared_task

from labeling.services import leases_expire, prompts_import_execute, stale_uploads_remove


@shared_task
def expire_leases() -> int:
    """Periodic (celery beat): free the slots of leases that ran out."""
    return leases_expire()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_prompt_import(batch_id: int) -> None:
    """Import a queued batch. Acks late: a worker killed mid-run leaves the message for a
    retry, and the service starts that retry from scratch (its transaction never committed)."""
    prompts_import_execute(batch_id=batch_id)


@shared_task
def remove_stale_uploads() -> int:
    """Periodic (celery beat): delete uploads left in MEDIA_ROOT/tmp for over 24 hours."""
    return stale_uploads_remove()
