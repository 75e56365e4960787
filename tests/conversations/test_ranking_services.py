"""Ranking tasks through their services: start, autosave, submit, skip, review, the
selector the preference export reads, and the agreement figure."""

import krippendorff
import numpy
import pytest

from conversations.models import ConversationState, Ranking, Revision
from conversations.selectors.ranking import approved_rankings, ranking_agreement
from conversations.services import (
    ConversationError,
    VersionConflict,
    conversation_save,
    next_task,
    review_submit,
    task_skip,
)
from conversations.services.ranking import (
    RankingError,
    ranking_order_clean,
    ranking_review_reorder,
    ranking_save,
    ranking_submit,
)
from exports.selectors import export_conversations_queryset
from exports.services import export_config_from_dict
from labeling.models import Assignment
from tests.conversations.factories import (
    candidate_ids,
    ranking_project,
    ranking_prompt,
    reviewer_factory,
    started_ranking,
    submitted_ranking,
)
from tests.labeling.factories import UserFactory

pytestmark = pytest.mark.django_db

SCORES = {"helpfulness": 5, "correctness": 5, "harmlessness": 5, "style": 5}


def save(conversation, **parts):
    conversation.refresh_from_db()
    return ranking_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=conversation.version,
        **parts,
    )


def submit(conversation):
    conversation.refresh_from_db()
    return ranking_submit(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=conversation.version,
    )


# Validation: each bad order names the field and the candidate -----------------------


@pytest.mark.parametrize(
    ("order", "field", "words"),
    [
        ([[1], [2], [1], [3], [4]], "order[2]", "candidate 1 is ranked twice"),
        ([[1, 1], [2], [3], [4]], "order[0]", "candidate 1 is ranked twice"),
        ([[1], [2], [3]], "order", "4 is missing"),
        ([[1], [2], [3], [9]], "order[3]", "candidate 9 is not one of"),
        ([[1], [], [2], [3], [4]], "order[1]", "non-empty list"),
        ([[1], ["2"], [3], [4]], "order[1]", "'2' is not a candidate id"),
        ({"1": 1}, "order", "list of tie groups"),
    ],
)
def test_a_bad_order_is_refused_naming_the_field(order, field, words):
    with pytest.raises(RankingError) as caught:
        ranking_order_clean(order, [1, 2, 3, 4], complete=True)
    assert caught.value.field == field
    assert words in caught.value.message


def test_ties_are_kept_as_groups_and_a_draft_may_be_partial():
    assert ranking_order_clean([[3, 1], [2], [4]], [1, 2, 3, 4], complete=True) == [
        [1, 3],
        [2],
        [4],
    ]
    assert ranking_order_clean([[2]], [1, 2, 3, 4], complete=False) == [[2]]


# The labeler's side ------------------------------------------------------------------


def test_next_task_in_a_ranking_project_starts_a_ranking_with_a_recorded_shuffle():
    project = ranking_project()
    prompt = ranking_prompt(project)
    labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    task = next_task(labeler, project)
    ranking = Ranking.objects.get(conversation_id=task.conversation_id)
    assert sorted(ranking.presented_order) == sorted(prompt.candidates.values_list("pk", flat=True))
    # The conversation holds the prompt only: no reply to write.
    assert [m.role for m in ranking.conversation.messages.all()] == ["user"]
    assert ranking.order == []


def test_save_changes_only_the_given_parts_and_guards_the_version():
    conversation = started_ranking()
    first, second, *_ = candidate_ids(conversation)
    save(conversation, order=[[second], [first]], comment="B is right")
    save(conversation, flags={str(first): ["wrong"]}, better_reply="Use sorted().")
    ranking = Ranking.objects.get(conversation=conversation)
    assert ranking.order == [[second], [first]]
    assert ranking.comment == "B is right"
    assert ranking.flags == {str(first): ["wrong"]}
    assert ranking.better_reply == "Use sorted()."
    with pytest.raises(VersionConflict):
        ranking_save(
            conversation_id=conversation.pk,
            user=conversation.labeler,
            expected_version=1,
            comment="stale tab",
        )
    assert Ranking.objects.get(conversation=conversation).comment == "B is right"


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        ({"flags": {"999": ["wrong"]}}, "flags.999"),
        ({"flags": {"FIRST": ["boring"]}}, "flags.FIRST"),
        ({"comment": 12}, "comment"),
        ({"better_reply": "x" * 100_001}, "better_reply"),
    ],
)
def test_bad_flags_and_texts_are_refused_naming_the_field(parts, field):
    conversation = started_ranking()
    first = candidate_ids(conversation)[0]
    if "flags" in parts:
        parts = {"flags": {k.replace("FIRST", str(first)): v for k, v in parts["flags"].items()}}
        field = field.replace("FIRST", str(first))
    with pytest.raises(RankingError) as caught:
        save(conversation, **parts)
    assert caught.value.field == field


def test_submit_needs_every_candidate_and_then_awaits_review():
    conversation = started_ranking()
    ids = candidate_ids(conversation)
    save(conversation, order=[[ids[0]], [ids[1], ids[2]]])
    with pytest.raises(RankingError, match=f"{ids[3]} is missing"):
        submit(conversation)
    save(conversation, order=[[ids[0]], [ids[1], ids[2]], [ids[3]]])
    ranking = submit(conversation)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED
    assert conversation.current_revision.kind == Revision.Kind.SUBMIT
    assert ranking.labeler_order == ranking.order
    assert ranking.history[0]["order"] == ranking.order
    assert conversation.assignment.status == Assignment.Status.SUBMITTED
    with pytest.raises(RankingError, match="submitted"):
        save(conversation, comment="too late")


def test_a_prompt_without_candidates_cannot_be_submitted_as_ranked():
    project = ranking_project()
    conversation = started_ranking(prompt=ranking_prompt(project, texts=["Only one"]))
    with pytest.raises(RankingError, match="fewer than two candidates"):
        submit(conversation)


def test_the_conversation_services_refuse_a_rankings_messages():
    conversation = started_ranking()
    with pytest.raises(ConversationError, match="ranking task"):
        conversation_save(
            conversation_id=conversation.pk,
            user=conversation.labeler,
            expected_version=conversation.version,
            messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
        )


def test_skip_drops_an_untouched_ranking_and_keeps_a_worked_one():
    untouched = started_ranking()
    task_skip(user=untouched.labeler, assignment_id=untouched.assignment_id, reason="not my field")
    assert not Ranking.objects.filter(pk=untouched.ranking.pk).exists()
    worked = started_ranking()
    save(worked, comment="half done")
    task_skip(user=worked.labeler, assignment_id=worked.assignment_id, reason="too long")
    worked.refresh_from_db()
    assert worked.state == ConversationState.ABANDONED


# Review ------------------------------------------------------------------------------


def test_a_reviewer_reorders_then_approves_and_the_selector_returns_it():
    conversation = submitted_ranking(better_reply="Prefer `sorted(xs)`.")
    ids = candidate_ids(conversation)
    reviewer = reviewer_factory()
    with pytest.raises(RankingError) as caught:
        ranking_review_reorder(
            conversation_id=conversation.pk,
            reviewer=reviewer,
            expected_version=conversation.version,
            order=[[ids[0]], [ids[0]], [ids[2]], [ids[3]]],
        )
    assert caught.value.field == "order[1]"
    revision = ranking_review_reorder(
        conversation_id=conversation.pk,
        reviewer=reviewer,
        expected_version=conversation.version,
        order=[[ids[1]], [ids[0]], [ids[2], ids[3]]],
        reason="B is the idiomatic one",
    )
    assert revision.kind == Revision.Kind.REVIEW_EDIT
    review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer,
        decision="approve",
        scores=SCORES,
        revision_number=revision.number,
    )
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.APPROVED

    [row] = approved_rankings(conversation.project)
    assert row["conversation_id"] == conversation.pk
    assert row["prompt"] == [{"role": "user", "content": conversation.prompt.text}]
    assert [c["id"] for c in row["candidates"]] == ids
    assert row["candidates"][0]["model"] == "model-0"
    assert row["order"] == [[ids[1]], [ids[0]], [ids[2], ids[3]]]
    assert row["better_reply"] == "Prefer `sorted(xs)`."
    assert row["labeler_id"] == conversation.labeler_id
    assert row["reviewer_ids"] == [reviewer.pk]
    assert row["reordered_by_id"] == reviewer.pk
    ranking = Ranking.objects.get(conversation=conversation)
    assert ranking.labeler_order == [[pk] for pk in ids]


def test_an_approved_ranking_is_never_an_sft_export_row():
    conversation = submitted_ranking()
    review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer_factory(),
        decision="approve",
        scores=SCORES,
    )
    config = export_config_from_dict({"projects": [conversation.project.slug]})
    assert not export_conversations_queryset(config).exists()
    assert len(approved_rankings(conversation.project)) == 1


def test_approved_rankings_leaves_out_what_is_not_approved():
    project = ranking_project()
    submitted_ranking(project=project)
    started_ranking(project=project)
    assert approved_rankings(project) == []


# Agreement ---------------------------------------------------------------------------


def test_ranking_agreement_is_the_krippendorff_packages_ordinal_alpha():
    project = ranking_project()
    prompts = [ranking_prompt(project, text=f"Question {n}") for n in range(2)]
    labelers = [UserFactory(roles=["labeler"], labeler_domains=["python"]) for _ in range(3)]
    orders = {  # ranks per labeler per prompt, in candidate import order
        0: [[1, 2, 3, 4], [1, 1, 2, 3]],
        1: [[1, 2, 4, 3], [2, 1, 3, 4]],
        2: [[2, 1, 3, 4], [1, 2, 3, 3]],
    }
    for who, labeler in enumerate(labelers):
        for number, prompt in enumerate(prompts):
            ids = list(prompt.candidates.order_by("position").values_list("pk", flat=True))
            ranks = orders[who][number]
            order = [
                [pk for pk, r in zip(ids, ranks, strict=True) if r == rank]
                for rank in sorted(set(ranks))
            ]
            submitted_ranking(project=project, prompt=prompt, labeler=labeler, order=order)
    expected = krippendorff.alpha(
        reliability_data=numpy.array(
            [orders[who][0] + orders[who][1] for who in range(3)], dtype=float
        ),
        level_of_measurement="ordinal",
    )
    figure = ranking_agreement(project_id=project.pk)
    assert figure["alpha"] == pytest.approx(expected)
    assert figure["prompts"] == 2 and figure["rankings"] == 6


def test_ranking_agreement_is_none_without_replications():
    submitted_ranking()
    assert ranking_agreement()["alpha"] is None
