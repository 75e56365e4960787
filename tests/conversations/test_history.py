"""One history per conversation: revisions and reviews in one timeline, for its author, admins
and the reviewers whose domains cover it — the same rule in the browser and the API."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.services import review_edit, review_submit
from tests.conversations.factories import (
    reviewer_factory,
    submit,
    submitted_conversation,
    write_answer,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SCORES = {"helpfulness": 5, "correctness": 4, "harmlessness": 5, "style": 4}


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def returned_edited_and_approved():
    """r1 submitted → changes requested (with a message comment) → r2 resubmitted →
    a reviewer's edit r3 → approved."""
    conversation = submitted_conversation(answer="Use sorted().")
    first = reviewer_factory("rev-first")
    review_submit(
        conversation_id=conversation.pk,
        reviewer=first,
        decision="request_changes",
        comment="Show an example.",
        message_comments=[{"position": 1, "text": "Add the key= argument."}],
    )
    write_answer(conversation, "Use sorted(d.items(), key=lambda kv: kv[1]).")
    submit(conversation)
    conversation.refresh_from_db()
    second = reviewer_factory("rev-second")
    review_edit(
        conversation_id=conversation.pk,
        reviewer=second,
        expected_version=conversation.version,
        messages=[{"position": 1, "content": "Use `sorted(d.items(), key=lambda kv: kv[1])`."}],
        reason="code formatting",
    )
    review_submit(
        conversation_id=conversation.pk, reviewer=second, decision="approve", scores=SCORES
    )
    return conversation, first, second


def test_api_history_is_one_timeline_of_revisions_and_reviews():
    conversation, first, second = returned_edited_and_approved()
    body = api(conversation.labeler).get(f"/api/conversations/{conversation.pk}/history/").json()
    assert body["state"] == "approved" and body["current_revision"] == 3
    assert [(e["type"], e.get("kind") or e.get("decision")) for e in body["timeline"]] == [
        ("revision", "submit"),
        ("review", "request_changes"),
        ("revision", "submit"),
        ("revision", "review_edit"),
        ("review", "approve"),
    ]
    returned = body["timeline"][1]
    assert returned["reviewer"] == "rev-first" and returned["revision"] == 1
    assert returned["comment"] == "Show an example."
    assert returned["message_comments"] == [{"position": 1, "text": "Add the key= argument."}]
    edit = body["timeline"][3]
    assert (edit["number"], edit["created_by"], edit["reason"]) == (
        3,
        "rev-second",
        "code formatting",
    )
    assert edit["messages"][1]["content"] == "Use `sorted(d.items(), key=lambda kv: kv[1])`."
    assert body["timeline"][4]["scores"] == SCORES


def test_who_sees_a_history_in_the_api_and_the_browser(client):
    conversation, first, _ = returned_edited_and_approved()
    admin = UserFactory(roles=["admin"])
    other_domain_reviewer = reviewer_factory(domains=("biology",))
    other_labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    page = reverse("conversations:history", args=[conversation.pk])
    for person, allowed in [
        (conversation.labeler, True),
        (first, True),  # a reviewer whose domains cover it
        (admin, True),
        (other_domain_reviewer, False),
        (other_labeler, False),
    ]:
        response = api(person).get(f"/api/conversations/{conversation.pk}/history/")
        assert response.status_code == (200 if allowed else 404), person.username
        client.force_login(person)
        assert client.get(page).status_code == (200 if allowed else 404), person.username
    assert APIClient().get(f"/api/conversations/{conversation.pk}/history/").status_code in (
        401,
        403,
    )


def test_history_page_shows_reviews_in_the_timeline_and_leads_back(client):
    conversation, first, second = returned_edited_and_approved()
    client.force_login(first)
    html = client.get(reverse("conversations:history", args=[conversation.pk])).content.decode()
    assert "Request changes</span> of r1 by rev-first" in html
    assert "Show an example." in html and "Add the key= argument." in html
    assert "Approve</span> of r3 by rev-second" in html
    assert "“code formatting”" in html
    assert reverse("conversations:review", args=[conversation.pk]) in html  # back to the review
    # The review page links to it.
    review_page = client.get(reverse("conversations:review", args=[conversation.pk]))
    assert reverse("conversations:history", args=[conversation.pk]) in review_page.content.decode()


def test_history_is_a_bounded_number_of_queries(client, django_assert_max_num_queries):
    conversation = submitted_conversation()
    reviewer = reviewer_factory()
    for round_number in range(6):
        review_submit(
            conversation_id=conversation.pk,
            reviewer=reviewer,
            decision="request_changes",
            comment=f"Round {round_number}",
            message_comments=[{"position": 1, "text": f"Fix {round_number}"}],
        )
        write_answer(conversation, f"Answer, take {round_number + 2}.")
        submit(conversation)
    client.force_login(reviewer)
    url = reverse("conversations:history", args=[conversation.pk])
    with django_assert_max_num_queries(12):
        html = client.get(url).content.decode()
    assert html.count("history-review") == 6 and html.count("history-revision") == 7
    with django_assert_max_num_queries(12):
        body = api(reviewer).get(f"/api/conversations/{conversation.pk}/history/").json()
    assert len(body["timeline"]) == 13


def test_the_first_revision_reads_as_text_not_as_all_new(client):
    conversation = submitted_conversation(answer="Use <b>reversed()</b>.")
    client.force_login(conversation.labeler)
    page = client.get(reverse("conversations:history", args=[conversation.pk])).content.decode()
    assert "Use &lt;b&gt;reversed()&lt;/b&gt;." in page
    assert "<ins>" not in page and "<del>" not in page
    assert ">changed<" not in page
