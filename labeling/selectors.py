from collections import defaultdict
from typing import Any

from django.db.models import Count, F, Func, IntegerField, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import (
    Assignment,
    Domain,
    GuidelineRead,
    GuidelineVersion,
    ImportBatch,
    Project,
    ProjectStatus,
    Prompt,
    User,
)
from .permissions import ADMIN, LABELER, REVIEWER, has_role


def member_list() -> QuerySet[User]:
    return User.objects.order_by("username").prefetch_related("labeler_domains", "reviewer_domains")


def domain_list() -> QuerySet[Domain]:
    return Domain.objects.order_by("slug")


# Projects, prompts and tasks ---------------------------------------------------------

CONVERSATION_STATES = ("draft", "changes_requested", "submitted", "approved", "rejected")


def _count_of(queryset: QuerySet) -> Coalesce:
    """A correlated COUNT(*) subquery: counts without multiplying joined rows."""
    counted = queryset.order_by().annotate(n=Func(F("id"), function="COUNT")).values("n")
    return Coalesce(Subquery(counted[:1], output_field=IntegerField()), 0)


def project_list_for_admin() -> QuerySet[Project]:
    """Every project with its domains, prompt count and conversation counts (3 queries)."""
    from conversations.models import Conversation

    conversations = Conversation.objects.filter(project=OuterRef("pk"))
    return (
        Project.objects.order_by("-priority", "name")
        .prefetch_related("domains")
        .annotate(
            prompt_count=_count_of(Prompt.objects.filter(project=OuterRef("pk"))),
            submitted_count=_count_of(conversations.filter(state="submitted")),
            approved_count=_count_of(conversations.filter(state="approved")),
        )
    )


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
        Q(domains__isnull=True) | Q(domains__in=domain_ids),
        status__in=[ProjectStatus.ACTIVE, ProjectStatus.PAUSED],
    ).distinct()


def visible_prompts(user: User, project: Project) -> QuerySet[Prompt]:
    """A project's prompts a person may read: all for admins, their domains for others."""
    prompts = Prompt.objects.filter(project=project).select_related("domain").order_by("id")
    if has_role(user, ADMIN):
        return prompts
    domain_ids = set(user.labeler_domains.values_list("id", flat=True)) | set(
        user.reviewer_domains.values_list("id", flat=True)
    )
    return prompts.filter(Q(domain__isnull=True) | Q(domain_id__in=domain_ids))


def project_dashboard(project: Project) -> dict:
    """The admin project page: prompts by state per domain, imports, leases, skips.

    A fixed number of queries whatever the project's size: every count is grouped in SQL.
    """
    from conversations.models import Conversation

    now = timezone.now()
    rows: dict = defaultdict(lambda: defaultdict(int))
    names = {}
    prompt_rows = (
        Prompt.objects.filter(project=project)
        .values("domain__slug")
        .annotate(
            prompts=Count("id"),
            taken=Coalesce(Sum("slots_taken"), 0),
            untouched=Count("id", filter=Q(slots_taken=0)),
        )
        .order_by()
    )
    for row in prompt_rows:
        slug = row["domain__slug"] or ""
        names[slug] = slug
        rows[slug]["prompts"] = row["prompts"]
        rows[slug]["open_slots"] = row["prompts"] * project.replications - row["taken"]
        rows[slug]["waiting"] = row["untouched"]
    leased = (
        Assignment.objects.filter(
            project=project, status=Assignment.Status.LEASED, lease_expires_at__gt=now
        )
        .values("prompt__domain__slug")
        .annotate(n=Count("id"))
        .order_by()
    )
    for lease_row in leased:
        rows[lease_row["prompt__domain__slug"] or ""]["leased"] = lease_row["n"]
    states = (
        Conversation.objects.filter(project=project)
        .values("prompt__domain__slug", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for state_row in states:
        rows[state_row["prompt__domain__slug"] or ""][state_row["state"]] = state_row["n"]

    columns = ("prompts", "waiting", "open_slots", "leased", *CONVERSATION_STATES)
    table: list[dict[str, Any]] = [
        {"domain": slug or "no domain", "counts": [rows[slug][c] for c in columns]}
        for slug in sorted(rows)
    ]
    totals = [sum(row["counts"][i] for row in table) for i in range(len(columns))]
    labels = {
        "prompts": "Prompts",
        "waiting": "Waiting",
        "open_slots": "Open slots",
        "leased": "Leased",
        "draft": "Drafting",
        "changes_requested": "Changes requested",
        "submitted": "Submitted",
        "approved": "Approved",
        "rejected": "Rejected",
    }
    return {
        "columns": [labels[c] for c in columns],
        "by_domain": table,
        "totals": totals,
        "imports": list(
            ImportBatch.objects.filter(project=project)
            .select_related("created_by")
            .order_by("-created_at")[:20]
        ),
        "active_leases": list(
            Assignment.objects.filter(
                project=project, status=Assignment.Status.LEASED, lease_expires_at__gt=now
            )
            .select_related("labeler", "prompt", "prompt__domain")
            .order_by("lease_expires_at")[:50]
        ),
        "skips": list(
            Assignment.objects.filter(project=project, status=Assignment.Status.SKIPPED)
            .select_related("labeler", "prompt")
            .order_by("-completed_at")[:50]
        ),
        "guidelines": GuidelineVersion.objects.filter(project=project)
        .select_related("created_by")
        .order_by("-version")
        .first(),
    }


def labeler_home(user: User) -> dict:
    """Everything on a labeler's home page in a fixed number of queries."""
    from conversations.models import Conversation
    from conversations.selectors.review import review_outcomes_for_labeler

    now = timezone.now()
    mine = Conversation.objects.filter(labeler=user).select_related("project", "prompt")
    counts = dict(
        Conversation.objects.filter(labeler=user)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    active = list(
        Assignment.objects.filter(
            labeler=user, status=Assignment.Status.LEASED, lease_expires_at__gt=now
        )
        .select_related("project", "prompt", "conversation")
        .order_by("lease_expires_at")
    )
    active_ids = [a.pk for a in active]
    drafts = list(
        mine.filter(state="draft")
        .exclude(assignment_id__in=active_ids)
        .order_by("-updated_at")[:20]
    )
    returned = list(mine.filter(state="changes_requested").order_by("-updated_at")[:20])
    recent = list(
        mine.filter(state__in=["submitted", "approved", "rejected"]).order_by(
            "-submitted_at", "-id"
        )[:10]
    )
    # Guidelines notices for the projects the person is working in right now.
    project_ids = {a.project_id for a in active} | {c.project_id for c in returned}
    current = dict(
        GuidelineVersion.objects.filter(project_id__in=project_ids)
        .values_list("project_id")
        .annotate(top=Max("version"))
        .order_by()
    )
    read = dict(
        GuidelineRead.objects.filter(user=user, project_id__in=project_ids).values_list(
            "project_id", "version"
        )
    )
    changed = [pid for pid, version in current.items() if read.get(pid) != version]
    for assignment in active:
        # Attributes for the home page's template, not model fields.
        assignment.guidelines_changed = assignment.project_id in changed  # type: ignore[attr-defined]
        assignment.conversation_id_or_none = getattr(  # type: ignore[attr-defined]
            getattr(assignment, "conversation", None), "pk", None
        )
    return {
        "active": active,
        "drafts": drafts,
        "returned": returned,
        "recent": recent,
        "reviewed": review_outcomes_for_labeler(user, limit=10),
        "counts": {state: counts.get(state, 0) for state in CONVERSATION_STATES},
        "written": sum(counts.get(s, 0) for s in ("submitted", "approved", "rejected")),
        "skipped": Assignment.objects.filter(labeler=user, status="skipped").count(),
    }


def labeler_projects(user: User) -> list[Project]:
    """Active projects open to this labeler (for the "work on" choice beside Next task)."""
    domain_ids = list(user.labeler_domains.values_list("id", flat=True))
    return list(
        Project.objects.filter(status=ProjectStatus.ACTIVE)
        .filter(Q(domains__isnull=True) | Q(domains__in=domain_ids))
        .distinct()
        .order_by("-priority", "name")
    )
