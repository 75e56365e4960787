"""AI drafts in the browser: the worker asks the loopback server; the page fills or offers."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import DraftRequest, MessageOrigin
from conversations.services.drafts import STALE_MARGIN_SECONDS
from tests.chat_server import point_settings_at_server  # starts the server, sets AI_DRAFT_*
from tests.conversations.factories import started_conversation
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAVED = re.compile(r"Saved \d\d:\d\d:\d\d")


@pytest.fixture
def drafting(settings, celery_worker_process, live_server, page, login, labeler):
    point_settings_at_server(settings)

    def open_editor(prompt_text):
        project = ProjectFactory(domains=["python"], ai_drafts_enabled=True)
        conversation = started_conversation(project=project, labeler=labeler, text=prompt_text)
        login(labeler)
        page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
        return conversation

    return open_editor


def test_draft_fills_an_empty_turn_marked_as_model_written(drafting, page):
    conversation = drafting("What is a generator?")
    page.get_by_role("button", name="Draft with AI").click()
    answer = page.get_by_label("Assistant message 2")
    expect(answer).to_have_value("Draft answer to: What is a generator?", timeout=30000)
    expect(page.locator("#origin-1")).to_have_text("AI draft · unedited")
    expect(page.locator("#save-state")).to_have_text(SAVED)
    message = conversation.messages.get(position=1)
    assert (message.origin, message.model_original) == (
        MessageOrigin.MODEL,
        "Draft answer to: What is a generator?",
    )
    answer.fill("A generator yields values lazily.")
    expect(page.locator("#origin-1")).to_contain_text("% edited")
    expect(page.locator("#save-state")).to_have_text(SAVED)
    message.refresh_from_db()
    assert message.origin == MessageOrigin.MODEL_EDITED


def test_draft_never_overwrites_text_typed_meanwhile(drafting, page):
    conversation = drafting("What is a decorator?")
    answer = page.get_by_label("Assistant message 2")
    answer.fill("My own beginning.")
    page.get_by_role("button", name="Draft with AI").click()
    ready = page.locator("[data-draft-ready]")
    expect(ready).to_contain_text("Your text was kept", timeout=30000)
    expect(ready.locator(".draft-beside")).to_have_text("Draft answer to: What is a decorator?")
    expect(answer).to_have_value("My own beginning.")
    assert conversation.messages.get(position=1).content == "My own beginning."
    page.get_by_role("button", name="Replace my text with the draft").click()
    expect(answer).to_have_value("Draft answer to: What is a decorator?")
    # The badge was redrawn by the checks meanwhile; the replacement still finds and sets it.
    expect(page.locator("#origin-1")).to_have_text("AI draft · unedited")
    expect(page.locator("#save-state")).to_have_text(SAVED)
    assert conversation.messages.get(position=1).origin == MessageOrigin.MODEL


def test_a_failing_endpoint_says_so_and_keeps_the_text(drafting, page):
    drafting("FAIL500 what is a closure?")
    page.get_by_label("Assistant message 2").fill("Kept text.")
    page.get_by_role("button", name="Draft with AI").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "The AI draft failed: The AI endpoint answered 500", timeout=30000
    )
    expect(page.get_by_label("Assistant message 2")).to_have_value("Kept text.")


def test_a_draft_that_never_comes_back_ends_in_a_clear_message_and_keeps_the_text(
    live_server, page, login, labeler
):
    """The task was lost (no worker took it): once past the endpoint's timeout and the
    margin, the page stops waiting and says so; what was typed meanwhile is saved."""
    project = ProjectFactory(domains=["python"], ai_drafts_enabled=True)
    conversation = started_conversation(project=project, labeler=labeler, text="Lost draft?")
    lost = DraftRequest.objects.create(
        conversation=conversation, message_position=1, requested_by=labeler
    )
    login(labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    waiting = page.locator(".draft-status")
    expect(waiting).to_contain_text("Asking the AI for a draft")
    answer = page.get_by_label("Assistant message 2")
    answer.fill("I wrote this while waiting.")
    expect(page.locator("#save-state")).to_have_text(SAVED)

    # Time passes beyond AI_DRAFT_TIMEOUT_SECONDS + the margin with nobody running it.
    overdue = settings.AI_DRAFT_TIMEOUT_SECONDS + STALE_MARGIN_SECONDS + 1
    DraftRequest.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(seconds=overdue)
    )
    expect(page.get_by_role("alert")).to_contain_text(
        "The draft did not come back in time; try again.", timeout=10000
    )
    expect(waiting).to_have_count(0)  # nothing polls any more
    expect(answer).to_have_value("I wrote this while waiting.")
    assert conversation.messages.get(position=1).content == "I wrote this while waiting."
    page.reload()
    expect(page.get_by_label("Assistant message 2")).to_have_value("I wrote this while waiting.")
    expect(page.locator(".draft-status")).to_have_count(0)


def test_after_a_draft_fills_the_reply_the_page_shows_what_a_reload_shows(drafting, page):
    """Badge, checks and offers right after the draft are the ones the saved state gives."""
    drafting("What is a context manager?")
    page.get_by_role("button", name="Draft with AI").click()
    answer = page.get_by_label("Assistant message 2")
    expect(answer).to_have_value("Draft answer to: What is a context manager?", timeout=30000)
    expect(page.locator("#save-state")).to_have_text(SAVED)
    page.wait_for_timeout(1500)  # past the checks' delay and one more status poll

    def shown():
        expect(page.locator("#origin-1")).to_have_text("AI draft · unedited")
        expect(page.locator("#checks")).to_contain_text("is the AI draft without any edit")
        expect(page.locator("#checks")).not_to_contain_text("All checks pass")
        expect(page.get_by_role("button", name="Replace my text with the draft")).to_have_count(0)
        return (
            page.locator("#origin-1").inner_text(),
            page.locator("#checks .check-list").inner_text(),
            page.locator("#token-total").inner_text(),
        )

    before_reload = shown()
    page.reload()
    expect(answer).to_have_value("Draft answer to: What is a context manager?")
    assert shown() == before_reload
