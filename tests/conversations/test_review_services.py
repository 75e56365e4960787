import threading

import pytest
from django.db import close_old_connections, connection

from conversations.models import (
    ConversationState,
    Notification,
    Review,
    ReviewClaim,
    Revision,
)
from conversations.services import (
    ClaimUnavailable,
    NotReviewable,
    ReviewError,
    SelfReviewError,
    StaleRevision,
    VersionConflict,
    review_claim,
    review_claim_next,
    review_edit,
    review_submit,
)
from conversations.services.review import review_scores_labeled
from tests.conversations.factories import (
    reviewer_factory,
    submit,
    submitted_conversation,
    write_answer,
)
from tests.labeling.factories import ProjectFactory

pytestmark = pytest.mark.django_db

FULL = {"helpfulness": 5, "correctness": 4, "harmlessness": 5, "style": 4}


def approve(conversation, reviewer, **kwargs):
    return review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer,
        decision="approve",
        scores=FULL,
        **kwargs,
    )


def claim_at_once(conversation, reviewers) -> list[str]:
    """Each reviewer claims from its own thread and connection, all released together."""
    barrier = threading.Barrier(len(reviewers))
    outcomes = []

    def claim(reviewer):
        try:
            barrier.wait()
            review_claim(conversation_id=conversation.pk, reviewer=reviewer)
            outcomes.append("claimed")
        except ClaimUnavailable:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(r,)) for r in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()
    return outcomes


def test_one_approval_approves_the_current_revision_and_tells_the_labeler():
    conversation = submitted_conversation()
    reviewer = reviewer_factory()
    review = approve(conversation, reviewer, comment="Clear.")
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.APPROVED
    assert review.revision_id == conversation.current_revision_id
    assert conversation.decided_at is not None
    assert not ReviewClaim.objects.filter(conversation=conversation).exists()
    note = Notification.objects.get(user=conversation.labeler)
    assert "approved" in note.text and note.url == f"/conversations/{conversation.pk}/feedback/"


def test_two_approvals_needed_one_is_not_enough_and_a_third_persons_request_sends_it_back():
    project = ProjectFactory(domains=["python"], approvals_needed=2)
    conversation = submitted_conversation(project=project)
    first, second = reviewer_factory(), reviewer_factory()
    approve(conversation, first)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED
    with pytest.raises(ReviewError, match="already reviewed"):
        approve(conversation, first)
    review_submit(
        conversation_id=conversation.pk,
        reviewer=second,
        decision="request_changes",
        message_comments=[{"position": 1, "text": "Explain why."}],
    )
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.CHANGES_REQUESTED
    assert Notification.objects.filter(user=conversation.labeler, text__contains="changes").exists()


def test_two_distinct_approvals_of_the_same_revision_approve():
    project = ProjectFactory(domains=["python"], approvals_needed=2)
    conversation = submitted_conversation(project=project)
    approve(conversation, reviewer_factory())
    approve(conversation, reviewer_factory())
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.APPROVED
    assert set(conversation.reviews.values_list("revision_id", flat=True)) == {
        conversation.current_revision_id
    }


def test_a_reviewer_edit_makes_earlier_approvals_stop_counting():
    project = ProjectFactory(domains=["python"], approvals_needed=2)
    conversation = submitted_conversation(project=project)
    first, editor, third = reviewer_factory(), reviewer_factory(), reviewer_factory()
    approve(conversation, first)
    conversation.refresh_from_db()
    revision = review_edit(
        conversation_id=conversation.pk,
        reviewer=editor,
        expected_version=conversation.version,
        messages=[{"position": 1, "content": "Better answer."}],
        reason="typo",
    )
    assert revision.kind == Revision.Kind.REVIEW_EDIT and revision.number == 2
    assert revision.messages[1]["content"] == "Better answer."
    approve(conversation, editor)
    conversation.refresh_from_db()
    # first's approval was of revision 1: only one approval of revision 2 so far.
    assert conversation.state == ConversationState.SUBMITTED
    approve(conversation, third)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.APPROVED
    assert conversation.current_revision == revision
    assert conversation.messages.get(position=1).content == "Better answer."


def test_reviewer_edit_on_a_stale_version_overwrites_nothing():
    conversation = submitted_conversation(
        project=ProjectFactory(domains=["python"], approvals_needed=2)
    )
    one, two = reviewer_factory(), reviewer_factory()
    version = conversation.version
    review_edit(
        conversation_id=conversation.pk,
        reviewer=one,
        expected_version=version,
        messages=[{"position": 1, "content": "One's text"}],
    )
    with pytest.raises(VersionConflict):
        review_edit(
            conversation_id=conversation.pk,
            reviewer=two,
            expected_version=version,
            messages=[{"position": 1, "content": "Two's text"}],
        )
    assert conversation.messages.get(position=1).content == "One's text"
    assert conversation.revisions.count() == 2


def test_a_decision_on_a_revision_that_was_edited_since_is_not_recorded():
    conversation = submitted_conversation(
        project=ProjectFactory(domains=["python"], approvals_needed=2)
    )
    one, two = reviewer_factory(), reviewer_factory()
    review_edit(
        conversation_id=conversation.pk,
        reviewer=one,
        expected_version=conversation.version,
        messages=[{"position": 1, "content": "Edited"}],
    )
    with pytest.raises(StaleRevision):
        approve(conversation, two, revision_number=1)
    assert not Review.objects.exists()


def test_nobody_reviews_their_own_conversation_even_with_both_roles():
    both = reviewer_factory(roles=("labeler", "reviewer"))
    conversation = submitted_conversation(labeler=both)
    with pytest.raises(SelfReviewError):
        review_claim(conversation_id=conversation.pk, reviewer=both)
    with pytest.raises(SelfReviewError):
        approve(conversation, both)


def test_reviewers_outside_the_domain_cannot_review():
    conversation = submitted_conversation(domain="python")
    with pytest.raises(NotReviewable):
        review_claim(conversation_id=conversation.pk, reviewer=reviewer_factory(domains=["law"]))


def test_a_prompt_without_domain_goes_to_reviewers_of_the_projects_domains():
    project = ProjectFactory(domains=["biology"])
    conversation = submitted_conversation(project=project, domain=None)
    review_claim(conversation_id=conversation.pk, reviewer=reviewer_factory(domains=["biology"]))
    with pytest.raises(NotReviewable):
        review_claim(conversation_id=conversation.pk, reviewer=reviewer_factory(domains=["law"]))


def test_a_claim_keeps_a_second_reviewer_out_when_one_approval_is_enough():
    conversation = submitted_conversation()
    first, second = reviewer_factory(name="rev-first"), reviewer_factory()
    review_claim(conversation_id=conversation.pk, reviewer=first)
    with pytest.raises(ClaimUnavailable, match="rev-first"):
        review_claim(conversation_id=conversation.pk, reviewer=second)
    with pytest.raises(ClaimUnavailable):
        approve(conversation, second)
    # Claiming again extends the same claim.
    review_claim(conversation_id=conversation.pk, reviewer=first)
    assert ReviewClaim.objects.filter(conversation=conversation).count() == 1


def test_two_approvals_needed_allows_two_claims_by_different_people_and_no_third():
    project = ProjectFactory(domains=["python"], approvals_needed=2)
    conversation = submitted_conversation(project=project)
    a, b, c = reviewer_factory(), reviewer_factory(), reviewer_factory()
    review_claim(conversation_id=conversation.pk, reviewer=a)
    review_claim(conversation_id=conversation.pk, reviewer=b)
    with pytest.raises(ClaimUnavailable):
        review_claim(conversation_id=conversation.pk, reviewer=c)
    approve(conversation, a)
    # One approval in, one still needed, and b holds it.
    with pytest.raises(ClaimUnavailable):
        review_claim(conversation_id=conversation.pk, reviewer=c)


def test_expired_claims_do_not_block():
    from datetime import timedelta

    from django.utils import timezone

    conversation = submitted_conversation()
    first, second = reviewer_factory(), reviewer_factory()
    review_claim(conversation_id=conversation.pk, reviewer=first)
    ReviewClaim.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    review_claim(conversation_id=conversation.pk, reviewer=second)
    assert list(ReviewClaim.objects.values_list("reviewer_id", flat=True)) == [second.pk]


@pytest.mark.parametrize(
    ("decision", "kwargs", "message"),
    [
        (
            "approve",
            {"scores": {"helpfulness": 5}},
            "Score missing: Correctness, Harmlessness, Style",
        ),
        ("approve", {"scores": {**FULL, "style": 6}}, "from 1 to 5"),
        ("approve", {"scores": {**FULL, "wit": 3}}, "Unknown rubric criteria: wit"),
        ("reject", {}, "reason"),
        ("request_changes", {}, "Say what to change"),
        ("request_changes", {"message_comments": [{"position": 9, "text": "x"}]}, "message 9"),
        ("maybe", {}, "Unknown decision"),
    ],
)
def test_bad_decisions_say_what_is_wrong_and_record_nothing(decision, kwargs, message):
    conversation = submitted_conversation()
    with pytest.raises(ReviewError, match=message):
        review_submit(
            conversation_id=conversation.pk,
            reviewer=reviewer_factory(),
            decision=decision,
            **kwargs,
        )
    assert not Review.objects.exists()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED


def test_reject_is_final():
    conversation = submitted_conversation()
    review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer_factory(),
        decision="reject",
        comment="Off topic.",
    )
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.REJECTED
    with pytest.raises(ReviewError):
        approve(conversation, reviewer_factory())


def test_project_rubric_is_read_from_the_project():
    project = ProjectFactory(domains=["python"], rubric=["accuracy", {"name": "tone"}])
    conversation = submitted_conversation(project=project)
    review = review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer_factory(),
        decision="approve",
        scores={"accuracy": 3, "tone": "4"},
    )
    assert review.scores == {"accuracy": 3, "tone": 4}


def test_resubmission_after_changes_is_a_new_revision_to_review():
    conversation = submitted_conversation()
    reviewer = reviewer_factory()
    review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer,
        decision="request_changes",
        comment="Add an example.",
    )
    write_answer(conversation, "Fixed, with an example.")
    submit(conversation)
    conversation.refresh_from_db()
    assert conversation.current_revision.number == 2
    approve(conversation, reviewer)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.APPROVED
    assert conversation.current_revision.messages[-1]["content"] == "Fixed, with an example."


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_claiming_at_once_from_real_threads_get_one_claim():
    conversation = submitted_conversation()
    reviewers = [reviewer_factory(), reviewer_factory()]
    outcomes = claim_at_once(conversation, reviewers)
    assert sorted(outcomes) == ["claimed", "refused"]
    assert ReviewClaim.objects.filter(conversation=conversation).count() == 1


@pytest.mark.django_db(transaction=True)
def test_with_two_approvals_needed_two_reviewers_claiming_at_once_both_get_it_a_third_not():
    project = ProjectFactory(domains=["python"], approvals_needed=2)
    conversation = submitted_conversation(project=project)
    reviewers = [reviewer_factory() for _ in range(3)]
    outcomes = claim_at_once(conversation, reviewers)
    assert sorted(outcomes) == ["claimed", "claimed", "refused"]
    assert ReviewClaim.objects.filter(conversation=conversation).count() == 2


def test_next_for_a_reviewer_is_what_they_hold_then_the_oldest_others_do_not_fully_hold():
    oldest, held_by_other, held_by_me, own = (submitted_conversation() for _ in range(4))
    reviewer = reviewer_factory()
    review_claim(conversation_id=held_by_other.pk, reviewer=reviewer_factory())
    review_claim(conversation_id=held_by_me.pk, reviewer=reviewer)
    # Their own work never comes, whatever roles they hold.
    own.labeler = reviewer
    own.save(update_fields=["labeler"])

    assert review_claim_next(reviewer=reviewer) == held_by_me.pk
    approve(held_by_me, reviewer)
    assert review_claim_next(reviewer=reviewer) == oldest.pk
    assert ReviewClaim.objects.filter(conversation=oldest, reviewer=reviewer).exists()
    approve(oldest, reviewer)
    # Left: one another reviewer holds, and one of their own.
    assert review_claim_next(reviewer=reviewer) is None
    assert not ReviewClaim.objects.filter(conversation=held_by_other, reviewer=reviewer).exists()


def test_scores_read_under_the_criterions_label_and_a_gone_criterion_under_its_name():
    project = ProjectFactory.build(
        rubric=[
            {"name": "style", "label": "Clear writing", "description": ""},
            "correctness",  # stored before labels existed
        ]
    )
    scores = {"Old_criterion": 1, "correctness": 4, "style": 5}
    assert [
        (s["label"], s["score"]) for s in review_scores_labeled(project=project, scores=scores)
    ] == [("Clear writing", 5), ("Correctness", 4), ("Old criterion", 1)]
    assert review_scores_labeled(project=project, scores={}) == []
