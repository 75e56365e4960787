"""The conversations page: who sees which rows, every filter, pages in bounded queries, and
the review queue's prompt beginnings."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation
from conversations.services import review_submit
from labeling.permissions import can_view_conversation_history
from tests.conversations.factories import (
    reviewer_factory,
    started_conversation,
    submitted_conversation,
)
from tests.factories import UserFactory
from tests.labeling.factories import ProjectFactory

pytestmark = pytest.mark.django_db

URL = reverse("conversations:conversation-list")
ALL_FIVES = {"helpfulness": 5, "correctness": 5, "harmlessness": 5, "style": 5}
LOW = {"helpfulness": 2, "correctness": 1, "harmlessness": 3, "style": 2}


def listed(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-conversation="(\d+)"', response.content.decode())]


def approve(conversation, reviewer, scores=ALL_FIVES):
    review_submit(
        conversation_id=conversation.pk, reviewer=reviewer, decision="approve", scores=scores
    )


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_admins_see_every_conversation_newest_first_each_opening_its_history(admin_client):
    draft = started_conversation()
    law = submitted_conversation(domain="law")
    python = submitted_conversation()

    response = admin_client.get(URL)

    assert response.status_code == 200
    assert listed(response) == [python.pk, law.pk, draft.pk]
    html = response.content.decode()
    for conversation in (draft, law, python):
        history = reverse("conversations:history", args=[conversation.pk])
        assert f'href="{history}"' in html
        assert admin_client.get(history).status_code == 200


def test_reviewers_see_only_their_reviewer_domains_and_can_open_each_history(client):
    reviewer = reviewer_factory(name="rev-py")
    python = submitted_conversation()
    open_project = submitted_conversation(domain=None)  # a project without domains
    law = submitted_conversation(domain="law")
    law_project = ProjectFactory(domains=["law"])
    law_no_domain = submitted_conversation(project=law_project, domain=None)
    client.force_login(reviewer)

    shown = listed(client.get(URL))

    assert sorted(shown) == sorted([python.pk, open_project.pk])
    # One rule: exactly the conversations whose history this reviewer may open.
    everything = Conversation.objects.select_related("prompt", "project")
    readable = [c.pk for c in everything if can_view_conversation_history(reviewer, c)]
    assert sorted(shown) == sorted(readable)
    assert law.pk not in shown and law_no_domain.pk not in shown


def test_labelers_get_the_403_page(client, labeler):
    client.force_login(labeler)
    response = client.get(URL)
    assert response.status_code == 403
    assert "ask an admin" in response.content.decode()


def test_filters_by_state_labeler_domain_and_no_domain(admin_client):
    ana = UserFactory(username="ana-f", roles=["labeler"], labeler_domains=["python"])
    by_ana = submitted_conversation(labeler=ana)
    draft_by_ana = started_conversation(labeler=ana, project=by_ana.project)
    law = submitted_conversation(domain="law")
    no_domain = submitted_conversation(domain=None)

    assert listed(admin_client.get(URL, {"state": "draft"})) == [draft_by_ana.pk]
    assert listed(admin_client.get(URL, {"labeler": ana.pk})) == [draft_by_ana.pk, by_ana.pk]
    assert listed(admin_client.get(URL, {"domain": "law"})) == [law.pk]
    assert listed(admin_client.get(URL, {"domain": "-"})) == [no_domain.pk]
    assert listed(admin_client.get(URL, {"state": "submitted", "labeler": ana.pk})) == [by_ana.pk]


def test_filters_by_reviewer_and_mean_score(admin_client):
    rosa = reviewer_factory(name="rosa")
    max_ = reviewer_factory(name="max")
    high = submitted_conversation()
    low = submitted_conversation()
    unreviewed = submitted_conversation()
    approve(high, rosa)  # mean 5
    approve(low, max_, scores=LOW)  # mean 2

    assert listed(admin_client.get(URL, {"reviewer": rosa.pk})) == [high.pk]
    assert listed(admin_client.get(URL, {"min_score": "4"})) == [high.pk]
    assert listed(admin_client.get(URL, {"max_score": "2.5"})) == [low.pk]
    assert listed(admin_client.get(URL, {"min_score": "2", "max_score": "5"})) == [low.pk, high.pk]
    assert unreviewed.pk not in listed(admin_client.get(URL, {"min_score": "1"}))
    page = admin_client.get(URL, {"reviewer": max_.pk}).content.decode()
    assert ">2.0</td>" in page and "max</span>" in page


def test_filters_by_submission_date(admin_client):
    old = submitted_conversation()
    Conversation.objects.filter(pk=old.pk).update(
        submitted_at=timezone.now() - dt.timedelta(days=30)
    )
    recent = submitted_conversation()
    today = timezone.localdate()

    assert listed(admin_client.get(URL, {"submitted_from": str(today)})) == [recent.pk]
    last_month = str(today - dt.timedelta(days=30))
    assert listed(admin_client.get(URL, {"submitted_to": last_month})) == [old.pk]


def test_a_bad_filter_is_a_400_that_names_the_field(admin_client):
    submitted_conversation()
    response = admin_client.get(URL, {"min_score": "4", "max_score": "2", "labeler": "x"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Mean score up to: must not be below the start of the range." in html
    assert re.search(r"Labeler: Select a valid choice", html)
    assert listed(response) == []


def test_the_htmx_fragment_has_no_shell(admin_client):
    conversation = submitted_conversation()
    response = admin_client.get(URL, {"state": "submitted"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in response.content and b'id="results"' in response.content
    assert listed(response) == [conversation.pk]


def test_pages_of_fifty_in_a_bounded_number_of_queries(admin_client, django_assert_max_num_queries):
    project = ProjectFactory(domains=["python"])
    reviewer = reviewer_factory(name="rev-count")

    def add(count):
        for _ in range(count):
            conversation = submitted_conversation(project=project)
            approve(conversation, reviewer)

    add(2)
    with django_assert_max_num_queries(11):
        small = admin_client.get(URL)
    assert len(listed(small)) == 2
    add(51)
    with django_assert_max_num_queries(11):
        first = admin_client.get(URL, {"min_score": "4"})
    cursor = re.search(r'cursor=([\w-]+)" rel="next"', first.content.decode()).group(1)
    with django_assert_max_num_queries(11):
        second = admin_client.get(URL, {"min_score": "4", "cursor": cursor})
    assert len(listed(first)) == 50 and len(listed(second)) == 3
    assert set(listed(first)).isdisjoint(listed(second))
    assert 'href="?min_score=4&amp;cursor=' in first.content.decode()
    assert 'href="?min_score=4" rel="first"' in second.content.decode()
    assert 'rel="next"' not in second.content.decode()
    edited = admin_client.get(URL, {"cursor": "W10"})  # a valid encoding of []
    assert edited.status_code == 400 and "not a page of this list" in edited.content.decode()


def test_review_queue_shows_the_prompts_beginning_and_no_domain(client):
    long_prompt = "Why " + "is the sky blue " * 20 + "END-OF-PROMPT"
    conversation = submitted_conversation(domain=None, text=long_prompt)
    reviewer = reviewer_factory(domains=())
    client.force_login(reviewer)

    response = client.get(reverse("conversations:review-queue"))

    html = response.content.decode()
    assert listed(response) == [conversation.pk]
    beginning = re.search(r'data-testid="prompt-start">([^<]*)</td>', html).group(1)
    assert beginning.startswith("Why is the sky blue") and beginning.endswith("…")
    assert len(beginning) == 120 and "END-OF-PROMPT" not in html
    assert ">no domain</span>" in html and ">project</span>" not in html


def test_prompt_beginning_is_plain_text(client):
    conversation = submitted_conversation(text="<b>bold</b> & <script>x</script> question")
    client.force_login(reviewer_factory())
    html = client.get(reverse("conversations:review-queue")).content.decode()
    assert listed(client.get(reverse("conversations:review-queue"))) == [conversation.pk]
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in html


# The API beside the page -----------------------------------------------------------

API_URL = "/api/conversations/browse/"


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_lists_what_the_page_lists_with_the_same_filters():
    reviewer = reviewer_factory(name="rev-api")
    approver = reviewer_factory(name="approver")
    approved = submitted_conversation(text="How do decorators work?")
    approve(approved, approver, scores=LOW)
    waiting = submitted_conversation()
    submitted_conversation(domain="law")

    everything = api(reviewer).get(API_URL).json()
    assert [row["id"] for row in everything["results"]] == [waiting.pk, approved.pk]
    row = api(reviewer).get(API_URL, {"state": "approved", "max_score": 2}).json()["results"]
    assert len(row) == 1 and row[0]["id"] == approved.pk
    assert row[0]["prompt_start"] == "How do decorators work?"
    assert row[0]["reviewers"] == ["approver"] and row[0]["mean_score"] == 2.0
    assert row[0]["domain"] == "python" and row[0]["labeler"] == approved.labeler.username
    assert row[0]["history"].endswith(f"/api/conversations/{approved.pk}/history/")
    assert api(reviewer).get(row[0]["history"]).status_code == 200


def test_api_bad_filters_are_400_naming_each_field_and_labelers_get_403(labeler):
    client = api(reviewer_factory())
    response = client.get(API_URL, {"min_score": 4, "max_score": 2})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "max_score": ["must not be below the start of the range."]
    }
    response = client.get(API_URL, {"state": "lost", "labeler": "ana"})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"state", "labeler"}
    assert api(labeler).get(API_URL).status_code == 403
