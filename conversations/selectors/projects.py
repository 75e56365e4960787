"""The admin's project pages: every project with its conversation counts, and one project's
dashboard (prompts, leases and conversations by state per domain)."""

from collections import defaultdict
from typing import Any

from django.db.models import Count, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations.models import Conversation, ConversationState
from labeling.models import Assignment, GuidelineVersion, ImportBatch, Project, Prompt

# The order the dashboard and the labeler's home show conversation states in.
CONVERSATION_STATES = (
    ConversationState.DRAFT,
    ConversationState.CHANGES_REQUESTED,
    ConversationState.SUBMITTED,
    ConversationState.APPROVED,
    ConversationState.REJECTED,
)


def _count_of(queryset: QuerySet) -> Coalesce:
    """A correlated COUNT(*) subquery: counts without multiplying joined rows."""
    counted = queryset.order_by().annotate(n=Func(F("id"), function="COUNT")).values("n")
    return Coalesce(Subquery(counted[:1], output_field=IntegerField()), 0)


def project_list_for_admin() -> QuerySet[Project]:
    """Every project with its domains, prompt count and conversation counts (3 queries)."""
    conversations = Conversation.objects.filter(project=OuterRef("pk"))
    return (
        Project.objects.order_by("-priority", "name")
        .prefetch_related("domains")
        .annotate(
            prompt_count=_count_of(Prompt.objects.filter(project=OuterRef("pk"))),
            submitted_count=_count_of(conversations.filter(state=ConversationState.SUBMITTED)),
            approved_count=_count_of(conversations.filter(state=ConversationState.APPROVED)),
        )
    )


def project_dashboard(project: Project) -> dict[str, Any]:
    """The admin project page: prompts by state per domain, imports, leases, skips.

    A fixed number of queries whatever the project's size: every count is grouped in SQL.
    """
    now = timezone.now()
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
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
            # The writing a skip kept (an abandoned conversation), shown beside the reason.
            .select_related("labeler", "prompt", "conversation")
            .prefetch_related("conversation__messages")
            .order_by("-completed_at")[:50]
        ),
        "guidelines": GuidelineVersion.objects.filter(project=project)
        .select_related("created_by")
        .order_by("-version")
        .first(),
    }
