"""In-app notifications: written by other services, read and dismissed by their owner."""

from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, Notification
from labeling.models import User


def notification_create(
    *, user: User, text: str, url: str = "", conversation: Conversation | None = None
) -> Notification:
    """Tell `user` something happened. Runs inside the caller's transaction."""
    return Notification.objects.create(
        user=user, text=text[:300], url=url[:300], conversation=conversation
    )


@transaction.atomic
def notifications_mark_read(*, user: User, notification_ids: list[int] | None = None) -> int:
    """Mark `user`'s notifications read (all unread ones when no ids). Returns how many changed.

    Ids of other people's notifications are ignored: nobody can touch someone else's list.
    """
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())
