from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.models import ConversationState, Notification, ReviewClaim
from conversations.services import review_submit
from tests.conversations.factories import reviewer_factory, submitted_conversation
from tests.labeling.factories import ProjectFactory

pytestmark = pytest.mark.django_db

SCORES = {
    "score-helpfulness": "5",
    "score-correctness": "4",
    "score-harmlessness": "5",
    "score-style": "4",
}


def test_queue_lists_oldest_first_in_my_domains_never_my_own(client):
    me = reviewer_factory(name="both", roles=("labeler", "reviewer"))
    older = submitted_conversation()
    newer = submitted_conversation()
    submitted_conversation(labeler=me)  # my own
    submitted_conversation(domain="law")  # not my domain
    client.force_login(me)
    response = client.get(reverse("conversations:review-queue"))
    assert response.status_code == 200
    assert [c.pk for c in response.context["queue"]] == [older.pk, newer.pk]
    assert response.context["counts"]["total"] == 2


def test_queue_filters_by_project_and_the_htmx_fragment_has_no_shell(client):
    reviewer = reviewer_factory()
    one = submitted_conversation()
    other = submitted_conversation()
    client.force_login(reviewer)
    response = client.get(
        reverse("conversations:review-queue"), {"project": one.project_id}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert f'data-conversation="{one.pk}"' in html
    assert f'data-conversation="{other.pk}"' not in html
    assert b"<html" not in response.content and b'id="queue-table"' in response.content


def test_queue_refuses_a_filter_that_is_not_a_number_instead_of_listing_everything(client):
    submitted_conversation()
    client.force_login(reviewer_factory())
    url = reverse("conversations:review-queue")
    for query, message in (
        ({"project": "abc"}, "Project filter: Enter a whole number."),
        ({"labeler": "-1"}, "Labeler filter: Ensure this value is greater than or equal to 0."),
    ):
        response = client.get(url, query, HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert message in html and "data-conversation=" not in html and "<html" not in html


def test_queue_query_count_does_not_grow_with_the_queue(client, django_assert_max_num_queries):
    reviewer = reviewer_factory()
    client.force_login(reviewer)
    submitted_conversation()
    with django_assert_max_num_queries(14):
        client.get(reverse("conversations:review-queue"))
    for _ in range(6):
        submitted_conversation()
    with django_assert_max_num_queries(14):
        response = client.get(reverse("conversations:review-queue"))
    assert len(response.context["queue"]) == 7


def test_claim_then_review_page_shows_messages_and_rubric(client):
    conversation = submitted_conversation(draft="Use map().", answer="Use a **comprehension**.")
    reviewer = reviewer_factory()
    client.force_login(reviewer)
    response = client.post(reverse("conversations:review-claim", args=[conversation.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("conversations:review", args=[conversation.pk])
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "<strong>comprehension</strong>" in html
    assert "<del>Use map().</del>" in html or "<del>" in html  # diff against the AI draft
    assert 'name="score-helpfulness"' in html
    assert ReviewClaim.objects.filter(conversation=conversation, reviewer=reviewer).exists()


def test_review_page_escapes_labeler_html(client):
    conversation = submitted_conversation(
        answer="<script>alert(1)</script> [x](javascript:alert(1))"
    )
    client.force_login(reviewer_factory())
    html = client.get(reverse("conversations:review", args=[conversation.pk])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert 'href="javascript:' not in html


def test_self_review_is_forbidden_by_url(client):
    both = reviewer_factory(roles=("labeler", "reviewer"))
    conversation = submitted_conversation(labeler=both)
    client.force_login(both)
    assert client.get(reverse("conversations:review", args=[conversation.pk])).status_code == 403
    decide = client.post(
        reverse("conversations:review-decide", args=[conversation.pk]),
        {"decision": "approve", **SCORES},
    )
    assert decide.status_code == 403
    assert conversation.reviews.count() == 0


def test_other_domain_gets_404(client):
    conversation = submitted_conversation(domain="python")
    client.force_login(reviewer_factory(domains=["law"]))
    assert client.get(reverse("conversations:review", args=[conversation.pk])).status_code == 404


def test_decide_request_changes_with_message_comment_goes_back_to_the_labeler(client):
    conversation = submitted_conversation()
    client.force_login(reviewer_factory())
    response = client.post(
        reverse("conversations:review-decide", args=[conversation.pk]),
        {"decision": "request_changes", "message-comment-1": "Show the output.", "revision": "1"},
    )
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.CHANGES_REQUESTED
    comment = conversation.reviews.get().message_comments.get()
    assert (comment.message_position, comment.text) == (1, "Show the output.")


def test_decide_with_missing_scores_says_so_and_keeps_the_input(client):
    conversation = submitted_conversation()
    client.force_login(reviewer_factory())
    response = client.post(
        reverse("conversations:review-decide", args=[conversation.pk]),
        {"decision": "approve", "revision": "1", "score-helpfulness": "5", "comment": "Nice"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nice" in html
    # Each missing score is named in words beside its field and in the summary, not only red.
    for label, name in [("Correctness", "correctness"), ("Style", "style")]:
        assert f'<a href="#score-{name}">Score missing: {label}</a>' in html
        assert f'<p class="field-error" id="score-error-{name}">Score missing: {label}</p>' in html
    assert '<p class="field-error" id="score-error-helpfulness" hidden>' in html


def test_a_decision_that_names_no_revision_is_refused_and_records_nothing(client):
    """The page's form always sends the revision it showed; a post without one must not land
    on whatever revision is current by then (as the API refuses it too)."""
    conversation = submitted_conversation()
    client.force_login(reviewer_factory())
    for revision in ({}, {"revision": ""}, {"revision": "one"}):
        response = client.post(
            reverse("conversations:review-decide", args=[conversation.pk]),
            {"decision": "approve", **SCORES, **revision},
        )
        assert response.status_code == 400
        assert "names no revision" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED
    assert conversation.reviews.count() == 0


def test_after_a_decision_the_reviewer_gets_the_next_conversation_of_the_queue(client):
    first, second, third = (submitted_conversation() for _ in range(3))
    reviewer = reviewer_factory()
    other = reviewer_factory()
    ReviewClaim.objects.create(
        conversation=second, reviewer=other, expires_at=timezone.now() + timedelta(minutes=5)
    )
    client.force_login(reviewer)
    decide = reverse("conversations:review-decide", args=[first.pk])
    response = client.post(decide, {"decision": "approve", "revision": "1", **SCORES})
    # The second is held by someone else: the reviewer gets (and now holds) the third.
    assert response.status_code == 302
    assert response.url == reverse("conversations:review", args=[third.pk])
    assert ReviewClaim.objects.filter(conversation=third, reviewer=reviewer).exists()

    decide = reverse("conversations:review-decide", args=[third.pk])
    response = client.post(decide, {"decision": "reject", "revision": "1", "comment": "Off-topic."})
    assert response.url == reverse("conversations:review-queue")
    page = client.get(response.url).content.decode()
    assert "Reject recorded for conversation" in page
    assert "Nothing to review" not in page  # the second still waits, held by another


def test_the_queue_says_nothing_is_left_after_the_last_decision(client):
    conversation = submitted_conversation()
    client.force_login(reviewer_factory())
    response = client.post(
        reverse("conversations:review-decide", args=[conversation.pk]),
        {"decision": "request_changes", "revision": "1", "comment": "Add an example."},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("conversations:review-queue")
    assert "Nothing to review" in response.content.decode()


def test_inline_edit_conflict_shows_both_texts_with_409(client):
    conversation = submitted_conversation(
        project=ProjectFactory(domains=["python"], approvals_needed=2), answer="Original"
    )
    first, second = reviewer_factory(), reviewer_factory()
    version = conversation.version
    client.force_login(first)
    ok = client.post(
        reverse("conversations:review-edit", args=[conversation.pk]),
        {"position": 1, "content": "First's fix", "expected_version": version},
    )
    assert ok.status_code == 302
    client.force_login(second)
    conflict = client.post(
        reverse("conversations:review-edit", args=[conversation.pk]),
        {"position": 1, "content": "Second's fix", "expected_version": version},
    )
    assert conflict.status_code == 409
    html = conflict.content.decode()
    assert "First&#x27;s fix" in html and "Second&#x27;s fix" in html
    assert conversation.messages.get(position=1).content == "First's fix"


def test_labeler_sees_feedback_and_notifications_with_unread_badge(client):
    conversation = submitted_conversation()
    review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer_factory(name="rev-ana"),
        decision="request_changes",
        comment="Almost.",
        message_comments=[{"position": 1, "text": "Add a test."}],
    )
    client.force_login(conversation.labeler)
    home = client.get(reverse("conversations:notifications"))
    assert 'data-testid="unread-count"' in home.content.decode()
    feedback = client.get(reverse("conversations:review-feedback", args=[conversation.pk]))
    html = feedback.content.decode()
    assert "Almost." in html and "Add a test." in html and "rev-ana" in html
    note = Notification.objects.get(user=conversation.labeler)
    opened = client.post(reverse("conversations:notification-open", args=[note.pk]))
    assert opened["Location"] == reverse("conversations:review-feedback", args=[conversation.pk])
    note.refresh_from_db()
    assert note.read_at is not None


def test_feedback_of_another_labelers_conversation_is_404(client):
    conversation = submitted_conversation()
    client.force_login(reviewer_factory(roles=("labeler",), domains=["python"]))
    url = reverse("conversations:review-feedback", args=[conversation.pk])
    assert client.get(url).status_code == 404


def test_someone_elses_notification_cannot_be_opened(client):
    conversation = submitted_conversation()
    note = Notification.objects.create(user=conversation.labeler, text="hi")
    client.force_login(reviewer_factory())
    assert (
        client.post(reverse("conversations:notification-open", args=[note.pk])).status_code == 404
    )


def test_review_outcomes_for_labeler_lists_returned_first_with_latest_review(
    django_assert_max_num_queries,
):
    from conversations.selectors.review import review_outcomes_for_labeler
    from tests.labeling.factories import UserFactory

    labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    approved = submitted_conversation(labeler=labeler)
    returned = submitted_conversation(labeler=labeler)
    submitted_conversation(labeler=labeler)  # not reviewed yet
    reviewer = reviewer_factory()
    review_submit(
        conversation_id=returned.pk,
        reviewer=reviewer,
        decision="request_changes",
        message_comments=[{"position": 1, "text": "Fix me"}],
    )
    review_submit(
        conversation_id=approved.pk,
        reviewer=reviewer,
        decision="approve",
        scores={"helpfulness": 5, "correctness": 5, "harmlessness": 5, "style": 5},
    )
    with django_assert_max_num_queries(4):
        outcomes = review_outcomes_for_labeler(labeler)
        comments = [c.text for c in outcomes[0].latest_review.message_comments.all()]
    assert [c.pk for c in outcomes] == [returned.pk, approved.pk]
    assert comments == ["Fix me"]
    assert outcomes[1].latest_review.decision == "approve"
