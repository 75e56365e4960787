"""Reads for the conversations page and its API: the conversations a person may read,
filtered, a page at a time, in a number of queries that does not grow with the data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.db.models.expressions import RawSQL

from conversations.models import Conversation, Review
from conversations.selectors.review import prompt_preview, reviewer_domain_ids
from labeling.models import Domain, Project, User
from labeling.permissions import ADMIN, REVIEWER, covered_conversations_q, has_role

# The domain filter's value for conversations whose prompt has no domain.
NO_DOMAIN = "-"


@dataclass(frozen=True)
class ConversationFilters:
    """What the conversations page and API filter on; None means "any"."""

    state: str | None = None
    project_id: int | None = None
    domain: str | None = None  # a domain slug, or NO_DOMAIN
    labeler_id: int | None = None
    reviewer_id: int | None = None
    submitted_from: dt.date | None = None
    submitted_to: dt.date | None = None
    min_score: float | None = None
    max_score: float | None = None

    def range_errors(self) -> dict[str, str]:
        """A range whose end lies below its start, by the name of its end field."""
        message = "must not be below the start of the range."
        errors = {}
        if self.submitted_from and self.submitted_to and self.submitted_to < self.submitted_from:
            errors["submitted_to"] = message
        if (
            self.min_score is not None
            and self.max_score is not None
            and self.max_score < self.min_score
        ):
            errors["max_score"] = message
        return errors


def readable_conversations(*, user: User) -> QuerySet[Conversation]:
    """Admins read every conversation; reviewers those their reviewer domains cover (the
    rule of labeling.permissions.reviewer_covers, so each row's history page opens for
    them); everyone else none (labelers find their own on My tasks)."""
    if has_role(user, ADMIN):
        return Conversation.objects.all()
    if has_role(user, REVIEWER):
        return Conversation.objects.filter(covered_conversations_q(reviewer_domain_ids(user)))
    return Conversation.objects.none()


def mean_score() -> RawSQL:
    """The mean of every rubric score its reviewers gave the current revision (None before
    any). Scores live in a JSON object per review, which only SQL's JSON functions open."""
    review = connection.ops.quote_name(Review._meta.db_table)
    conversation = connection.ops.quote_name(Conversation._meta.db_table)
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT AVG(s.value::numeric) FROM {review} r CROSS JOIN LATERAL jsonb_each_text("
            "CASE WHEN jsonb_typeof(r.scores) = 'object' THEN r.scores ELSE '{}'::jsonb END) s "
            f"WHERE r.revision_id = {conversation}.current_revision_id "
            "AND s.value ~ '^[0-9]+(\\.[0-9]+)?$'"
        )
    else:
        sql = (
            f"SELECT AVG(s.value) FROM {review} r, json_each(r.scores) s "
            f"WHERE r.revision_id = {conversation}.current_revision_id "
            "AND s.type IN ('integer', 'real')"
        )
    return RawSQL(sql, [])


def _filtered(queryset: QuerySet[Conversation], filters: ConversationFilters) -> QuerySet:
    if filters.state:
        queryset = queryset.filter(state=filters.state)
    if filters.project_id:
        queryset = queryset.filter(project_id=filters.project_id)
    if filters.domain == NO_DOMAIN:
        queryset = queryset.filter(prompt__domain__isnull=True)
    elif filters.domain:
        queryset = queryset.filter(prompt__domain__slug=filters.domain)
    if filters.labeler_id:
        queryset = queryset.filter(labeler_id=filters.labeler_id)
    if filters.reviewer_id:
        queryset = queryset.filter(
            Exists(
                Review.objects.filter(
                    conversation_id=OuterRef("pk"), reviewer_id=filters.reviewer_id
                )
            )
        )
    if filters.submitted_from:
        queryset = queryset.filter(submitted_at__date__gte=filters.submitted_from)
    if filters.submitted_to:
        queryset = queryset.filter(submitted_at__date__lte=filters.submitted_to)
    if filters.min_score is not None or filters.max_score is not None:
        queryset = queryset.annotate(mean_score=mean_score())
        if filters.min_score is not None:
            queryset = queryset.filter(mean_score__gte=filters.min_score)
        if filters.max_score is not None:
            queryset = queryset.filter(mean_score__lte=filters.max_score)
    return queryset


def conversation_list(*, user: User, filters: ConversationFilters) -> QuerySet[Conversation]:
    """The conversations `user` may read that match `filters`, newest first, each with its
    project, domain, labeler, prompt preview, mean score and reviews (with reviewers).
    Slicing a page costs three queries whatever its size: rows, reviews, and the count."""
    queryset = _filtered(readable_conversations(user=user), filters)
    if "mean_score" not in queryset.query.annotations:
        queryset = queryset.annotate(mean_score=mean_score())
    return (
        queryset.select_related("project", "prompt__domain", "labeler", "current_revision")
        .defer("metadata", "prompt__text", "prompt__messages", "prompt__metadata", "prompt__draft")
        .defer("current_revision__messages")
        .annotate(prompt_start=prompt_preview())
        .prefetch_related(
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer").defer("comment"))
        )
        .order_by("-pk")
    )


@dataclass(frozen=True)
class FilterChoices:
    """What the filter form offers: only people, projects and domains the person may see."""

    projects: list[Project]
    domains: list[Domain]
    labelers: list[User]
    reviewers: list[User]


def conversation_filter_choices(*, user: User) -> FilterChoices:
    """Four queries; the people are those who wrote or reviewed a readable conversation."""
    readable = readable_conversations(user=user)
    projects = Project.objects.filter(Exists(readable.filter(project_id=OuterRef("pk"))))
    domains = (
        Domain.objects.all()
        if has_role(user, ADMIN)
        else Domain.objects.filter(pk__in=reviewer_domain_ids(user))
    )
    labelers = User.objects.filter(Exists(readable.filter(labeler_id=OuterRef("pk"))))
    reviewers = User.objects.filter(
        Exists(Review.objects.filter(reviewer_id=OuterRef("pk"), conversation__in=readable))
    )
    return FilterChoices(
        projects=list(projects.order_by("name").only("pk", "name")),
        domains=list(domains.order_by("slug").only("pk", "slug", "name")),
        labelers=list(labelers.order_by("username").only("pk", "username")),
        reviewers=list(reviewers.order_by("username").only("pk", "username")),
    )
