"""Quality figures for labelers and reviewers, and the charts on the quality page.

Every figure comes from a fixed number of queries (aggregated in the database where SQL
can; medians, edit ratios and agreement from one streamed query each), whatever the
number of conversations.
"""

from collections import defaultdict
from datetime import date, datetime, timedelta
from itertools import combinations
from statistics import median
from typing import Any, TypedDict

import krippendorff
import numpy
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from conversations.diffing import edit_ratio
from conversations.models import (
    Conversation,
    ConversationState,
    Message,
    MessageRole,
    Review,
    ReviewDecision,
    Revision,
)

CHART_DAYS = 30


# Agreement -------------------------------------------------------------------------


def krippendorff_alpha_interval(units: list[list[float]]) -> float | None:
    """Krippendorff's alpha, interval metric, for `units` (each: the values raters gave it),
    computed by the `krippendorff` package from each unit's value counts.

    Alpha depends only on which values each unit got, not on who gave them. None when
    undefined: fewer than two pairable values (units with two values or more) or no
    variation at all.
    """
    pairable = [[float(v) for v in values] for values in units if len(values) >= 2]
    domain = sorted({v for values in pairable for v in values})
    if len(domain) < 2:
        return None
    index = {value: column for column, value in enumerate(domain)}
    counts = numpy.zeros((len(pairable), len(domain)))
    for row, values in enumerate(pairable):
        for value in values:
            counts[row, index[value]] += 1
    return float(
        krippendorff.alpha(
            value_counts=counts, value_domain=domain, level_of_measurement="interval"
        )
    )


def agreement_figures(reviews: list[tuple[int, int, str, dict]]) -> dict:
    """Agreement from (revision_id, reviewer_id, decision, scores) rows.

    A unit is a revision two or more reviewers judged. Per reviewer: the share of their
    pairings with another reviewer on the same revision that reached the same decision,
    and alpha over the (revision, criterion) units they took part in (everyone's scores).
    """
    by_revision: dict[int, dict[int, tuple[str, dict]]] = defaultdict(dict)
    for revision_id, reviewer_id, decision, scores in reviews:
        by_revision[revision_id][reviewer_id] = (decision, scores or {})
    by_revision = {rid: judged for rid, judged in by_revision.items() if len(judged) >= 2}

    pairs: dict[int, list[bool]] = defaultdict(list)
    units_of: dict[int, list[list[float]]] = defaultdict(list)
    all_pairs, all_units = [], []
    for judged in by_revision.values():
        for (a, (decision_a, _)), (b, (decision_b, _)) in combinations(judged.items(), 2):
            same = decision_a == decision_b
            pairs[a].append(same)
            pairs[b].append(same)
            all_pairs.append(same)
        criteria = sorted({name for _, scores in judged.values() for name in scores})
        for name in criteria:
            unit = [scores[name] for _, scores in judged.values() if name in scores]
            if len(unit) >= 2:
                all_units.append(unit)
                for reviewer_id, (_, scores) in judged.items():
                    if name in scores:
                        units_of[reviewer_id].append(unit)
    per_reviewer = {
        reviewer_id: {
            "shared": len(same),
            "percent_agreement": 100 * sum(same) / len(same),
            "alpha": krippendorff_alpha_interval(units_of[reviewer_id]),
        }
        for reviewer_id, same in pairs.items()
    }
    return {
        "per_reviewer": per_reviewer,
        "units": len(by_revision),
        "percent_agreement": 100 * sum(all_pairs) / len(all_pairs) if all_pairs else None,
        "alpha": krippendorff_alpha_interval(all_units),
    }


# Labelers --------------------------------------------------------------------------


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 60


def labeler_figures(*, project_id: int | None = None, person_id: int | None = None) -> list[dict]:
    conversations = Conversation.objects.filter(
        submitted_at__isnull=False, labeler__isnull=False
    ).order_by()
    if project_id:
        conversations = conversations.filter(project_id=project_id)
    if person_id:
        conversations = conversations.filter(labeler_id=person_id)
    was_returned = Exists(
        Review.objects.filter(
            conversation_id=OuterRef("pk"), decision=ReviewDecision.REQUEST_CHANGES
        )
    )
    rows = (
        conversations.values("labeler_id", "labeler__username")
        .annotate(
            submitted=Count("pk"),
            approved=Count("pk", filter=Q(state=ConversationState.APPROVED)),
            rejected=Count("pk", filter=Q(state=ConversationState.REJECTED)),
            returned=Count("pk", filter=Q(was_returned)),
        )
        .order_by("labeler__username")
    )
    # Minutes from opening the conversation to its first submission.
    durations: dict[int, list[float]] = defaultdict(list)
    first_submits = conversations.annotate(
        first_submit=Min("revisions__created_at", filter=Q(revisions__kind=Revision.Kind.SUBMIT))
    ).values_list("labeler_id", "created_at", "first_submit")
    for labeler_id, created_at, first_submit in first_submits.iterator():
        minutes = _minutes(created_at, first_submit)
        if minutes is not None:
            durations[labeler_id].append(minutes)
    ratios: dict[int, list[float]] = defaultdict(list)
    drafted = (
        Message.objects.filter(conversation__in=conversations, role=MessageRole.ASSISTANT)
        .exclude(model_original="")
        .values_list("conversation__labeler_id", "model_original", "content")
    )
    for labeler_id, original, content in drafted.iterator():
        ratios[labeler_id].append(edit_ratio(original, content))
    figures = []
    for row in rows:
        decided = row["approved"] + row["rejected"]
        labeler_ratios = ratios.get(row["labeler_id"], [])
        figures.append(
            {
                "id": row["labeler_id"],
                "username": row["labeler__username"],
                "submitted": row["submitted"],
                "approved": row["approved"],
                "returned": row["returned"],
                "rejected": row["rejected"],
                "approval_rate": 100 * row["approved"] / decided if decided else None,
                "median_minutes": median(durations[row["labeler_id"]])
                if durations.get(row["labeler_id"])
                else None,
                "mean_edit_ratio": sum(labeler_ratios) / len(labeler_ratios)
                if labeler_ratios
                else None,
                "drafted_messages": len(labeler_ratios),
            }
        )
    return figures


# Reviewers -------------------------------------------------------------------------


def reviewer_figures(
    *, project_id: int | None = None, person_id: int | None = None
) -> tuple[list[dict], dict]:
    reviews = Review.objects.order_by()
    if project_id:
        reviews = reviews.filter(conversation__project_id=project_id)
    mine = reviews.filter(reviewer_id=person_id) if person_id else reviews
    rows = (
        mine.values("reviewer_id", "reviewer__username")
        .annotate(
            reviews=Count("pk"),
            approved=Count("pk", filter=Q(decision=ReviewDecision.APPROVE)),
            returned=Count("pk", filter=Q(decision=ReviewDecision.REQUEST_CHANGES)),
            rejected=Count("pk", filter=Q(decision=ReviewDecision.REJECT)),
        )
        .order_by("reviewer__username")
    )
    # Turnaround: from the submission the review answered to the review.
    entered = Subquery(
        Revision.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            kind=Revision.Kind.SUBMIT,
            created_at__lte=OuterRef("created_at"),
        )
        .order_by("-number")
        .values("created_at")[:1]
    )
    turnarounds: dict[int, list[float]] = defaultdict(list)
    for reviewer_id, created_at, entered_at in (
        mine.annotate(entered=entered)
        .values_list("reviewer_id", "created_at", "entered")
        .iterator()
    ):
        minutes = _minutes(entered_at, created_at)
        if minutes is not None:
            turnarounds[reviewer_id].append(minutes)
    # Agreement: every review of the revisions that two or more people judged.
    shared_revisions = (
        reviews.values("revision_id")
        .annotate(people=Count("reviewer_id", distinct=True))
        .filter(people__gte=2)
        .values("revision_id")
    )
    if person_id:
        shared_revisions = shared_revisions.filter(revision_id__in=mine.values("revision_id"))
    agreement = agreement_figures(
        list(
            reviews.filter(revision_id__in=shared_revisions)
            .order_by("created_at", "pk")
            .values_list("revision_id", "reviewer_id", "decision", "scores")
        )
    )
    figures = []
    for row in rows:
        times = turnarounds.get(row["reviewer_id"])
        agreed = agreement["per_reviewer"].get(row["reviewer_id"], {})
        figures.append(
            {
                "id": row["reviewer_id"],
                "username": row["reviewer__username"],
                "reviews": row["reviews"],
                "approved": row["approved"],
                "returned": row["returned"],
                "rejected": row["rejected"],
                "median_turnaround_minutes": median(times) if times else None,
                "shared": agreed.get("shared", 0),
                "percent_agreement": agreed.get("percent_agreement"),
                "alpha": agreed.get("alpha"),
            }
        )
    return figures, agreement


# Charts ----------------------------------------------------------------------------


class DayFigures(TypedDict):
    day: date
    approvals: int
    queue: int


def _per_day(queryset: QuerySet[Any], field: str) -> dict[date, int]:
    return {
        row["day"]: row["n"]
        for row in queryset.order_by()
        .annotate(day=TruncDate(field))
        .values("day")
        .annotate(n=Count("pk"))
        .values("day", "n")
    }


def daily_series(*, project_id: int | None = None, days: int = CHART_DAYS) -> dict:
    """Approvals per day and the queue length at the end of each day, over `days` days.

    The queue grows by every submission and shrinks by every return, rejection and final
    approval, counted from the beginning so the first day starts at the right length.
    """
    conversations = Conversation.objects.all()
    revisions = Revision.objects.filter(kind=Revision.Kind.SUBMIT)
    reviews = Review.objects.filter(
        decision__in=[ReviewDecision.REQUEST_CHANGES, ReviewDecision.REJECT]
    )
    if project_id:
        conversations = conversations.filter(project_id=project_id)
        revisions = revisions.filter(conversation__project_id=project_id)
        reviews = reviews.filter(conversation__project_id=project_id)
    approvals = _per_day(
        conversations.filter(state=ConversationState.APPROVED, decided_at__isnull=False),
        "decided_at",
    )
    entered = _per_day(revisions, "created_at")
    left = _per_day(reviews, "created_at")
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    queue_length = sum(entered.get(d, 0) for d in entered if d < first) - sum(
        count for d, count in [*left.items(), *approvals.items()] if d < first
    )
    series: list[DayFigures] = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        queue_length += entered.get(day, 0) - left.get(day, 0) - approvals.get(day, 0)
        series.append({"day": day, "approvals": approvals.get(day, 0), "queue": queue_length})
    return {
        "approvals_chart": bar_chart([(p["day"], p["approvals"]) for p in series]),
        "queue_chart": line_chart([(p["day"], p["queue"]) for p in series]),
        "series": series,
    }


CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 180, 28


def _scale(points: list[tuple[date, int]]) -> tuple[int, float, float]:
    peak = max([value for _, value in points] + [1])
    plot_width = CHART_WIDTH - 2 * CHART_PAD
    plot_height = CHART_HEIGHT - 2 * CHART_PAD
    return peak, plot_width / max(len(points), 1), plot_height / peak


def bar_chart(points: list[tuple[date, int]]) -> dict:
    """Geometry for an SVG bar chart; the template only draws it."""
    peak, step, unit = _scale(points)
    bars = []
    for index, (day, value) in enumerate(points):
        height = value * unit
        bars.append(
            {
                "x": round(CHART_PAD + index * step + step * 0.15, 1),
                "y": round(CHART_HEIGHT - CHART_PAD - height, 1),
                "width": round(step * 0.7, 1),
                "height": round(height, 1),
                "day": day,
                "value": value,
            }
        )
    return _frame(points, peak) | {"bars": bars, "total": sum(v for _, v in points)}


def line_chart(points: list[tuple[date, int]]) -> dict:
    peak, step, unit = _scale(points)
    coordinates = [
        (
            round(CHART_PAD + index * step + step / 2, 1),
            round(CHART_HEIGHT - CHART_PAD - v * unit, 1),
        )
        for index, (_, v) in enumerate(points)
    ]
    line = " ".join(f"{x},{y}" for x, y in coordinates)
    base = CHART_HEIGHT - CHART_PAD
    area = (
        f"M{coordinates[0][0]},{base} L"
        + " L".join(f"{x},{y}" for x, y in coordinates)
        + f" L{coordinates[-1][0]},{base} Z"
        if coordinates
        else ""
    )
    dots = [
        {"x": x, "y": y, "day": day, "value": value}
        for (x, y), (day, value) in zip(coordinates, points, strict=True)
    ]
    return _frame(points, peak) | {
        "line": line,
        "area": area,
        "dots": dots,
        "last": points[-1][1] if points else 0,
    }


def _frame(points: list[tuple[date, int]], peak: int) -> dict:
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "pad": CHART_PAD,
        "baseline": CHART_HEIGHT - CHART_PAD,
        "top": CHART_PAD,
        "right": CHART_WIDTH - CHART_PAD,
        "peak": peak,
        "first_day": points[0][0] if points else None,
        "last_day": points[-1][0] if points else None,
    }


def quality_figures(*, project_id: int | None = None, person_id: int | None = None) -> dict:
    """Everything the quality page shows, for everyone (admins) or one person."""
    reviewers, agreement = reviewer_figures(project_id=project_id, person_id=person_id)
    figures = {
        "labelers": labeler_figures(project_id=project_id, person_id=person_id),
        "reviewers": reviewers,
        "agreement": agreement,
    }
    if person_id is None:
        figures |= daily_series(project_id=project_id)
    return figures
