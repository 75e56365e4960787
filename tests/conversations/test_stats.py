import pytest
from django.urls import reverse

from conversations.selectors import stats
from conversations.services import review_submit
from tests.conversations.factories import reviewer_factory, submitted_conversation
from tests.labeling.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_alpha_matches_a_hand_computed_case():
    # Units [5, 4] and [2, 2]: n = 4 pairable values.
    # Within units, Σ over ordered pairs of δ² / (m_u − 1): (1 + 1)/1 + 0 = 2.
    # Pooled 5, 4, 2, 2: unordered pairs 1 + 9 + 9 + 4 + 4 + 0 = 27, ordered 54.
    # α = 1 − (n − 1) · 2 / 54 = 1 − 6/54 = 8/9.
    assert stats.krippendorff_alpha_interval([[5, 4], [2, 2]]) == pytest.approx(8 / 9)
    # Perfect agreement with variation is 1; no variation at all is undefined.
    assert stats.krippendorff_alpha_interval([[1, 1], [5, 5]]) == pytest.approx(1.0)
    assert stats.krippendorff_alpha_interval([[3, 3], [3, 3]]) is None
    assert stats.krippendorff_alpha_interval([[3]]) is None


def test_alpha_on_a_textbook_case():
    # Three raters, units [1,2], [3,3,3], [4,5]. Within: (2·1)/1 + 0 + (2·1)/1 = 4.
    # Pooled 1,2,3,3,3,4,5 (n = 7): ordered Σδ² = 2·7·Σv² − 2·(Σv)² = 14·73 − 2·441 = 140.
    # α = 1 − 6 · 4 / 140 = 1 − 24/140 = 0.828571…
    assert stats.krippendorff_alpha_interval([[1, 2], [3, 3, 3], [4, 5]]) == pytest.approx(
        1 - 24 / 140
    )


def test_agreement_figures_on_reviews_of_the_same_revisions():
    project = ProjectFactory(domains=["python"], approvals_needed=2, rubric=["quality"])
    ana, ben = reviewer_factory(name="ana"), reviewer_factory(name="ben")
    a = submitted_conversation(project=project)
    b = submitted_conversation(project=project)
    review_submit(conversation_id=a.pk, reviewer=ana, decision="approve", scores={"quality": 5})
    review_submit(conversation_id=a.pk, reviewer=ben, decision="approve", scores={"quality": 4})
    review_submit(conversation_id=b.pk, reviewer=ana, decision="approve", scores={"quality": 2})
    review_submit(
        conversation_id=b.pk,
        reviewer=ben,
        decision="request_changes",
        scores={"quality": 2},
        comment="Needs work",
    )
    reviewers, agreement = stats.reviewer_figures()
    by_name = {row["username"]: row for row in reviewers}
    # One agreement (a: approve/approve), one disagreement (b): 50 %.
    assert by_name["ana"]["percent_agreement"] == 50
    assert by_name["ben"]["shared"] == 2
    # Scores are the hand-computed units [5, 4] and [2, 2] above: α = 8/9.
    assert by_name["ana"]["alpha"] == pytest.approx(8 / 9)
    assert agreement["alpha"] == pytest.approx(8 / 9)
    assert agreement["units"] == 2


def test_labeler_figures_count_outcomes_and_edit_ratio():
    labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    reviewer = reviewer_factory()
    draft = "one two three four"
    kept = submitted_conversation(labeler=labeler, draft=draft, answer=draft)
    rewritten = submitted_conversation(labeler=labeler, draft=draft, answer="one two three five")
    rejected = submitted_conversation(labeler=labeler)
    full = {"helpfulness": 4, "correctness": 4, "harmlessness": 4, "style": 4}
    review_submit(conversation_id=kept.pk, reviewer=reviewer, decision="approve", scores=full)
    review_submit(
        conversation_id=rewritten.pk, reviewer=reviewer, decision="request_changes", comment="x"
    )
    review_submit(conversation_id=rejected.pk, reviewer=reviewer, decision="reject", comment="no")
    [row] = stats.labeler_figures()
    assert (row["submitted"], row["approved"], row["returned"], row["rejected"]) == (3, 1, 1, 1)
    assert row["approval_rate"] == 50
    assert row["median_minutes"] is not None and row["median_minutes"] >= 0
    # 0 for the untouched draft, 1/4 for one word in four replaced.
    assert row["mean_edit_ratio"] == pytest.approx((0 + 0.25) / 2)
    series = stats.daily_series()["series"]
    assert series[-1]["approvals"] == 1
    assert series[-1]["queue"] == 0  # 3 in; 1 returned, 1 rejected, 1 approved


def _populate(count: int) -> None:
    project = ProjectFactory(domains=["python"], approvals_needed=2)
    reviewers = [reviewer_factory() for _ in range(2)]
    full = {"helpfulness": 4, "correctness": 3, "harmlessness": 5, "style": 4}
    for index in range(count):
        conversation = submitted_conversation(project=project, draft="a b c", answer="a b d")
        for reviewer in reviewers:
            review_submit(
                conversation_id=conversation.pk,
                reviewer=reviewer,
                decision="approve" if index % 3 else "request_changes",
                scores=full,
                comment="ok",
            )
            if index % 3 == 0:
                break


def test_quality_page_queries_do_not_grow_with_data(client, django_assert_max_num_queries):
    admin = UserFactory(roles=["admin"])
    client.force_login(admin)
    _populate(2)
    with django_assert_max_num_queries(16):
        assert client.get(reverse("conversations:quality")).status_code == 200
    _populate(8)
    with django_assert_max_num_queries(16):
        response = client.get(reverse("conversations:quality"))
    assert response.status_code == 200
    assert b"<svg" in response.content


def test_people_see_only_their_own_figures(client):
    conversation = submitted_conversation()
    client.force_login(conversation.labeler)
    assert client.get(reverse("conversations:quality")).status_code == 302
    mine = client.get(reverse("conversations:quality-person", args=[conversation.labeler.pk]))
    assert mine.status_code == 200
    other = reviewer_factory()
    theirs = client.get(reverse("conversations:quality-person", args=[other.pk]))
    assert theirs.status_code == 404


def test_rubric_alpha_equals_the_krippendorff_package_on_the_reviewers_scores():
    # Three reviewers, two criteria, one of them scoring only some revisions: the
    # reliability matrix (reviewer × (revision, criterion), nan where not scored) is
    # exactly what the package reads.
    import krippendorff
    import numpy

    project = ProjectFactory(domains=["python"], approvals_needed=3, rubric=["quality", "style"])
    ana, ben, cy = (reviewer_factory(name=name) for name in ("ana", "ben", "cy"))
    given = {
        ana: [{"quality": 5, "style": 4}, {"quality": 2, "style": 3}, {"quality": 4, "style": 1}],
        ben: [{"quality": 4, "style": 4}, {"quality": 1, "style": 2}, {"quality": 4, "style": 2}],
        cy: [{"quality": 5, "style": 5}, None, {"quality": 3, "style": 1}],
    }
    conversations = [submitted_conversation(project=project) for _ in range(3)]
    for reviewer, scores in given.items():
        for conversation, score in zip(conversations, scores, strict=True):
            if score is not None:
                review_submit(
                    conversation_id=conversation.pk,
                    reviewer=reviewer,
                    decision="approve",
                    scores=score,
                )
    matrix = [
        [
            numpy.nan
            if scores[unit // 2] is None
            else scores[unit // 2][("quality", "style")[unit % 2]]
            for unit in range(6)
        ]
        for scores in given.values()
    ]
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="interval")

    _, agreement = stats.reviewer_figures()

    assert agreement["alpha"] == pytest.approx(float(expected))
    assert 0 < agreement["alpha"] < 1
