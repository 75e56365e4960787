"""The editor in a real Chromium: write, autosave, reload, submit; conflicts; offline; XSS."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, ConversationState
from tests.conversations.factories import started_conversation
from tests.factories import ProjectFactory, PromptFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAVED = re.compile(r"Saved \d\d:\d\d:\d\d")


def stored_contents(conversation):
    return [m.content for m in conversation.messages.order_by("position")]


def test_labeler_takes_a_task_writes_two_turns_reloads_and_submits(
    live_server, page, login, labeler
):
    project = ProjectFactory(name="Python help", domains=["python"], min_turns=2)
    PromptFactory(project=project, text="How do I reverse a list in Python?")
    login(labeler)

    page.goto(f"{live_server.url}/tasks/")
    page.get_by_role("button", name="Next task").click()
    expect(page.get_by_role("heading", name=re.compile(r"Conversation #\d+"))).to_be_visible()
    expect(page.get_by_text("How do I reverse a list in Python?")).to_be_visible()

    page.get_by_label("Assistant message 2").fill("Use `items.reverse()` or `items[::-1]`.")
    page.get_by_role("button", name="+ User turn").click()
    page.get_by_label("User message 3").fill("And without copying?")
    page.get_by_role("button", name="+ Assistant turn").click()
    page.get_by_label("Assistant message 4").fill("`items.reverse()` works in place.")
    expect(page.locator("#save-state")).to_have_text(SAVED)
    expect(page.locator("#checks")).to_contain_text("All checks pass")

    page.reload()
    expect(page.get_by_label("Assistant message 2")).to_have_value(
        "Use `items.reverse()` or `items[::-1]`."
    )
    expect(page.get_by_label("User message 3")).to_have_value("And without copying?")
    expect(page.get_by_label("Assistant message 4")).to_have_value(
        "`items.reverse()` works in place."
    )

    page.get_by_label("Assistant message 4").press("Control+Enter")
    expect(page.get_by_text("Submitted for review")).to_be_visible()
    conversation = Conversation.objects.get(labeler=labeler)
    assert conversation.state == ConversationState.SUBMITTED
    assert stored_contents(conversation)[1:] == [
        "Use `items.reverse()` or `items[::-1]`.",
        "And without copying?",
        "`items.reverse()` works in place.",
    ]
    recent = page.get_by_role("heading", name="Recent submissions").locator("xpath=..")
    expect(recent).to_contain_text("How do I reverse a list in Python?")


def test_two_tabs_conflict_shows_both_texts_and_neither_is_lost(live_server, browser, labeler):
    from django.conf import settings
    from django.test import Client

    conversation = started_conversation(labeler=labeler)
    client = Client()
    client.force_login(labeler)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    url = f"{live_server.url}/conversations/{conversation.pk}/"
    tabs = []
    for _ in range(2):
        context = browser.new_context()
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
        )
        tab = context.new_page()
        tab.goto(url)
        tabs.append(tab)
    first, second = tabs

    first.get_by_label("Assistant message 2").fill("Text typed in the first tab.")
    expect(first.locator("#save-state")).to_have_text(SAVED)
    second.get_by_label("Assistant message 2").fill("Text typed in the second tab.")
    expect(second.locator("#save-state")).to_contain_text("changed elsewhere")

    # The server kept the first text; the second is still on screen, and both are side by side.
    assert stored_contents(conversation)[1] == "Text typed in the first tab."
    conflict = second.locator("#conflict")
    expect(conflict).to_be_visible()
    expect(conflict.locator(".conflict-mine")).to_contain_text("Text typed in the second tab.")
    expect(conflict.locator(".conflict-theirs")).to_contain_text("Text typed in the first tab.")
    expect(second.get_by_label("Assistant message 2")).to_have_value(
        "Text typed in the second tab."
    )

    # The person merges by hand, keeps their merged text and saves.
    second.get_by_label("Assistant message 2").fill(
        "Text typed in the first tab. Text typed in the second tab."
    )
    second.get_by_role("button", name="Save my merge").click()
    expect(second.locator("#save-state")).to_have_text(SAVED)
    assert stored_contents(conversation)[1] == (
        "Text typed in the first tab. Text typed in the second tab."
    )
    for tab in tabs:
        tab.context.close()


def test_offline_text_is_kept_in_the_browser_and_sent_when_back(
    live_server, page, context, login, labeler
):
    conversation = started_conversation(labeler=labeler)
    login(labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")

    context.set_offline(True)
    page.get_by_label("Assistant message 2").fill("Written on a train without network.")
    expect(page.locator("#save-state")).to_have_text("Not saved: offline, retrying")
    kept = page.evaluate(f"localStorage.getItem('sft-editor:{conversation.pk}')")
    assert "Written on a train without network." in kept
    assert stored_contents(conversation)[1] == ""

    context.set_offline(False)
    expect(page.locator("#save-state")).to_have_text(SAVED, timeout=20000)
    assert stored_contents(conversation)[1] == "Written on a train without network."
    assert page.evaluate(f"localStorage.getItem('sft-editor:{conversation.pk}')") is None


def test_unsent_text_survives_a_reload_and_is_saved(live_server, page, context, login, labeler):
    conversation = started_conversation(labeler=labeler)
    login(labeler)
    url = f"{live_server.url}/conversations/{conversation.pk}/"
    page.goto(url)
    # The server cannot be reached for saves (the page itself was already loaded).
    api = f"**/api/conversations/{conversation.pk}/"
    context.route(api, lambda route: route.abort("internetdisconnected"))
    page.get_by_label("Assistant message 2").fill("Typed, then the tab was reloaded.")
    expect(page.locator("#save-state")).to_have_text("Not saved: offline, retrying")
    context.unroute(api)
    page.goto(url)
    expect(page.get_by_label("Assistant message 2")).to_have_value(
        "Typed, then the tab was reloaded."
    )
    expect(page.locator("#save-state")).to_have_text(SAVED, timeout=20000)
    assert stored_contents(conversation)[1] == "Typed, then the tab was reloaded."


PAYLOADS = {
    "system": '<script>window.__xss = "system"</script>',
    "user": "<img src=x onerror=\"window.__xss = 'user'\">",
    "assistant": '<svg onload="window.__xss=1"></svg> <img src=x onerror=alert(1)> [x](javascript:window.__xss=2)',
}


def test_typed_html_never_runs_after_save_reload_and_preview(live_server, page, login, labeler):
    project = ProjectFactory(domains=["python"], system_message_allowed=True, min_turns=1)
    conversation = started_conversation(project=project, labeler=labeler)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login(labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")

    page.get_by_role("button", name="+ System message").click()
    page.get_by_label("System message 1").fill(PAYLOADS["system"])
    page.get_by_label("Assistant message 3").fill(PAYLOADS["assistant"])
    page.get_by_role("button", name="+ User turn").click()
    page.get_by_label("User message 4").fill(PAYLOADS["user"])
    page.get_by_role("button", name="+ Assistant turn").click()
    page.get_by_label("Assistant message 5").fill("fine")
    expect(page.locator("#save-state")).to_have_text(SAVED)

    page.reload()
    for label, payload in [
        ("System message 1", PAYLOADS["system"]),
        ("Assistant message 3", PAYLOADS["assistant"]),
        ("User message 4", PAYLOADS["user"]),
    ]:
        expect(page.get_by_label(label)).to_have_value(payload)
        page.get_by_label(label).focus()
        page.keyboard.press("Alt+p")
    previews = page.locator("[data-preview]:visible")
    expect(previews).to_have_count(3)
    expect(previews.nth(0)).to_contain_text('<script>window.__xss = "system"</script>')
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert dialogs == []
    assert page.locator("#messages script, #messages img[onerror], #messages svg").count() == 0
