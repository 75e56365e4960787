from django.db.models import QuerySet

from .models import (
    Domain,
    Project,
    ProjectStatus,
    Prompt,
    User,
)
from .permissions import ADMIN, LABELER, REVIEWER, domains_meet_q, has_role


def member_list() -> QuerySet[User]:
    return User.objects.order_by("username").prefetch_related("labeler_domains", "reviewer_domains")


def domain_list() -> QuerySet[Domain]:
    return Domain.objects.order_by("slug")


# Projects, prompts and tasks ---------------------------------------------------------


def visible_projects(user: User) -> QuerySet[Project]:
    """The projects a person may read: all for admins; live ones in their domains for others."""
    projects = Project.objects.prefetch_related("domains").order_by("-priority", "name")
    if has_role(user, ADMIN):
        return projects
    if not has_role(user, LABELER, REVIEWER):
        return projects.none()
    domain_ids = set()
    if has_role(user, LABELER):
        domain_ids |= set(user.labeler_domains.values_list("id", flat=True))
    if has_role(user, REVIEWER):
        domain_ids |= set(user.reviewer_domains.values_list("id", flat=True))
    return projects.filter(
        domains_meet_q(domain_ids), status__in=[ProjectStatus.ACTIVE, ProjectStatus.PAUSED]
    ).distinct()


def visible_prompts(user: User, project: Project) -> QuerySet[Prompt]:
    """A project's prompts a person may read: all for admins, their domains for others."""
    prompts = Prompt.objects.filter(project=project).select_related("domain").order_by("id")
    if has_role(user, ADMIN):
        return prompts
    domain_ids = set(user.labeler_domains.values_list("id", flat=True)) | set(
        user.reviewer_domains.values_list("id", flat=True)
    )
    return prompts.filter(domains_meet_q(domain_ids, "domain"))


def labeler_projects(user: User) -> list[Project]:
    """Active projects open to this labeler (for the "work on" choice beside Next task)."""
    domain_ids = list(user.labeler_domains.values_list("id", flat=True))
    return list(
        Project.objects.filter(status=ProjectStatus.ACTIVE)
        .filter(domains_meet_q(domain_ids))
        .distinct()
        .order_by("-priority", "name")
    )
