from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection, models
from django.db.models import Exists, OuterRef, QuerySet

from .models import (
    Assignment,
    Domain,
    Project,
    ProjectStatus,
    Prompt,
    User,
)
from .permissions import ADMIN, LABELER, REVIEWER, domains_meet_q, has_role

# The people lists' order: by username (unique, so it pages by keyset).
MEMBER_ORDER = ("username",)


def member_list() -> QuerySet[User]:
    return User.objects.order_by(*MEMBER_ORDER).prefetch_related(
        "labeler_domains", "reviewer_domains"
    )


DOMAIN_ORDER = ("slug",)


def domain_list() -> QuerySet[Domain]:
    return Domain.objects.order_by(*DOMAIN_ORDER)


# Projects, prompts and tasks ---------------------------------------------------------


# The project lists' order (highest priority first), ending with a unique field so that
# they page by keyset.
PROJECT_ORDER = ("-priority", "name", "pk")


def visible_projects(user: User) -> QuerySet[Project]:
    """The projects a person may read: all for admins; live ones in their domains for others."""
    projects = Project.objects.prefetch_related("domains").order_by(*PROJECT_ORDER)
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


class PromptStatus(models.TextChoices):
    OPEN = "open", "Open (nobody started it)"
    STARTED = "started", "Started"
    RETIRED = "retired", "Retired"


def prompts_find(
    project: Project,
    *,
    search: str = "",
    domain: str = "",
    status: str = "",
    batch: int | None = None,
) -> QuerySet[Prompt]:
    """A project's prompts for its admins' prompts page and API, newest first. `search` is
    PostgreSQL full-text search (English stemming, web-search syntax) on PostgreSQL and a
    case-insensitive substring elsewhere; `domain` is a slug or "none"."""
    started = Exists(Assignment.objects.filter(prompt=OuterRef("pk")))
    prompts = (
        Prompt.objects.filter(project=project)
        .select_related("domain", "import_batch")
        .annotate(started=started)
        .order_by("-id")
    )
    if search:
        if connection.vendor == "postgresql":
            prompts = prompts.annotate(search_vector=SearchVector("text", config="english")).filter(
                search_vector=SearchQuery(search, config="english", search_type="websearch")
            )
        else:
            prompts = prompts.filter(text__icontains=search)
    if domain == "none":
        prompts = prompts.filter(domain__isnull=True)
    elif domain:
        prompts = prompts.filter(domain__slug=domain)
    if status == PromptStatus.RETIRED:
        prompts = prompts.filter(retired_at__isnull=False)
    elif status == PromptStatus.STARTED:
        prompts = prompts.filter(started=True, retired_at__isnull=True)
    elif status == PromptStatus.OPEN:
        prompts = prompts.filter(started=False, retired_at__isnull=True)
    if batch is not None:
        prompts = prompts.filter(import_batch_id=batch)
    return prompts
