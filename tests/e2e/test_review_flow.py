"""Two people in two browsers: a labeler and reviewers going round a review."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import ConversationState
from tests.conversations.factories import (
    reviewer_factory,
    submit,
    submitted_conversation,
    write_answer,
)
from tests.labeling.factories import ProjectFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def take_from_queue(page, live_server, conversation):
    page.goto(f"{live_server.url}/review/")
    page.get_by_role("button", name=f"Review conversation {conversation.pk}").click()
    expect(page).to_have_url(f"{live_server.url}/review/{conversation.pk}/")
    # The URL changes before the page's scripts run; shortcuts need their listeners.
    page.wait_for_load_state()


def score_everything(page, value="5"):
    for fieldset in page.locator("fieldset.score").all():
        fieldset.locator("label").filter(has_text=value).click()


def test_request_changes_then_fix_resubmit_and_approve(live_server, open_as):
    conversation = submitted_conversation(
        draft="Use map over the list.", answer="Use a comprehension over the list."
    )
    labeler = conversation.labeler
    reviewer = reviewer_factory(name="rev-rosa")
    review_page = open_as(reviewer)
    labeler_page = open_as(labeler)

    # The reviewer takes it, sees the diff against the AI draft, comments on the answer.
    take_from_queue(review_page, live_server, conversation)
    expect(review_page.get_by_test_id("draft-diff-1").locator("ins")).to_contain_text(
        "comprehension"
    )
    review_page.get_by_text("Comment on this message").nth(1).click()
    review_page.get_by_label("Comment on message 2").fill("Show an example with numbers.")
    review_page.get_by_role("button", name=re.compile("Request changes")).click()
    expect(review_page.get_by_role("status")).to_contain_text("changes requested")

    # The labeler sees the badge, opens the notification and reads the comment.
    labeler_page.goto(f"{live_server.url}/notifications/")
    expect(labeler_page.get_by_test_id("unread-count")).to_contain_text("1")
    expect(labeler_page.get_by_text("rev-rosa asked for changes")).to_be_visible()
    labeler_page.get_by_role("button", name="Open").click()
    expect(labeler_page.get_by_test_id("message-comment")).to_have_text(
        "Show an example with numbers."
    )
    expect(labeler_page.get_by_test_id("unread-count")).to_have_count(0)

    # The fix and resubmission (the editor's own services).
    write_answer(conversation, "Use a comprehension over the list: [x * 2 for x in [1, 2]].")
    submit(conversation)

    # The reviewer sees what changed since r1 and approves with the rubric.
    take_from_queue(review_page, live_server, conversation)
    expect(review_page.get_by_test_id("previous-diff-1").locator("ins")).to_contain_text("[1, 2]")
    expect(review_page.get_by_text("changed since r1")).to_be_visible()
    score_everything(review_page)
    review_page.get_by_role("button", name=re.compile("^Approve")).click()
    expect(review_page.get_by_role("status")).to_contain_text("approved")

    conversation.refresh_from_db()
    assert conversation.state == ConversationState.APPROVED
    assert conversation.current_revision.number == 2
    assert conversation.reviews.get(decision="approve").revision == conversation.current_revision


def test_two_approvals_needed_one_is_not_enough_and_a_third_person_sends_it_back(
    live_server, open_as
):
    project = ProjectFactory(domains=["python"], approvals_needed=2)
    conversation = submitted_conversation(project=project)
    first, third = open_as(reviewer_factory()), open_as(reviewer_factory())

    # Both take it: two approvals are needed, so two different people may hold it.
    take_from_queue(first, live_server, conversation)
    take_from_queue(third, live_server, conversation)
    score_everything(first, "4")
    first.get_by_role("button", name=re.compile("^Approve")).click()
    expect(first.get_by_role("status")).to_contain_text("submitted")
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED

    third.reload()
    expect(third.get_by_text("1/2 approvals")).to_be_visible()
    third.get_by_label("Comment", exact=True).fill("The second example is wrong.")
    third.get_by_role("button", name=re.compile("Request changes")).click()
    expect(third.get_by_role("status")).to_contain_text("changes requested")
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.CHANGES_REQUESTED


def test_a_person_with_both_roles_cannot_review_their_own(live_server, open_as):
    both = reviewer_factory(name="both-bo", roles=("labeler", "reviewer"))
    own = submitted_conversation(labeler=both)
    someone_elses = submitted_conversation()
    page = open_as(both)
    page.goto(f"{live_server.url}/review/")
    expect(page.locator(f'tr[data-conversation="{someone_elses.pk}"]')).to_be_visible()
    expect(page.locator(f'tr[data-conversation="{own.pk}"]')).to_have_count(0)
    response = page.goto(f"{live_server.url}/review/{own.pk}/")
    assert response.status == 403


def test_keyboard_shortcuts_help_and_approve_asks_for_scores_first(live_server, open_as):
    conversation = submitted_conversation()
    page = open_as(reviewer_factory())
    take_from_queue(page, live_server, conversation)
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    # Unscored: focus goes to the first criterion instead of approving.
    expect(page.locator("fieldset.score").first).to_have_class(re.compile("needs-score"))
    score_everything(page, "3")
    page.locator("body").click()
    page.keyboard.press("a")
    # A single key waits a few seconds with Undo; Enter sends it now.
    expect(page.locator("#decision-pending")).to_contain_text("Approving in")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("approved")
