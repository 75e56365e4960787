"""Ranking tasks (design.md contract 7): a labeler orders a prompt's candidate replies.

A ranking rides on a Conversation holding the prompt's messages, so leases, skip, the
version check, revisions, claims and review decisions are the conversation's own. What is
ranking-specific lives here: starting one with a shuffled presentation, the labeler's
autosave and submit, setting a skipped one aside, and a reviewer's reorder. Reviewers
decide with `review_submit` like for any conversation.

An order is a list of tie groups of candidate ids, best first: `[[3], [1, 4], [2]]`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.models import (
    CandidateFlag,
    Conversation,
    ConversationState,
    Ranking,
    Revision,
)
from labeling.models import Assignment, Candidate, User
from labeling.services.assignment import task_complete, task_lock

from .authoring import (
    EDITABLE_STATES,
    ConversationError,
    SetAside,
    VersionConflict,
    conversation_seed,
    prompt_messages,
    submitted_mark,
)
from .counts import state_count_move
from .notifications import notification_create
from .review import _claim_locked, _feedback_url, _lock_for_review
from .revisions import revision_create

MAX_COMMENT_CHARS = 2000
MAX_BETTER_REPLY_CHARS = 100_000


class RankingError(ConversationError):
    """A ranking the rules refuse; `field` names what is wrong (`order`, `flags.12`, …)."""


# Validation --------------------------------------------------------------------------


def ranking_order_clean(
    order: Any, candidate_ids: Sequence[int], *, complete: bool
) -> list[list[int]]:
    """The order as tie groups of known candidate ids, each candidate at most once.

    `complete` (submit, review) also requires every candidate; a draft may leave some out.
    Raises RankingError naming the field (`order`, `order[1]`) and the candidate.
    """
    if not isinstance(order, list):
        raise RankingError("send a list of tie groups (lists of candidate ids).", field="order")
    known = set(candidate_ids)
    seen: set[int] = set()
    cleaned: list[list[int]] = []
    for index, group in enumerate(order):
        where = f"order[{index}]"
        if not isinstance(group, list) or not group:
            raise RankingError("a tie group is a non-empty list of candidate ids.", field=where)
        for candidate_id in group:
            if isinstance(candidate_id, bool) or not isinstance(candidate_id, int):
                raise RankingError(f"{candidate_id!r} is not a candidate id.", field=where)
            if candidate_id not in known:
                raise RankingError(
                    f"candidate {candidate_id} is not one of this prompt's candidates "
                    f"({', '.join(map(str, sorted(known)))}).",
                    field=where,
                )
            if candidate_id in seen:
                raise RankingError(f"candidate {candidate_id} is ranked twice.", field=where)
            seen.add(candidate_id)
        cleaned.append(sorted(group))
    missing = [candidate_id for candidate_id in candidate_ids if candidate_id not in seen]
    if complete and missing:
        raise RankingError(
            f"rank every candidate: {', '.join(map(str, missing))} "
            f"{'is' if len(missing) == 1 else 'are'} missing.",
            field="order",
        )
    return cleaned


def order_from_ranks(ranks: Mapping[int, int]) -> list[list[int]]:
    """Candidate id → rank number (equal numbers tie; gaps close up) as tie groups, best
    first: what a form's rank selects and the keyboard's number keys give."""
    groups: dict[int, list[int]] = {}
    for candidate_id, rank in ranks.items():
        groups.setdefault(rank, []).append(candidate_id)
    return [sorted(groups[rank]) for rank in sorted(groups)]


def ranking_flags_clean(flags: Any, candidate_ids: Sequence[int]) -> dict[str, list[str]]:
    """{"<candidate id>": ["unsafe", "wrong"]}: known candidates and flags, no empty lists."""
    if not isinstance(flags, Mapping):
        raise RankingError("send an object of candidate id → list of flags.", field="flags")
    known = {str(candidate_id) for candidate_id in candidate_ids}
    cleaned: dict[str, list[str]] = {}
    for key, values in flags.items():
        where = f"flags.{key}"
        if str(key) not in known:
            raise RankingError("not one of this prompt's candidates.", field=where)
        if not isinstance(values, list) or any(v not in CandidateFlag.values for v in values):
            raise RankingError(
                f"a list of flags from {', '.join(CandidateFlag.values)}.", field=where
            )
        if values:
            cleaned[str(key)] = sorted(set(values))
    return cleaned


def _clean_text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise RankingError("must be text.", field=field)
    if len(value) > limit:
        raise RankingError(f"at most {limit:,} characters.", field=field)
    return value.replace("\r\n", "\n")


def candidate_ids_of(conversation: Conversation) -> list[int]:
    """The prompt's candidate ids in their stored (import) order."""
    assert conversation.prompt_id is not None  # a ranking always has its prompt
    return list(
        Candidate.objects.filter(prompt_id=conversation.prompt_id)
        .order_by("position")
        .values_list("pk", flat=True)
    )


# The labeler's side ------------------------------------------------------------------


@transaction.atomic
def ranking_start(*, assignment: Assignment) -> Conversation:
    """The ranking task for a lease: on first call a conversation holding the prompt's
    messages and a ranking whose candidates are shuffled for this labeler (the shown order
    is recorded, so position bias can be measured)."""
    existing = Conversation.objects.filter(assignment=assignment).first()
    if existing:
        return existing
    project = assignment.project
    conversation = Conversation.objects.create(
        project=project,
        prompt=assignment.prompt,
        assignment=assignment,
        labeler=assignment.labeler,
        guideline_version=project.guideline_versions.order_by("-version").first(),
    )
    presented = candidate_ids_of(conversation)
    random.SystemRandom().shuffle(presented)
    Ranking.objects.create(conversation=conversation, presented_order=presented)
    conversation_seed(conversation, prompt_messages(assignment))
    return conversation


def _lock_ranking(conversation_id: int) -> Ranking:
    """The ranking with its conversation row locked (the version lives there)."""
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("project")
        .filter(pk=conversation_id, ranking__isnull=False)
        .first()
    )
    if conversation is None:
        raise RankingError("No such ranking.")
    ranking = Ranking.objects.get(conversation=conversation)
    ranking.conversation = conversation
    return ranking


def _lock_own_ranking(
    conversation_id: int, user: User, expected_version: int, action: str
) -> Ranking:
    """The labeler's own ranking, locked, while they may still `action` it ("change",
    "submit") at `expected_version`; RankingError or VersionConflict otherwise."""
    ranking = _lock_ranking(conversation_id)
    conversation = ranking.conversation
    if conversation.labeler_id != user.pk:
        raise RankingError(f"Only the labeler who ranks this prompt can {action} the ranking.")
    if conversation.state not in EDITABLE_STATES:
        raise RankingError(
            f"This ranking is {conversation.get_state_display().lower()}: "
            f"its labeler cannot {action} it any more."
        )
    if conversation.version != expected_version:
        raise VersionConflict(conversation, expected_version)
    return ranking


def _bump_version(conversation: Conversation) -> None:
    conversation.version += 1
    conversation.save(update_fields=["version", "updated_at"])


@transaction.atomic
def ranking_save(
    *,
    conversation_id: int,
    user: User,
    expected_version: int,
    order: Any = None,
    comment: Any = None,
    flags: Any = None,
    better_reply: Any = None,
) -> Ranking:
    """The labeler's autosave: only the given parts change (a partial order is fine here).

    Raises VersionConflict (nothing written) when another tab saved since
    `expected_version`, RankingError naming the field for anything refused.
    """
    ranking = _lock_own_ranking(conversation_id, user, expected_version, "change")
    conversation = ranking.conversation
    candidate_ids = candidate_ids_of(conversation)
    if order is not None:
        ranking.order = ranking_order_clean(order, candidate_ids, complete=False)
    if flags is not None:
        ranking.flags = ranking_flags_clean(flags, candidate_ids)
    if comment is not None:
        ranking.comment = _clean_text(comment, "comment", MAX_COMMENT_CHARS)
    if better_reply is not None:
        text = _clean_text(better_reply, "better_reply", MAX_BETTER_REPLY_CHARS)
        ranking.better_reply = text if text.strip() else ""
    ranking.save(update_fields=["order", "flags", "comment", "better_reply"])
    _bump_version(conversation)
    return ranking


def _history_entry(ranking: Ranking, revision: Revision, user: User) -> dict:
    return {
        "revision": revision.number,
        "kind": revision.kind,
        "order": ranking.order,
        "better_reply": ranking.better_reply,
        "by": user.pk,
    }


@transaction.atomic
def ranking_submit(*, conversation_id: int, user: User, expected_version: int) -> Ranking:
    """Submit a complete ranking for review: every candidate ranked exactly once.

    Stores a submit revision (the prompt) and the order in the ranking's history, completes
    the assignment and puts the conversation in the review queue.
    """
    # Lock order (labeling.services.assignment): the person and their task, then the row.
    assignment_id = (
        Conversation.objects.filter(pk=conversation_id)
        .values_list("assignment_id", flat=True)
        .first()
    )
    task_lock(user=user, assignment_id=assignment_id)
    ranking = _lock_own_ranking(conversation_id, user, expected_version, "submit")
    conversation = ranking.conversation
    candidate_ids = candidate_ids_of(conversation)
    if len(candidate_ids) < 2:
        raise RankingError("This prompt has fewer than two candidates: skip it, and say so.")
    ranking.order = ranking_order_clean(ranking.order, candidate_ids, complete=True)
    before = conversation.state
    revision = submitted_mark(conversation=conversation, user=user)
    ranking.labeler_order = ranking.order
    ranking.history = [*ranking.history, _history_entry(ranking, revision, user)]
    ranking.save(update_fields=["order", "labeler_order", "history"])
    if conversation.assignment_id:
        task_complete(assignment_id=conversation.assignment_id, now=conversation.submitted_at)
    # Last: the counts' rows come after every other row in the lock order.
    state_count_move(
        conversation=conversation, before=before, after=conversation.state, shard_by=user.pk
    )
    return ranking


def ranking_untouched(ranking: Ranking) -> bool:
    return not (ranking.order or ranking.comment or ranking.flags or ranking.better_reply)


@transaction.atomic
def ranking_set_aside(*, assignment: Assignment) -> SetAside | None:
    """A skipped ranking task: kept as abandoned when the labeler ranked, flagged or wrote
    anything, deleted when untouched. Caller holds the assignment's row lock and calls
    `count_move` on the result last (as for `conversation_set_aside`)."""
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .filter(assignment=assignment, state=ConversationState.DRAFT)
        .select_related("ranking")
        .first()
    )
    if conversation is None:
        return None
    conversation.prompt = assignment.prompt  # the count's domain
    if ranking_untouched(conversation.ranking):
        pk = conversation.pk
        conversation.delete()
        conversation.pk = pk  # for the caller's count
        return SetAside(conversation=conversation, kept=False)
    conversation.state = ConversationState.ABANDONED
    conversation.version += 1
    conversation.save(update_fields=["state", "version", "updated_at"])
    return SetAside(conversation=conversation, kept=True)


# The reviewer's side -----------------------------------------------------------------


@transaction.atomic
def ranking_review_reorder(
    *, conversation_id: int, reviewer: User, expected_version: int, order: Any, reason: str = ""
) -> Revision:
    """A reviewer's correction of the order: a new current revision (so approvals of the
    older one stop counting), the order kept in the ranking's history beside the labeler's.
    Raises VersionConflict (nothing written) when the ranking moved past `expected_version`.
    """
    conversation = _lock_for_review(conversation_id=conversation_id, reviewer=reviewer)
    _claim_locked(conversation=conversation, reviewer=reviewer, now=timezone.now())
    if conversation.version != int(expected_version):
        raise VersionConflict(conversation, int(expected_version))
    ranking = Ranking.objects.filter(conversation=conversation).first()
    if ranking is None:
        raise RankingError("This conversation is not a ranking.")
    cleaned = ranking_order_clean(order, candidate_ids_of(conversation), complete=True)
    if cleaned == ranking.order:
        raise RankingError("Nothing changed: reorder the candidates before saving.", field="order")
    ranking.order = cleaned
    _bump_version(conversation)
    revision = revision_create(
        conversation=conversation,
        kind=Revision.Kind.REVIEW_EDIT,
        created_by=reviewer,
        reason=(reason or "").strip(),
    )
    ranking.history = [*ranking.history, _history_entry(ranking, revision, reviewer)]
    ranking.save(update_fields=["order", "history"])
    if conversation.labeler is not None:
        notification_create(
            user=conversation.labeler,
            text=f"{reviewer.get_username()} reordered ranking #{conversation.pk} in review.",
            url=_feedback_url(conversation),
            conversation=conversation,
        )
    return revision
