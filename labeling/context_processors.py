from .permissions import ADMIN, LABELER, REVIEWER, can_view_queues, has_role


def navigation(request) -> dict:
    """Which sections the navigation shows; the views check access again on every request."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    return {
        "nav": {
            "labeler": has_role(user, LABELER),
            "reviewer": has_role(user, REVIEWER),
            "admin": has_role(user, ADMIN),
            "queues": can_view_queues(user),
        }
    }
