"""The daily flow in a real Chromium: task after task by keyboard, review after review, and
the guards on keys and buttons that would otherwise lose work or decide too fast."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, ConversationState
from tests.conftest import wait_for
from tests.conversations.factories import (
    reviewer_factory,
    started_conversation,
    submitted_conversation,
)
from tests.factories import ProjectFactory, PromptFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAVED = re.compile(r"Saved \d\d:\d\d:\d\d")
TASKS = 10

# Counts every pointer press on any page of the tab (kept across navigations).
COUNT_POINTER = """
addEventListener("pointerdown", () => {
  sessionStorage.setItem("pointer", String(Number(sessionStorage.getItem("pointer") || 0) + 1));
}, true);
"""


def tab_to(page, name: str, limit: int = 40) -> None:
    """Press Tab until the focused element is the button or link called `name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()").startswith(name):
            return
    raise AssertionError(f"{name!r} was not reached with {limit} Tabs")


def take_from_queue(page, live_server, conversation):
    page.goto(f"{live_server.url}/review/")
    page.get_by_role("button", name=f"Review conversation {conversation.pk}").click()
    expect(page).to_have_url(f"{live_server.url}/review/{conversation.pk}/")
    # The URL changes before the page's scripts run; shortcuts need their listeners.
    page.wait_for_load_state()


def score_everything(page, value="5"):
    for fieldset in page.locator("fieldset.score").all():
        fieldset.locator("label").filter(has_text=value).click()


def leave_field(page):
    """Out of any text field, where single keys are typed rather than shortcuts."""
    page.evaluate("() => document.activeElement.blur()")


def state_of(conversation) -> str:
    conversation.refresh_from_db(fields=["state"])
    return conversation.state


def test_a_labeler_does_ten_tasks_in_a_row_without_the_mouse(live_server, page, login, labeler):
    project = ProjectFactory(name="Python help", domains=["python"])
    for number in range(TASKS):
        PromptFactory(project=project, text=f"Question {number}: how do I sort a list?")
    login(labeler)
    page.add_init_script(COUNT_POINTER)

    page.goto(f"{live_server.url}/tasks/")
    tab_to(page, "Next task")
    page.keyboard.press("Enter")
    seen = set()
    for number in range(TASKS):
        expect(page.get_by_role("heading", name=re.compile(r"Conversation #\d+"))).to_be_visible()
        heading = page.get_by_role("heading", name=re.compile(r"Conversation #\d+")).text_content()
        assert heading not in seen
        seen.add(heading)
        if number:
            notice = page.locator(".flash li")
            expect(notice).to_contain_text("Submitted for review ✓ Here is your next task.")
            expect(notice.get_by_role("link", name="Back to My tasks")).to_be_visible()
        # The cursor is already in the empty reply: type, then submit with the shortcut.
        reply = page.get_by_label("Assistant message 2")
        expect(reply).to_be_focused()
        page.keyboard.type(f"Answer {number}: use sorted(items).")
        page.keyboard.press("Control+Enter")
        page.wait_for_url(lambda url, before=page.url: url != before)

    expect(page).to_have_url(f"{live_server.url}/tasks/")
    expect(page.locator(".flash")).to_contain_text("Submitted for review ✓ Thank you!")
    expect(page.locator(".flash")).to_contain_text("Nothing left for you right now.")
    submitted = Conversation.objects.filter(labeler=labeler, state=ConversationState.SUBMITTED)
    assert submitted.count() == TASKS
    assert sorted(c.messages.get(position=1).content for c in submitted) == sorted(
        f"Answer {number}: use sorted(items)." for number in range(TASKS)
    )
    assert page.evaluate("() => sessionStorage.getItem('pointer')") is None


def test_after_each_decision_the_reviewer_lands_on_the_next_conversation(live_server, page, login):
    first, second, third = (
        submitted_conversation(text=f"Question {n} of the queue?") for n in ("one", "two", "three")
    )
    login(reviewer_factory(name="rev-next"))
    page.on("dialog", lambda dialog: dialog.accept())
    take_from_queue(page, live_server, first)

    score_everything(page)
    page.get_by_role("button", name=re.compile("^Approve")).click()
    expect(page).to_have_url(f"{live_server.url}/review/{second.pk}/")
    expect(page.locator(".flash")).to_contain_text(f"conversation #{first.pk} — it is now approved")

    page.get_by_label("Comment", exact=True).fill("Add an example.")
    page.get_by_role("button", name=re.compile("^Request changes")).click()
    expect(page).to_have_url(f"{live_server.url}/review/{third.pk}/")
    expect(page.locator(".flash")).to_contain_text("changes requested")

    page.get_by_label("Comment", exact=True).fill("Off-topic for this project.")
    page.get_by_role("button", name=re.compile("^Reject")).click()
    expect(page).to_have_url(f"{live_server.url}/review/")
    expect(page.locator(".flash")).to_contain_text("it is now rejected")
    expect(page.get_by_role("heading", name="Nothing to review")).to_be_visible()
    assert [state_of(c) for c in (first, second, third)] == [
        ConversationState.APPROVED,
        ConversationState.CHANGES_REQUESTED,
        ConversationState.REJECTED,
    ]


def test_single_key_decisions_wait_with_undo_before_they_are_sent(live_server, page, login):
    conversation = submitted_conversation()
    login(reviewer_factory(name="rev-undo"))
    take_from_queue(page, live_server, conversation)
    score_everything(page)
    leave_field(page)

    # `a` counts down; Esc undoes, and nothing is sent even after the countdown would end.
    page.keyboard.press("a")
    pending = page.locator("#decision-pending")
    expect(pending).to_be_visible()
    expect(pending).to_contain_text(re.compile(r"Approving in [1-5] s"))
    page.keyboard.press("Escape")
    expect(pending).to_be_hidden()
    page.wait_for_timeout(6000)
    expect(page).to_have_url(f"{live_server.url}/review/{conversation.pk}/")
    assert state_of(conversation) == ConversationState.SUBMITTED

    # `c` first asks what to change; with a comment, it counts down and Enter sends it now.
    page.keyboard.press("c")
    comment = page.get_by_label("Comment", exact=True)
    expect(page.locator("#comment-error")).to_have_text("Say what to change, here or on a message.")
    expect(comment).to_be_focused()
    expect(pending).to_be_hidden()
    comment.fill("Show the output too.")
    expect(page.locator("#comment-error")).to_be_hidden()
    leave_field(page)
    page.keyboard.press("c")
    expect(pending).to_contain_text("Requesting changes in")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/review/")
    assert state_of(conversation) == ConversationState.CHANGES_REQUESTED


def test_a_key_decision_left_alone_is_sent_when_its_countdown_ends(live_server, page, login):
    conversation = submitted_conversation()
    login(reviewer_factory(name="rev-wait"))
    take_from_queue(page, live_server, conversation)
    score_everything(page, "4")
    leave_field(page)
    page.keyboard.press("a")
    expect(page.locator("#decision-pending")).to_contain_text("Approving in 5 s")
    expect(page).to_have_url(f"{live_server.url}/review/", timeout=10_000)
    expect(page.locator(".flash")).to_contain_text("it is now approved")
    assert state_of(conversation) == ConversationState.APPROVED


def test_reject_checks_its_reason_before_asking_if_it_is_final(live_server, page, login):
    conversation = submitted_conversation()
    login(reviewer_factory(name="rev-reject"))
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    take_from_queue(page, live_server, conversation)
    comment = page.get_by_label("Comment", exact=True)
    reason_error = page.locator("#comment-error")

    # No reason: neither the button nor the key asks "final?"; the comment says what is missing.
    page.get_by_role("button", name=re.compile("^Reject")).click()
    expect(reason_error).to_have_text(
        "Give the reason for rejecting here first: the labeler reads it."
    )
    expect(comment).to_be_focused()
    expect(comment).to_have_attribute("aria-invalid", "true")
    leave_field(page)
    page.keyboard.press("r")
    expect(comment).to_be_focused()
    assert asked == []

    # With the reason: asked once (declined: nothing happens), then again (accepted).
    comment.fill("Answers a different question.")
    leave_field(page)
    page.keyboard.press("r")
    expect(page.locator("#decision-pending")).to_be_hidden()
    page.wait_for_timeout(300)
    assert asked == ["Reject is final: the conversation will never be exported. Reject it?"]
    assert state_of(conversation) == ConversationState.SUBMITTED
    page.get_by_role("button", name=re.compile("^Reject")).click()
    expect(page).to_have_url(f"{live_server.url}/review/")
    assert len(asked) == 2
    assert state_of(conversation) == ConversationState.REJECTED


def test_a_missing_rubric_score_is_named_in_words(live_server, page, login):
    conversation = submitted_conversation()
    login(reviewer_factory(name="rev-rubric"))
    take_from_queue(page, live_server, conversation)
    page.locator('fieldset[data-criterion="helpfulness"] label').filter(has_text="5").click()

    page.get_by_role("button", name=re.compile("^Approve")).click()
    summary = page.locator("#decision-errors")
    expect(summary).to_be_visible()
    for label in ("Correctness", "Harmlessness", "Style"):
        expect(summary.get_by_role("link", name=f"Score missing: {label}")).to_be_visible()
        fieldset = page.get_by_role("group", name=label)
        expect(fieldset.get_by_text(f"Score missing: {label}")).to_be_visible()
    expect(summary).not_to_contain_text("Helpfulness")
    expect(page.get_by_role("group", name="Correctness").get_by_role("radio").first).to_be_focused()
    assert state_of(conversation) == ConversationState.SUBMITTED

    # Scoring a criterion takes its name off, beside the field and in the summary.
    page.keyboard.press("4")
    expect(page.get_by_role("group", name="Correctness").locator(".field-error")).to_be_hidden()
    expect(summary.get_by_role("link")).to_have_count(2)


def test_remove_last_turn_asks_before_deleting_words_and_says_how_many(
    live_server, page, login, labeler
):
    conversation = started_conversation(labeler=labeler)
    login(labeler)
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    page.keyboard.type("Use sorted().")
    page.get_by_role("button", name="+ User turn").click()
    page.keyboard.type("And in reverse order, please?")
    remove = page.get_by_role("button", name="Remove last turn")

    remove.click()
    expect(page.get_by_label("User message 3")).to_be_visible()
    remove.click()
    expect(page.get_by_label("User message 3")).to_have_count(0)
    assert asked == [
        "Remove the last turn (user message 3)? Its 5 words will be lost.",
        "Remove the last turn (user message 3)? Its 5 words will be lost.",
    ]

    # An empty turn goes without a question.
    page.get_by_role("button", name="+ User turn").click()
    remove.click()
    expect(page.get_by_label("User message 3")).to_have_count(0)
    assert len(asked) == 2
    wait_for(
        lambda: (
            [m.content for m in conversation.messages.order_by("position")][1:] == ["Use sorted()."]
        ),
        message="the removal saved",
    )
    expect(page.locator("#save-state")).to_have_text(SAVED)
