from collections import Counter

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from labeling.models import Assignment, Prompt


@transaction.atomic
def leases_expire(*, now=None) -> int:
    """Mark overdue leases expired and give their slots back. Returns how many expired."""
    now = now or timezone.now()
    overdue = list(
        Assignment.objects.select_for_update()
        .filter(status=Assignment.Status.LEASED, lease_expires_at__lte=now)
        .values_list("id", "prompt_id")
    )
    if not overdue:
        return 0
    Assignment.objects.filter(pk__in=[pk for pk, _ in overdue]).update(
        status=Assignment.Status.EXPIRED
    )
    for prompt_id, count in Counter(prompt_id for _, prompt_id in overdue).items():
        Prompt.objects.filter(pk=prompt_id).update(slots_taken=F("slots_taken") - count)
    return len(overdue)
