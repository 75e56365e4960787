import pytest
from rest_framework.test import APIClient

from conversations.models import ConversationState
from tests.conversations.factories import reviewer_factory, submitted_conversation
from tests.labeling.factories import ProjectFactory

pytestmark = pytest.mark.django_db

SCORES = {"helpfulness": 5, "correctness": 4, "harmlessness": 5, "style": 4}


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_queue_api_lists_filters_and_counts():
    reviewer = reviewer_factory()
    one = submitted_conversation()
    submitted_conversation()
    body = api(reviewer).get("/api/review-queue/").json()
    assert [item["id"] for item in body["results"]][0] == one.pk
    assert body["counts"]["total"] == 2
    filtered = api(reviewer).get("/api/review-queue/", {"project": one.project_id}).json()
    assert [item["id"] for item in filtered["results"]] == [one.pk]
    bad = api(reviewer).get("/api/review-queue/", {"project": "abc"})
    assert bad.status_code == 400 and "project" in bad.json()["error"]["message"]


def test_queue_api_needs_the_reviewer_role():
    labeler = reviewer_factory(roles=("labeler",))
    assert api(labeler).get("/api/review-queue/").status_code == 403


def test_claim_and_approve_through_the_api():
    conversation = submitted_conversation()
    reviewer = reviewer_factory()
    claim = api(reviewer).post(f"/api/review-queue/{conversation.pk}/claim/")
    assert claim.status_code == 201 and claim.json()["expires_at"]
    other = api(reviewer_factory()).post(f"/api/review-queue/{conversation.pk}/claim/")
    assert other.status_code == 409 and other.json()["error"]["code"] == "claimed"
    response = api(reviewer).post(
        f"/api/conversations/{conversation.pk}/reviews/",
        {"decision": "approve", "scores": SCORES, "comment": "Good", "revision": 1},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["conversation_state"] == ConversationState.APPROVED


def test_self_review_gets_403_from_the_api():
    both = reviewer_factory(roles=("labeler", "reviewer"))
    conversation = submitted_conversation(labeler=both)
    client = api(both)
    assert client.post(f"/api/review-queue/{conversation.pk}/claim/").status_code == 403
    response = client.post(
        f"/api/conversations/{conversation.pk}/reviews/",
        {"decision": "approve", "scores": SCORES, "revision": 1},
        format="json",
    )
    assert response.status_code == 403
    assert "someone else" in response.json()["error"]["message"]
    assert conversation.reviews.count() == 0


def test_bad_review_input_is_400_saying_what_and_where():
    conversation = submitted_conversation()
    client = api(reviewer_factory())
    wrong = client.post(
        f"/api/conversations/{conversation.pk}/reviews/", {"decision": "yes"}, format="json"
    )
    assert wrong.status_code == 400 and "decision" in wrong.json()["error"]["fields"]
    unscored = client.post(
        f"/api/conversations/{conversation.pk}/reviews/",
        {"decision": "approve", "scores": {"helpfulness": 5}, "revision": 1},
        format="json",
    )
    assert unscored.status_code == 400
    assert "Score missing: Correctness" in unscored.json()["error"]["message"]
    assert unscored.json()["missing_scores"] == ["correctness", "harmlessness", "style"]


def test_a_decision_without_the_revision_it_judged_is_400_and_changes_nothing():
    conversation = submitted_conversation()
    response = api(reviewer_factory()).post(
        f"/api/conversations/{conversation.pk}/reviews/",
        {"decision": "approve", "scores": SCORES},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"revision"}
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED
    assert conversation.reviews.count() == 0


def test_the_schema_says_a_decision_names_its_revision():
    import yaml

    schema = yaml.safe_load(api(reviewer_factory()).get("/api/schema/").content)
    assert "revision" in schema["components"]["schemas"]["ReviewInput"]["required"]


def test_request_changes_with_message_comments_and_history():
    conversation = submitted_conversation()
    reviewer = reviewer_factory()
    response = api(reviewer).post(
        f"/api/conversations/{conversation.pk}/reviews/",
        {
            "decision": "request_changes",
            "revision": 1,
            "message_comments": [{"position": 1, "text": "Cite the docs."}],
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["conversation_state"] == "changes_requested"
    history = api(conversation.labeler).get(f"/api/conversations/{conversation.pk}/history/").json()
    assert [(e["type"], e.get("number") or e["revision"]) for e in history["timeline"]] == [
        ("revision", 1),
        ("review", 1),
    ]
    assert history["timeline"][1]["message_comments"] == [{"position": 1, "text": "Cite the docs."}]
    stranger = reviewer_factory(roles=("labeler",))
    assert api(stranger).get(f"/api/conversations/{conversation.pk}/history/").status_code == 404
    # The history has one address: /reviews/ only takes decisions.
    assert api(reviewer).get(f"/api/conversations/{conversation.pk}/reviews/").status_code == 405


def test_review_edit_conflict_returns_409_with_both_texts():
    conversation = submitted_conversation(
        project=ProjectFactory(domains=["python"], approvals_needed=2), answer="Start"
    )
    version = conversation.version
    first = api(reviewer_factory()).post(
        f"/api/conversations/{conversation.pk}/review-edits/",
        {"expected_version": version, "messages": [{"position": 1, "content": "A"}], "reason": "x"},
        format="json",
    )
    assert first.status_code == 201 and first.json()["revision"]["number"] == 2
    second = api(reviewer_factory()).post(
        f"/api/conversations/{conversation.pk}/review-edits/",
        {"expected_version": version, "messages": [{"position": 1, "content": "B"}]},
        format="json",
    )
    assert second.status_code == 409
    assert second.json()["conflicts"] == [{"position": 1, "yours": "B", "theirs": "A"}]


def test_notifications_api_lists_and_marks_read():
    conversation = submitted_conversation()
    api(reviewer_factory()).post(
        f"/api/conversations/{conversation.pk}/reviews/",
        {"decision": "reject", "comment": "Off topic", "revision": 1},
        format="json",
    )
    client = api(conversation.labeler)
    body = client.get("/api/notifications/").json()
    assert body["unread"] == 1 and "rejected" in body["results"][0]["text"]
    assert client.post("/api/notifications/", {}, format="json").json() == {"marked_read": 1}
    assert client.get("/api/notifications/").json()["unread"] == 0
