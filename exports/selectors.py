"""Reads for exports: the approved conversations an export streams, and the job screens."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from conversations.models import (
    Conversation,
    ConversationState,
    MessageOrigin,
    Ranking,
    Review,
    ReviewDecision,
    Revision,
)
from conversations.selectors.ranking import ApprovedRanking, approved_rankings_in
from labeling.models import Project, ProjectKind, Prompt
from sftpipeline.preference import EDIT, REVIEW_EDIT

from .models import ExportJob, TokenizerAsset

if TYPE_CHECKING:
    from .services.config import ExportConfig

DEFAULT_CHUNK_SIZE = 1000


@dataclass(slots=True)
class ExportRow:
    """One approved conversation as the export sees it: its current revision and its reviews."""

    id: int
    project: str
    domain: str | None
    messages: Any
    imported: bool
    source_id: str
    labeler_id: int | None
    #: The current revision's content hash (duplicates are decided on it).
    content_hash: str = ""
    reviewer_ids: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    @property
    def mean_score(self) -> float | None:
        return sum(self.scores) / len(self.scores) if self.scores else None


def export_conversations_queryset(config: ExportConfig) -> QuerySet[Conversation]:
    """Approved conversations of the config's projects that pass the database-side filters.

    A ranking's conversation holds only its prompt: it is never an SFT row; its pairs come
    from `export_rankings`. (NOT EXISTS, not a LEFT JOIN … IS NULL: PostgreSQL estimates the
    anti-join well, where the join made it guess a few hundred rows of 100,000, sort the
    whole rest of the table and keep the first chunk, for every chunk.)
    """
    is_ranking = Ranking.objects.filter(conversation=OuterRef("pk"))
    return _approved_selection(config).filter(~Exists(is_ranking))


def export_read_queryset(config: ExportConfig) -> QuerySet[Conversation]:
    """The conversations an export reads row by row (its shards and chunks): every matching
    one, or for a pairs-only export on PostgreSQL just those that can give a pair from a
    correction (an AI draft a person rewrote, a reviewer's edit). The rest would be read only to be passed
    over: two conversations in three when a third began as AI drafts. Duplicates are still
    decided against the whole selection (`export_duplicate_candidates`)."""
    queryset = export_conversations_queryset(config)
    if config.writes_sft or not connection.features.supports_json_field_contains:
        return queryset  # SQLite cannot look into the revision's JSON: read every row
    can_pair = []
    if EDIT in config.preference_sources:
        # The exported revision holds a message that began as a draft (jsonb containment).
        edited = [{"origin": MessageOrigin.MODEL_EDITED.value}]
        can_pair.append(Q(current_revision__messages__contains=edited))
    if REVIEW_EDIT in config.preference_sources:
        reviewed = Revision.objects.filter(
            conversation=OuterRef("pk"), kind=Revision.Kind.REVIEW_EDIT
        )
        can_pair.append(Q(Exists(reviewed)))
    if not can_pair:
        return queryset.none()
    condition = can_pair[0]
    for other in can_pair[1:]:
        condition |= other
    return queryset.filter(condition)


def _approved_selection(config: ExportConfig) -> QuerySet[Conversation]:
    queryset = Conversation.objects.filter(
        state=ConversationState.APPROVED,
        project__slug__in=config.projects,
        current_revision__isnull=False,
    )
    if config.domains:
        queryset = queryset.filter(prompt__domain__slug__in=config.domains)
    if config.date_from:
        queryset = queryset.filter(**{f"{config.date_field}__date__gte": config.date_from})
    if config.date_to:
        queryset = queryset.filter(**{f"{config.date_field}__date__lte": config.date_to})
    return queryset


_ROW_FIELDS = (
    "id",
    "project__slug",
    "prompt__domain__slug",
    "current_revision_id",
    "current_revision__messages",
    "imported",
    "source_id",
    "labeler_id",
    "current_revision__content_hash",
)


def _among(field: str, ids: Sequence[int]) -> Q:
    """`field` is one of `ids` (ascending): as an id range when the ids are dense, a
    quarter of the range or more (the index answers a range without the query carrying
    every id, which costs Django and psycopg more than the range's extra rows: a pairs
    export reads one conversation in three), else as a list. With a range the caller
    ignores the rows of ids that are not in `ids`."""
    if ids and ids[-1] - ids[0] < 4 * len(ids):
        return Q(**{f"{field}__gte": ids[0], f"{field}__lte": ids[-1]})
    return Q(**{f"{field}__in": list(ids)})


def _export_rows(values: list[tuple[Any, ...]]) -> list[ExportRow]:
    """Rows from `_ROW_FIELDS` values, with the approving reviews of their revisions (one query)."""
    rows: dict[int, ExportRow] = {}
    chunk = []
    for (
        conv_id,
        project,
        domain,
        revision_id,
        messages,
        imported,
        source,
        labeler,
        digest,
    ) in values:
        row = ExportRow(conv_id, project, domain, messages, imported, source, labeler, digest or "")
        rows[revision_id] = row
        chunk.append(row)
    reviews = (
        Review.objects.filter(
            _among("conversation_id", [row.id for row in chunk]), decision=ReviewDecision.APPROVE
        )
        .order_by("id")
        .values_list("revision_id", "reviewer_id", "scores")
    )
    for revision_id, reviewer_id, scores in reviews:
        reviewed = rows.get(revision_id)
        if reviewed is None:
            continue  # a review of an earlier revision, or of a conversation not selected
        reviewed.reviewer_ids.append(reviewer_id)
        if isinstance(scores, dict):
            reviewed.scores.extend(
                float(value)
                for value in scores.values()
                if isinstance(value, int | float) and not isinstance(value, bool)
            )
    return chunk


def export_row_chunks(
    config: ExportConfig,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    id_from: int = 0,
    id_to: int | None = None,
) -> Iterator[list[ExportRow]]:
    """Yield the matching conversations with ids in [id_from, id_to] in id order,
    `chunk_size` at a time.

    Two queries per chunk whatever its size: the conversations with their current
    revision's messages (keyset pagination on id, so memory stays flat and no offset
    scan grows), then the approving reviews of those revisions for scores and counts.
    """
    queryset = export_read_queryset(config).order_by("id")
    if id_to is not None:
        queryset = queryset.filter(id__lte=id_to)
    last_id = id_from - 1
    while True:
        values = list(queryset.filter(id__gt=last_id).values_list(*_ROW_FIELDS)[:chunk_size])
        if not values:
            return
        yield _export_rows(values)
        last_id = values[-1][0]


def export_shard_bounds(config: ExportConfig, *, shard_size: int) -> list[tuple[int, int, int]]:
    """(first id, last id, conversations) of each shard: the matching conversations in id
    order, `shard_size` to a shard. Streams the ids (memory stays flat)."""
    bounds: list[tuple[int, int, int]] = []
    first = last = count = 0
    ids = export_read_queryset(config).order_by("id").values_list("id", flat=True)
    for conversation_id in ids.iterator(chunk_size=10_000):
        if count == shard_size:
            bounds.append((first, last, count))
            count = 0
        if count == 0:
            first = conversation_id
        last, count = conversation_id, count + 1
    if count:
        bounds.append((first, last, count))
    return bounds


def export_duplicate_candidates(
    config: ExportConfig, *, hashes: Iterable[str], before_id: int, with_rows: bool
) -> Iterator[tuple[str, ExportRow | None]]:
    """Conversations of the export's selection with an id below `before_id` whose current
    revision has one of `hashes`, in id order: (hash, row), the row only `with_rows`
    (when the caller must apply the filters that need messages and scores).

    Uses the revisions' content-hash index; usually finds nothing.
    """
    queryset = export_conversations_queryset(config).filter(
        id__lt=before_id, current_revision__content_hash__in=[h for h in hashes if h]
    )
    if not with_rows:
        for digest in queryset.values_list("current_revision__content_hash", flat=True).distinct():
            yield digest, None
        return
    last_id = 0
    while True:
        values = list(
            queryset.filter(id__gt=last_id).order_by("id").values_list(*_ROW_FIELDS)[:200]
        )
        if not values:
            return
        for row in _export_rows(values):
            yield row.content_hash, row
        last_id = values[-1][0]


@dataclass(slots=True)
class RevisionRow:
    """One revision of an exported conversation, as preference pairs read it."""

    number: int
    kind: str
    messages: Any
    created_by_id: int | None


def export_reviewed_revisions(conversation_ids: list[int]) -> dict[int, list[RevisionRow]]:
    """Every revision, in number order, of those conversations (ascending ids) a reviewer
    edited (the others hold no `review_edit` pair); one query. It may hold other
    conversations of the ids' range: callers look conversations up by id."""
    edited = Revision.objects.filter(
        _among("conversation_id", conversation_ids), kind=Revision.Kind.REVIEW_EDIT
    ).values("conversation_id")
    history: dict[int, list[RevisionRow]] = {}
    for conversation_id, number, kind, messages, created_by in (
        Revision.objects.filter(conversation_id__in=edited)
        .order_by("conversation_id", "number")
        .values_list("conversation_id", "number", "kind", "messages", "created_by_id")
    ):
        history.setdefault(conversation_id, []).append(
            RevisionRow(number, kind, messages, created_by)
        )
    return history


def export_draft_models(conversation_ids: list[int]) -> dict[int, str]:
    """The model that wrote each conversation's imported AI draft (ascending ids; other
    conversations of their range may be included), where the prompt's metadata names it
    (`"draft_model"`); one query."""
    models = Conversation.objects.filter(
        _among("id", conversation_ids), prompt__metadata__has_key="draft_model"
    ).values_list("id", "prompt__metadata__draft_model")
    return {conversation_id: str(model) for conversation_id, model in models if model}


def export_rankings(config: ExportConfig) -> list[ApprovedRanking]:
    """The approved rankings the export's filters select, in conversation id order."""
    return approved_rankings_in(_approved_selection(config))


def export_prompts_without_ranking(config: ExportConfig) -> int:
    """Prompts of the export's ranking projects (and domains) with no approved ranking."""
    prompts = Prompt.objects.filter(
        project__slug__in=config.projects, project__kind=ProjectKind.RANKING
    )
    if config.domains:
        prompts = prompts.filter(domain__slug__in=config.domains)
    approved = Conversation.objects.filter(
        prompt=OuterRef("pk"), state=ConversationState.APPROVED, ranking__isnull=False
    )
    return prompts.exclude(Exists(approved)).count()


def export_project_tools(config: ExportConfig) -> dict[str, list[dict[str, Any]]]:
    """Each exported project's declared tools (contract 6), by slug; one query.

    The project's tools as they are now: a row's calls were checked against them on
    save and submit.
    """
    return dict(Project.objects.filter(slug__in=config.projects).values_list("slug", "tools"))


# The job lists' order: newest first, by id (unique, so it pages by keyset).
EXPORT_JOB_ORDER = ("-pk",)


def export_jobs() -> QuerySet[ExportJob]:
    """Every job, newest first, with its creator, projects and artifacts (three queries a
    page)."""
    return (
        ExportJob.objects.select_related("created_by")
        .prefetch_related("projects", "artifacts")
        .order_by(*EXPORT_JOB_ORDER)
    )


def export_job_detail(job_id: int) -> ExportJob:
    return (
        ExportJob.objects.select_related("created_by")
        .prefetch_related("projects", "artifacts")
        .get(id=job_id)
    )


def export_project_choices() -> list[Project]:
    return list(Project.objects.order_by("name").only("id", "name", "slug"))


def tokenizer_assets() -> list[TokenizerAsset]:
    return list(TokenizerAsset.objects.all())
