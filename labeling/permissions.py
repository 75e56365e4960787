"""Who may see and do what. Every view and API endpoint asks here; none decides on its own.

Object rules answer False rather than raise, so a view can turn "not yours" into a 404
(the object's existence is not revealed) and "not allowed" into a 403.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from rest_framework.permissions import BasePermission

from .models import Project, ProjectStatus, Role

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


def can_export(user) -> bool:
    """Exports hold every approved conversation of a project: admins only."""
    return has_role(user, ADMIN)


def can_view_export_job(user, job) -> bool:
    """Any admin may see, cancel and download any export job (exports are team artifacts)."""
    return can_export(user)


def can_view_queues(user) -> bool:
    """The queues page shows every team's jobs and what the workers run: admins, and
    Django staff (who operate the machines without an admin role in the app)."""
    if has_role(user, ADMIN):
        return True
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def home_url_name(user) -> str:
    """Where a person lands after login: the home of their most hands-on role."""
    if has_role(user, LABELER):
        return "conversations:labeler-home"
    if has_role(user, REVIEWER):
        return "conversations:review-queue"
    if has_role(user, ADMIN):
        return "conversations:project-list"
    return "no-role"


# Projects, prompts and tasks ---------------------------------------------------------


# The one "domains meet" rule. Something carrying domains (a project, a prompt) is open to a
# person when it has none, or shares one with the person's. It is written once, as a Q
# (what the SQL filters use); the Python check evaluates that same Q on ids in memory.


def domains_meet_q(person_domain_ids, domains: str = "domains") -> Q:
    """The rule as a filter: `domains` is the path from the queried model to its domains
    (`"domains"` on a project, `"domain"` on a prompt, `"prompt__domain"` on a conversation).
    A multi-valued path (a project's domains) joins rows: make the query distinct."""
    return Q(**{f"{domains}__isnull": True}) | Q(**{f"{domains}__in": list(person_domain_ids)})


def domains_meet(person_domain_ids, item_domain_ids) -> bool:
    """The rule in Python, for objects already loaded: `domains_meet_q` evaluated on ids."""
    return _holds(domains_meet_q(person_domain_ids, "item"), {"item": set(item_domain_ids)})


def _holds(q: Q, values: dict[str, set]) -> bool:
    """Evaluate a Q of `path__isnull` / `path__in` lookups on in-memory id sets, with SQL's
    meaning for a multi-valued path: isnull = no ids at all, in = any id in the list."""
    results = []
    for child in q.children:
        if isinstance(child, Q):
            results.append(_holds(child, values))
            continue
        if not isinstance(child, tuple):
            raise ValueError(f"unsupported node {child!r} in a domains rule")
        lookup, wanted = child
        path, _, operator = lookup.rpartition("__")
        ids = values[path]
        if operator == "isnull":
            results.append((not ids) == wanted)
        elif operator == "in":
            results.append(bool(ids & set(wanted)))
        else:
            raise ValueError(f"unsupported lookup {lookup!r} in a domains rule")
    held = any(results) if q.connector == Q.OR else all(results)
    return not held if q.negated else held


def can_manage_projects(user) -> bool:
    return has_role(user, ADMIN)


def can_view_project(user, project) -> bool:
    """Admins see every project; labelers and reviewers the live projects in their domains."""
    if has_role(user, ADMIN):
        return True
    if project.status not in (ProjectStatus.ACTIVE, ProjectStatus.PAUSED):
        return False
    if not has_role(user, LABELER, REVIEWER):
        return False
    mine: set[int] = set()
    if has_role(user, LABELER):
        mine |= {d.pk for d in user.labeler_domains.all()}
    if has_role(user, REVIEWER):
        mine |= {d.pk for d in user.reviewer_domains.all()}
    return domains_meet(mine, [d.pk for d in project.domains.all()])


def can_work_on_assignment(user, assignment) -> bool:
    """Only the labeler holding a task may act on it; anyone else gets a 404."""
    return has_role(user, LABELER) and assignment.labeler_id == user.pk


# Review ------------------------------------------------------------------------------
# A conversation's domain is its prompt's domain. A conversation without one (no prompt,
# or a prompt without a domain) belongs to its project's domains; a project without
# domains is open to every reviewer.


def reviewer_covers(
    *, domain_id: int | None, project_domain_ids, reviewer_domain_ids: set[int]
) -> bool:
    """Python twin of `covered_conversations_q`: the rule on the conversation's domains."""
    item = [domain_id] if domain_id is not None else project_domain_ids
    return domains_meet(reviewer_domain_ids, item)


def covered_conversations_q(reviewer_domain_ids) -> Q:
    """Conversations these reviewer domains cover, as a filter on conversations: the rule on
    the prompt's domain when it has one, else on the project's domains (a subquery, so the
    conversations are not repeated per project domain)."""
    open_projects = Project.objects.filter(domains_meet_q(reviewer_domain_ids)).values("pk")
    return (
        Q(prompt__domain__isnull=False) & domains_meet_q(reviewer_domain_ids, "prompt__domain")
    ) | Q(prompt__domain__isnull=True, project__in=open_projects)


def is_self_review(user, conversation) -> bool:
    """The person wrote this conversation: they may never review it, whatever their roles."""
    return conversation.labeler_id is not None and conversation.labeler_id == user.pk


def can_review_conversation(user, conversation) -> bool:
    """A reviewer whose reviewer domains cover the conversation, and who did not write it."""
    if not has_role(user, REVIEWER) or is_self_review(user, conversation):
        return False
    prompt = conversation.prompt
    return reviewer_covers(
        domain_id=prompt.domain_id if prompt else None,
        project_domain_ids=[d.pk for d in conversation.project.domains.all()],
        reviewer_domain_ids={d.pk for d in user.reviewer_domains.all()},
    )


def can_view_quality(user, person) -> bool:
    """Admins see everyone's quality figures; everyone else only their own."""
    return has_role(user, ADMIN) or (user.is_authenticated and user.pk == person.pk)


def can_view_all_quality(user) -> bool:
    return has_role(user, ADMIN)


# Conversations (authoring) ----------------------------------------------------------


def can_edit_conversation(user, conversation) -> bool:
    """A labeler writes only their own conversations; nobody else sees their drafts."""
    return has_role(user, LABELER) and conversation.labeler_id == user.pk


def can_view_conversation_history(user, conversation) -> bool:
    """A conversation's history (revisions and reviews, with their comments): its author,
    admins, and the reviewers who may review it (their domains cover it)."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if is_self_review(user, conversation) or has_role(user, ADMIN):
        return True
    return can_review_conversation(user, conversation)
