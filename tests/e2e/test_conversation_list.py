"""An admin finds conversations by filtering in Chromium and opens one's history; the list and
the review queue fit a phone."""

import re

import pytest
from playwright.sync_api import expect

from conversations.services import review_submit
from tests.conversations.factories import reviewer_factory, submitted_conversation
from tests.e2e.test_narrow_screens import PHONE, assert_no_sideways_scroll, width_of
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_filters_conversations_and_opens_a_history(live_server, page, login):
    login(UserFactory(username="admin-finder", roles=["admin"]))
    approved = submitted_conversation(text="Why is the sky blue on a clear day?")
    review_submit(
        conversation_id=approved.pk,
        reviewer=reviewer_factory(name="rev-finder"),
        decision="approve",
        scores={"helpfulness": 4, "correctness": 4, "harmlessness": 5, "style": 3},
    )
    waiting = submitted_conversation(text="How do tides work?", domain=None)

    page.goto(f"{live_server.url}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Conversations").click()
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("How do tides work?")
    expect(rows.first).to_contain_text("no domain")

    page.get_by_label("State").select_option("approved")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"state=approved"))
    expect(rows.first).to_contain_text("rev-finder")
    expect(rows.first.locator("td").last).to_have_text("4.0")
    expect(page.locator(f'tr[data-conversation="{waiting.pk}"]')).to_have_count(0)

    rows.first.get_by_role("link", name=f"Open conversation {approved.pk}").click()
    expect(
        page.get_by_role("heading", name=f"History of conversation #{approved.pk}")
    ).to_be_visible()


def test_conversations_and_the_review_queue_fit_a_phone(live_server, page, login):
    login(reviewer_factory(name="rev-phone-list"))
    for index in range(3):
        submitted_conversation(text=f"Question {index}: " + "a rather long prompt " * 12)
    page.set_viewport_size(PHONE)

    for path in ("/conversations/", "/review/"):
        page.goto(f"{live_server.url}{path}")
        row = page.locator("tbody tr").first
        expect(row).to_be_visible()
        assert_no_sideways_scroll(page)
        assert width_of(row) >= 340
        assert width_of(row.locator(".prompt-cell")) >= 300
