from celery import shared_task

from labeling.services import leases_expire


@shared_task
def expire_leases() -> int:
    """Periodic (celery beat): free the slots of leases that ran out."""
    return leases_expire()
