"""Reads for ranking tasks: the task page, the review page, the approved rankings the
preference export turns into pairs (design.md contract 7), and their agreement."""

from __future__ import annotations

from collections import defaultdict
from typing import TypedDict

import krippendorff
import numpy
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from conversations.models import (
    Conversation,
    ConversationState,
    Message,
    Ranking,
    Review,
    ReviewDecision,
    Revision,
)
from labeling.models import Candidate, Project, ProjectKind


def ranking_conversation(conversation_id: int) -> Conversation:
    """The ranking's conversation with its project, prompt, labeler, messages, ranking and
    candidates (a fixed number of queries); 404 when it is no ranking."""
    return get_object_or_404(
        Conversation.objects.select_related(
            "project", "prompt", "prompt__domain", "assignment", "labeler", "ranking"
        ).prefetch_related(
            Prefetch("messages", queryset=Message.objects.order_by("position")),
            Prefetch("prompt__candidates", queryset=Candidate.objects.order_by("position")),
        ),
        pk=conversation_id,
        ranking__isnull=False,
    )


def candidates_by_id(conversation: Conversation) -> dict[int, Candidate]:
    """Caller loaded the conversation with `ranking_conversation` (candidates prefetched)."""
    assert conversation.prompt is not None  # a ranking always has its prompt
    return {candidate.pk: candidate for candidate in conversation.prompt.candidates.all()}


def ranks_of(order: list[list[int]]) -> dict[int, int]:
    """Candidate id → its rank (1 = best; tied candidates share a rank, the next group's
    rank is one more: dense ranks, what the keyboard's number keys set)."""
    return {
        candidate_id: rank for rank, group in enumerate(order, start=1) for candidate_id in group
    }


def ranking_cards(conversation: Conversation, *, shown: str) -> list[dict]:
    """What each candidate card shows, in `shown` order: "presented" (the labeler's shuffled
    order) or "ranked" (the current order, best first, for review)."""
    ranking: Ranking = conversation.ranking
    candidates = candidates_by_id(conversation)
    ranks = ranks_of(ranking.order)
    if shown == "ranked":
        ids = [candidate_id for group in ranking.order for candidate_id in group]
        ids += [pk for pk in ranking.presented_order if pk not in ranks]
    else:
        ids = [pk for pk in ranking.presented_order if pk in candidates]
    return [
        {
            "id": pk,
            "letter": chr(ord("A") + number),
            "candidate": candidates[pk],
            "rank": ranks.get(pk),
            "flags": ranking.flags.get(str(pk), []),
        }
        for number, pk in enumerate(ids)
        if pk in candidates
    ]


# The preference export's source --------------------------------------------------------


class RankedCandidate(TypedDict):
    id: int
    content: str
    model: str


class ApprovedRanking(TypedDict):
    ranking_id: int
    conversation_id: int
    prompt_id: int
    project: str
    domain: str | None
    # The messages before the reply, as the approved revision holds them: [{"role", "content"}].
    prompt: list[dict[str, str]]
    candidates: list[RankedCandidate]
    # Best first, tie groups of candidate ids; every candidate exactly once.
    order: list[list[int]]
    # "" when none; otherwise it ranks above every candidate.
    better_reply: str
    # {"<candidate id>": ["unsafe", "wrong"]}
    flags: dict[str, list[str]]
    comment: str
    labeler_id: int | None
    labeler: str
    # Who approved the current revision, and who reordered it in review (None: nobody).
    reviewer_ids: list[int]
    reordered_by_id: int | None


def approved_rankings(project: Project) -> list[ApprovedRanking]:
    """Every approved ranking of `project`, in conversation id order, with its prompt, its
    candidates, the approved order, the better reply and its provenance. Four queries."""
    return approved_rankings_in(Conversation.objects.filter(project=project))


def approved_rankings_in(conversations: QuerySet[Conversation]) -> list[ApprovedRanking]:
    """`approved_rankings` of any set of conversations (the export's selection). Four queries."""
    approved = list(
        conversations.filter(state=ConversationState.APPROVED, ranking__isnull=False)
        .select_related("ranking", "labeler", "current_revision", "project", "prompt__domain")
        .prefetch_related(
            Prefetch("prompt__candidates", queryset=Candidate.objects.order_by("position"))
        )
        .order_by("pk")
    )
    approvers: dict[int, list[int]] = defaultdict(list)
    for revision_id, reviewer_id in (
        Review.objects.filter(
            revision_id__in=[c.current_revision_id for c in approved],
            decision=ReviewDecision.APPROVE,
        )
        .order_by("created_at", "pk")
        .values_list("revision_id", "reviewer_id")
    ):
        approvers[revision_id].append(reviewer_id)
    return [_approved(conversation, approvers) for conversation in approved]


def _approved(conversation: Conversation, approvers: dict[int, list[int]]) -> ApprovedRanking:
    ranking: Ranking = conversation.ranking
    revision = conversation.current_revision
    assert revision is not None and conversation.prompt is not None  # approved: submitted
    reorders = [
        entry["by"] for entry in ranking.history if entry["kind"] == Revision.Kind.REVIEW_EDIT
    ]
    return {
        "ranking_id": ranking.pk,
        "conversation_id": conversation.pk,
        "prompt_id": conversation.prompt.pk,
        "project": conversation.project.slug,
        "domain": conversation.prompt.domain.slug if conversation.prompt.domain else None,
        "prompt": [{"role": m["role"], "content": m["content"]} for m in revision.messages],
        "candidates": [
            {"id": c.pk, "content": c.content, "model": c.model}
            for c in conversation.prompt.candidates.all()
        ],
        "order": ranking.order,
        "better_reply": ranking.better_reply,
        "flags": ranking.flags,
        "comment": ranking.comment,
        "labeler_id": conversation.labeler_id,
        "labeler": conversation.labeler.get_username() if conversation.labeler else "",
        "reviewer_ids": approvers.get(revision.pk, []),
        "reordered_by_id": reorders[-1] if reorders else None,
    }


# Agreement ---------------------------------------------------------------------------

# Rankings whose labeler finished them: independent judgments, before any reviewer reorder.
AGREEMENT_STATES = (ConversationState.SUBMITTED, ConversationState.APPROVED)


def ranking_projects_exist() -> bool:
    """Whether the quality page has ranking agreement to show at all."""
    return Project.objects.filter(kind=ProjectKind.RANKING).exists()


def ranking_agreement(*, project_id: int | None = None) -> dict:
    """Krippendorff's alpha (ordinal) over prompts ranked by two labelers or more.

    A unit is one candidate of one prompt, a coder one labeler, a value the rank the labeler
    gave it (its submitted order, ties sharing a rank). Alpha is None while no prompt has two
    rankings or every rank agrees trivially (no variation).
    """
    rankings = Ranking.objects.filter(
        conversation__state__in=AGREEMENT_STATES, conversation__project__kind=ProjectKind.RANKING
    )
    if project_id is not None:
        rankings = rankings.filter(conversation__project_id=project_id)
    rows = rankings.values_list(
        "conversation__prompt_id", "conversation__labeler_id", "labeler_order"
    )
    by_prompt: dict[int, dict[int, dict[int, int]]] = defaultdict(dict)
    for prompt_id, labeler_id, order in rows:
        by_prompt[prompt_id][labeler_id] = ranks_of(order)
    replicated = {p: coders for p, coders in by_prompt.items() if len(coders) >= 2}
    units = sorted({(p, c) for p, coders in replicated.items() for r in coders.values() for c in r})
    coders = sorted({labeler for coders in replicated.values() for labeler in coders})
    figure: dict[str, float | int | None] = {
        "alpha": None,
        "prompts": len(replicated),
        "rankings": sum(map(len, replicated.values())),
    }
    if not units:
        return figure
    column = {unit: index for index, unit in enumerate(units)}
    row = {labeler: index for index, labeler in enumerate(coders)}
    data = numpy.full((len(coders), len(units)), numpy.nan)
    for prompt_id, ranks_by_labeler in replicated.items():
        for labeler_id, ranks in ranks_by_labeler.items():
            for candidate_id, rank in ranks.items():
                data[row[labeler_id], column[(prompt_id, candidate_id)]] = rank
    if len(numpy.unique(data[~numpy.isnan(data)])) < 2:
        return figure
    figure["alpha"] = float(
        krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
    )
    return figure
