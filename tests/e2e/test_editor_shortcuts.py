"""The editor's keyboard shortcuts and its guidelines panel, in a real Chromium."""

import re

import pytest
from playwright.sync_api import expect

from labeling.services import guidelines_save
from tests.conversations.factories import started_conversation
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAVED = re.compile(r"Saved \d\d:\d\d:\d\d")


def test_shortcuts_save_move_between_turns_preview_and_list_themselves(
    live_server, page, login, labeler
):
    conversation = started_conversation(labeler=labeler, text="How do I read a file?")
    login(labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    expect(page.locator("#save-state")).to_have_text("Up to date")

    # Ctrl+S saves now (not the browser's "save page" dialog).
    page.locator("h1").click()
    page.keyboard.press("Control+s")
    expect(page.locator("#save-state")).to_have_text(SAVED)
    conversation.refresh_from_db()
    assert conversation.version == 2

    # Alt+↓ from the last message adds the next turn (roles alternate) and moves there.
    answer = page.get_by_label("Assistant message 2")
    answer.fill("Use `open(path).read()`.")
    answer.press("Alt+ArrowDown")
    follow_up = page.get_by_label("User message 3")
    expect(follow_up).to_be_focused()
    follow_up.type("And in binary?")
    follow_up.press("Alt+ArrowDown")
    expect(page.get_by_label("Assistant message 4")).to_be_focused()
    page.get_by_label("Assistant message 4").press("Alt+ArrowUp")
    expect(follow_up).to_be_focused()
    expect(page.locator("#save-state")).to_have_text(SAVED)
    assert [m.role for m in conversation.messages.order_by("position")] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]

    # Alt+P shows the sanitized preview of the focused message, and back.
    answer.press("Alt+p")
    preview = page.locator("#card-1 [data-preview]")
    expect(preview.locator("code")).to_have_text("open(path).read()")
    expect(answer).to_be_hidden()

    # ? (outside a text field) opens the help listing every shortcut.
    page.locator("h1").click()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    for action in ("Save now", "Submit for review", "Next message", "Previous message"):
        expect(dialog).to_contain_text(action)
    expect(dialog).to_contain_text("Toggle the preview")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


def test_guidelines_panel_folds_and_flags_a_new_version_until_read(
    live_server, page, login, labeler
):
    admin = UserFactory(roles=["admin"])
    project = ProjectFactory(domains=["python"])
    guidelines_save(project=project, body="Be **kind** and brief.", user=admin)
    conversation = started_conversation(project=project, labeler=labeler)
    login(labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")

    panel = page.locator("#guidelines-panel")
    body = panel.locator(".guidelines-body")
    notice = page.locator("#guidelines-notice")
    expect(notice).to_contain_text("You have not read these guidelines yet.")
    expect(body.locator("strong")).to_have_text("kind")
    page.get_by_role("button", name="I have read them").click()
    expect(notice).to_have_count(0)

    # The panel folds away and opens again.
    panel.locator("summary").click()
    expect(body).to_be_hidden()
    panel.locator("summary").click()
    expect(body).to_be_visible()

    # An admin saves a new version: the labeler is told, once, until they read it.
    guidelines_save(project=project, body="Be **kind**, brief and cite sources.", user=admin)
    page.reload()
    expect(panel.locator("summary")).to_contain_text("v2")
    expect(notice).to_contain_text("The guidelines changed since you last read them (you read v1)")
    expect(body).to_contain_text("cite sources")
    page.get_by_role("button", name="I have read them").click()
    expect(notice).to_have_count(0)
    page.reload()
    expect(page.locator("#guidelines-notice")).to_have_count(0)
    expect(panel.locator("summary")).to_contain_text("v2")
