from django.db import transaction
from django.utils import timezone

from labeling.models import GuidelineRead, GuidelineVersion


@transaction.atomic
def guideline_mark_read(*, user, project) -> GuidelineRead | None:
    """Record that `user` has read the guidelines in force in `project` (the latest version).

    Lives here until the labeling app has its own; it only writes labeling.GuidelineRead.
    """
    current = (
        GuidelineVersion.objects.filter(project=project)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    if current is None:
        return None
    read, _ = GuidelineRead.objects.update_or_create(
        user=user, project=project, defaults={"version": current, "read_at": timezone.now()}
    )
    return read
