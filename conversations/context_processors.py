from django.utils.functional import SimpleLazyObject

from conversations.selectors.review import unread_notification_count


def notifications(request) -> dict:
    """The unread notification count for the navigation badge (counted only when shown)."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    return {"unread_notifications": SimpleLazyObject(lambda: unread_notification_count(user=user))}
