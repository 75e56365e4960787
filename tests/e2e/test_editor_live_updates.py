"""What the editor updates while the labeler types, in a real Chromium: the token total after
every save, and the reviewer's comments shown as rendered (sanitized) markdown."""

import re

import pytest
from playwright.sync_api import expect

from conversations.services.tokens import token_counts
from tests.conversations.factories import started_conversation

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAVED = re.compile(r"Saved \d\d:\d\d:\d\d")


def expected_total(conversation, answer: str) -> int:
    messages = [
        {"role": m.role, "content": m.content} for m in conversation.messages.order_by("position")
    ]
    messages[1]["content"] = answer
    return token_counts(project=conversation.project, messages=messages).total


def test_token_total_stays_and_follows_every_edit(live_server, page, login, labeler):
    conversation = started_conversation(labeler=labeler, text="How do I sort a dict by value?")
    htmx_errors = []
    page.on(
        "console",
        lambda message: htmx_errors.append(message.text) if "oobError" in message.text else None,
    )
    login(labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    total = page.locator("#token-total")
    answer = page.get_by_label("Assistant message 2")
    for text in (
        "Use sorted().",
        "Use `sorted(d.items(), key=lambda item: item[1])`.",
        "Use `sorted(d.items(), key=lambda item: item[1])`; add `reverse=True` for descending.",
    ):
        answer.fill(text)
        expect(page.locator("#save-state")).to_have_text(SAVED)
        expect(total).to_have_count(1)
        expect(total).to_be_visible()
        expect(total).to_have_text(
            re.compile(rf"^\s*{expected_total(conversation, text)} / \d+ tokens")
        )
    assert htmx_errors == []
