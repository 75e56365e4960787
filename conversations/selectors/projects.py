"""The admin's project pages: every project with its conversation counts, and one project's
dashboard (prompts, leases and conversations by state per domain)."""

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations.models import ConversationState
from core.keyset import KeysetPanels, keyset_panel_error
from labeling.models import (
    Assignment,
    Domain,
    GuidelineVersion,
    ImportBatch,
    Project,
    ProjectCount,
)
from labeling.selectors import PROJECT_ORDER
from labeling.services.counters import PROMPTS, RETIRED, WRITTEN

# The dashboard's paged lists: each pages by its own `<name>_cursor` parameter.
DASHBOARD_LISTS = ("imports", "leases", "skips")

# The order the dashboard and the labeler's home show conversation states in.
CONVERSATION_STATES = (
    ConversationState.DRAFT,
    ConversationState.CHANGES_REQUESTED,
    ConversationState.SUBMITTED,
    ConversationState.APPROVED,
    ConversationState.REJECTED,
)


def _counted(name: str) -> Coalesce:
    """The project's maintained count `name` (summed over domains and shards)."""
    rows = (
        ProjectCount.objects.filter(project=OuterRef("pk"), name=name)
        .order_by()
        .values("project")
        .annotate(total=Sum("value"))
        .values("total")
    )
    return Coalesce(Subquery(rows[:1], output_field=IntegerField()), 0)


def project_list_for_admin() -> QuerySet[Project]:
    """Every project with its domains, prompt count and conversation counts (2 queries,
    read from the maintained counts: the same time for a million conversations as a few)."""
    return (
        Project.objects.order_by(*PROJECT_ORDER)
        .prefetch_related("domains")
        .annotate(
            prompt_count=_counted(PROMPTS),
            submitted_count=_counted(ConversationState.SUBMITTED),
            approved_count=_counted(ConversationState.APPROVED),
        )
    )


def project_dashboard(project: Project, *, cursors: Mapping[str, str]) -> dict[str, Any]:
    """The admin project page: prompts and conversations by state per domain, and the
    imports, active leases and skips, each a keyset page at its own cursor in `cursors`
    (the page's query parameters; see `_dashboard_lists`).

    The same queries and about the same time whatever the project's size: prompts,
    retired prompts, written tasks and conversation states come from the maintained
    counts (`ProjectCount`); leases are counted live, as few as the people at work.
    Open slots are what replications still ask for: prompts × replications minus the
    tasks written and the leases held (expired ones included until the periodic expiry
    gives their slot back, as the assignment engine counts them).
    """
    now = timezone.now()
    rows: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counted = (
        ProjectCount.objects.filter(project=project)
        .values("domain_key", "name")
        .annotate(total=Sum("value"))
        .order_by()
    )
    for count_row in counted:
        rows[count_row["domain_key"]][count_row["name"]] = count_row["total"]
    leases = (
        Assignment.objects.filter(project=project, status=Assignment.Status.LEASED)
        .values("prompt__domain_id")
        .annotate(held=Count("id"), unexpired=Count("id", filter=Q(lease_expires_at__gt=now)))
        .order_by()
    )
    for lease_row in leases:
        domain_row = rows[lease_row["prompt__domain_id"] or 0]
        domain_row["leased"] = lease_row["unexpired"]
        domain_row["held"] = lease_row["held"]
    for domain_row in rows.values():
        domain_row["open_slots"] = (
            domain_row[PROMPTS] * project.replications - domain_row[WRITTEN] - domain_row["held"]
        )
    slugs = dict(
        Domain.objects.filter(pk__in=[key for key in rows if key]).values_list("pk", "slug")
    )
    by_slug = {slugs.get(key, ""): counts for key, counts in rows.items()}

    columns = (PROMPTS, RETIRED, "open_slots", "leased", *CONVERSATION_STATES)
    table: list[dict[str, Any]] = [
        {"domain": slug or "no domain", "counts": [by_slug[slug][c] for c in columns]}
        for slug in sorted(by_slug)
    ]
    totals = [sum(row["counts"][i] for row in table) for i in range(len(columns))]
    labels = {
        PROMPTS: "Prompts",
        RETIRED: "Retired",
        "open_slots": "Open slots",
        "leased": "Leased",
        ConversationState.DRAFT: "Drafting",
        ConversationState.CHANGES_REQUESTED: "Changes requested",
        ConversationState.SUBMITTED: "Submitted",
        ConversationState.APPROVED: "Approved",
        ConversationState.REJECTED: "Rejected",
    }
    return {
        "columns": [labels[c] for c in columns],
        "by_domain": table,
        "totals": totals,
        **_dashboard_lists(project, cursors=cursors, now=now),
        "guidelines": GuidelineVersion.objects.filter(project=project)
        .select_related("created_by")
        .order_by("-version")
        .first(),
    }


def _dashboard_lists(
    project: Project, *, cursors: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    """The dashboard's imports, unexpired leases and skips, each a `KeysetPanel` paged by
    its own cursor (`imports_cursor`, `leases_cursor`, `skips_cursor`), and whether one of
    those cursors was not one its list gave (`cursor_error`: the page answers 400)."""
    panels = KeysetPanels(cursors, DASHBOARD_LISTS)
    imports = panels.panel(
        "imports",
        ImportBatch.objects.filter(project=project).select_related("created_by"),
        ordering=("-created_at", "-pk"),
        size=20,
    )
    active_leases = panels.panel(
        "leases",
        Assignment.objects.filter(
            project=project, status=Assignment.Status.LEASED, lease_expires_at__gt=now
        ).select_related("labeler", "prompt", "prompt__domain"),
        ordering=("lease_expires_at", "pk"),
        size=50,
    )
    skips = panels.panel(
        "skips",
        # task_skip stamps completed_at; the filter states keyset's no-NULL precondition.
        Assignment.objects.filter(
            project=project, status=Assignment.Status.SKIPPED, completed_at__isnull=False
        )
        # The writing a skip kept (an abandoned conversation), shown beside the reason.
        .select_related("labeler", "prompt", "conversation")
        .prefetch_related("conversation__messages"),
        ordering=("-completed_at", "-pk"),
        size=50,
    )
    return {
        "imports": imports,
        "active_leases": active_leases,
        "skips": skips,
        "cursor_error": keyset_panel_error(imports, active_leases, skips),
    }
