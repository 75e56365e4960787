"""403 and 404 are pages in the app's layout with a way back and what to do; the API keeps
its JSON errors; 500 is a plain page that needs nothing that could fail again."""

import pytest
from django.test import RequestFactory

from config.errors import server_error
from tests.conversations.factories import (
    reviewer_factory,
    started_conversation,
    submitted_conversation,
)

pytestmark = pytest.mark.django_db

DEBUG_MODES = pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])


def in_layout(html: str) -> bool:
    return 'class="topbar"' in html and 'id="main"' in html


@DEBUG_MODES
def test_a_labeler_opening_an_admin_page_gets_the_403_page_with_what_to_do(
    client, settings, labeler, debug
):
    settings.DEBUG = debug
    client.force_login(labeler)
    response = client.get("/people/", HTTP_REFERER="http://testserver/tasks/")

    assert response.status_code == 403
    html = response.content.decode()
    assert in_layout(html) and 'aria-label="Main"' in html
    assert "This needs the admin role." in html
    assert "ask an admin" in html
    assert "You are signed in as <strong>lab-lea</strong>" in html
    assert '<span data-testid="your-access">labeler (python)</span>' in html
    assert 'href="http://testserver/tasks/">← Back</a>' in html
    assert 'href="/">Go to my home page</a>' in html


def test_a_labeler_opening_another_labelers_conversation_for_review_gets_the_403_page(client):
    conversation = submitted_conversation()
    other = started_conversation().labeler
    client.force_login(other)

    response = client.get(f"/review/{conversation.pk}/")

    assert response.status_code == 403
    html = response.content.decode()
    assert in_layout(html)
    assert "This needs the reviewer role." in html and "ask an admin" in html
    assert conversation.messages.first().content not in html


def test_reviewing_your_own_conversation_says_why_on_the_403_page(client):
    writer = reviewer_factory(roles=("labeler", "reviewer"))
    conversation = submitted_conversation(labeler=writer)
    client.force_login(writer)

    response = client.get(f"/review/{conversation.pk}/")

    assert response.status_code == 403
    assert "someone else has to review it" in response.content.decode()


@DEBUG_MODES
def test_another_labelers_draft_is_the_404_page_that_reveals_nothing(client, settings, debug):
    settings.DEBUG = debug
    conversation = started_conversation(text="A private question about a secret project")
    client.force_login(started_conversation().labeler)

    response = client.get(f"/conversations/{conversation.pk}/")

    assert response.status_code == 404
    html = response.content.decode()
    assert in_layout(html) and "We can't find that page" in html
    assert "secret project" not in html and "No such conversation" not in html
    assert 'href="/tasks/">My tasks</a>' in html


@DEBUG_MODES
def test_an_unknown_address_gets_the_404_page_with_a_way_home(client, settings, reviewer, debug):
    settings.DEBUG = debug
    client.force_login(reviewer)

    response = client.get("/no/such/page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert in_layout(html) and 'aria-label="Main"' in html
    assert "URL patterns" not in html  # not Django's technical page, even with DEBUG on
    assert 'href="/">Go to my home page</a>' in html
    assert 'href="/conversations/">Conversations</a>' in html


def test_a_back_link_only_to_our_own_pages(client, labeler):
    client.force_login(labeler)
    response = client.get("/nowhere/", HTTP_REFERER="https://evil.example/phish")
    assert response.status_code == 404
    assert "evil.example" not in response.content.decode()


def test_signed_out_people_get_the_404_page_with_a_login_link(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert in_layout(html) and 'href="/accounts/login/">Log in</a>' in html


@DEBUG_MODES
def test_the_api_keeps_json_errors(client, settings, labeler, debug):
    settings.DEBUG = debug
    client.force_login(labeler)

    missing = client.get("/api/no-such-endpoint/")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"status": 404, "code": "not_found", "message": "Not found.", "fields": {}}
    }
    refused = client.get("/api/members/")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"


def test_the_500_page_is_plain_and_the_api_500_is_json():
    page = server_error(RequestFactory().get("/projects/"))
    assert page.status_code == 500
    html = page.content.decode()
    assert "Something went wrong on our side" in html and 'href="/"' in html
    assert "<script" not in html

    api = server_error(RequestFactory().get("/api/projects/"))
    assert api.status_code == 500
    assert api["Content-Type"] == "application/json"
    assert b'"code": "server_error"' in api.content
