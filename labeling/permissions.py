"""Who may see and do what. Every view and API endpoint asks here; none decides on its own.

Object rules answer False rather than raise, so a view can turn "not yours" into a 404
(the object's existence is not revealed) and "not allowed" into a 403.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from .models import Role

ADMIN = Role.ADMIN.value
LABELER = Role.LABELER.value
REVIEWER = Role.REVIEWER.value


def has_role(user, *roles: str) -> bool:
    """True when the signed-in person holds any of `roles` (an admin role also covers Django superusers)."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if ADMIN in roles and user.is_superuser:
        return True
    return any(user.has_role(role) for role in roles)


def require_role(user, *roles: str) -> None:
    if not has_role(user, *roles):
        raise PermissionDenied(f"This needs the {' or '.join(roles)} role.")


def role_required(*roles: str) -> Callable:
    """View decorator: anonymous people go to the login page; others need one of `roles`."""

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            require_role(request.user, *roles)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


member_required = login_required


class IsMember(BasePermission):
    """The API's default: any signed-in, active person."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_active)


def api_role(*roles: str) -> type[BasePermission]:
    """A DRF permission class that needs one of `roles`: `permission_classes = [api_role(ADMIN)]`."""

    class HasRole(BasePermission):
        message = f"This needs the {' or '.join(roles)} role."

        def has_permission(self, request, view) -> bool:
            return has_role(request.user, *roles)

    HasRole.__name__ = f"HasRole_{'_'.join(roles)}"
    return HasRole


def home_url_name(user) -> str:
    """Where a person lands after login: the home of their most hands-on role."""
    if has_role(user, LABELER):
        return "labeling:labeler-home"
    if has_role(user, REVIEWER):
        return "conversations:review-queue"
    if has_role(user, ADMIN):
        return "labeling:project-list"
    return "no-role"
