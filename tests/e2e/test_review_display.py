"""How a review reads on every page, in a real Chromium: one message numbering on the review,
feedback, history and editor pages; comments as rendered, sanitized markdown; rubric scores
under their criterion's label; the reviewer's edit box as wide and monospace as the editor's."""

import pytest
from playwright.sync_api import expect

from conversations.models import Review, ReviewDecision
from conversations.services import review_submit
from tests.conversations.factories import (
    add_turn,
    reviewer_factory,
    started_conversation,
    submit,
    submitted_conversation,
    write_answer,
)
from tests.labeling.factories import ProjectFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

COMMENT = "Give **one** example:\n\n- with `numbers`\n\n<script>window.pwned = 1</script>"


def two_turn_conversation():
    """user #1, assistant #2, user #3, assistant #4, submitted."""
    conversation = started_conversation(text="How do I double every item of a list?")
    write_answer(conversation, "Use a comprehension.", position=1)
    add_turn(conversation, "And for a tuple?", "Same, then call tuple().")
    return submit(conversation)


def expect_rendered(comment):
    expect(comment.locator("strong")).to_have_text("one")
    expect(comment.locator("li code")).to_have_text("numbers")
    expect(comment).to_contain_text("<script>window.pwned = 1</script>")  # shown as text
    expect(comment.locator("script")).to_have_count(0)
    expect(comment).not_to_contain_text("**")


def test_a_comment_on_message_4_is_message_4_everywhere_and_reads_as_markdown(live_server, open_as):
    conversation = two_turn_conversation()
    reviewer = reviewer_factory(name="rev-nora")
    review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer,
        decision=ReviewDecision.REQUEST_CHANGES,
        comment="Mostly right; see *message 4*.",
        message_comments=[{"position": 3, "text": COMMENT}],
    )
    base = f"{live_server.url}"

    review_page = open_as(reviewer)
    review_page.goto(f"{base}/review/{conversation.pk}/")
    fourth = review_page.locator("#message-3")
    expect(fourth.locator(".message-title")).to_contain_text("#4")
    expect(fourth.locator(".message-comment")).to_contain_text("rev-nora")

    labeler_page = open_as(conversation.labeler)
    labeler_page.goto(f"{base}/conversations/{conversation.pk}/feedback/")
    item = labeler_page.locator(".feedback-messages > li")
    expect(item).to_have_count(1)
    expect(item.get_by_role("link")).to_have_text("Assistant #4")
    expect_rendered(labeler_page.get_by_test_id("message-comment"))
    expect(labeler_page.locator(".feedback-comment em")).to_have_text("message 4")

    labeler_page.goto(f"{base}/conversations/{conversation.pk}/history/")
    expect(labeler_page.locator(".history-review .feedback-messages > li")).to_contain_text(
        "message #4:"
    )
    expect_rendered(labeler_page.locator(".history-review .feedback-messages .markdown"))

    labeler_page.goto(f"{base}/conversations/{conversation.pk}/")
    expect(labeler_page.locator("#card-3 [data-number]")).to_have_text("#4")
    on_fourth = labeler_page.get_by_role(
        "complementary", name="Reviewer comment on message 4"
    ).locator(".markdown")
    expect_rendered(on_fourth)
    expect(labeler_page.locator(".change-request em")).to_have_text("message 4")
    assert labeler_page.evaluate("window.pwned") is None


def test_scores_show_each_criterions_label_also_for_a_criterion_that_is_gone(live_server, open_as):
    project = ProjectFactory(
        domains=["python"],
        rubric=[
            {"name": "code_quality", "label": "Quality of the code", "description": "Idiomatic?"},
            {"name": "correctness", "label": "Facts right", "description": ""},
        ],
    )
    conversation = submitted_conversation(project=project)
    reviewer = reviewer_factory(name="rev-omar")
    # Stored before the rubric had labels, with a criterion since removed from it.
    Review.objects.create(
        conversation=conversation,
        revision=conversation.current_revision,
        reviewer=reviewer,
        decision=ReviewDecision.REQUEST_CHANGES,
        scores={"Tone_and_style": 2, "correctness": 5, "code_quality": 4},
        comment="Tighten it.",
    )
    shown = "Quality of the code 4/5 · Facts right 5/5 · Tone and style 2/5"

    labeler_page = open_as(conversation.labeler)
    labeler_page.goto(f"{live_server.url}/conversations/{conversation.pk}/feedback/")
    expect(labeler_page.get_by_test_id("scores")).to_have_text(shown)
    labeler_page.goto(f"{live_server.url}/conversations/{conversation.pk}/history/")
    expect(labeler_page.get_by_test_id("scores")).to_have_text(shown)

    review_page = open_as(reviewer_factory(name="rev-pia"))
    review_page.goto(f"{live_server.url}/review/{conversation.pk}/")
    expect(review_page.locator(".review-entry")).to_contain_text(
        "Quality of the code 4, Facts right 5, Tone and style 2"
    )


def test_the_reviewers_edit_box_is_as_wide_as_the_message_and_monospace(live_server, open_as):
    conversation = submitted_conversation(answer="Use `sorted(items)`.")
    review_page = open_as(reviewer_factory())
    review_page.set_viewport_size({"width": 1280, "height": 900})
    review_page.goto(f"{live_server.url}/review/{conversation.pk}/")
    answer = review_page.locator("#message-1")
    answer.get_by_text("Edit", exact=True).click()
    box = review_page.get_by_label("New text of message 2")
    expect(box).to_be_visible()
    card_width = answer.evaluate(
        "card => card.clientWidth - parseFloat(getComputedStyle(card).paddingLeft)"
        " - parseFloat(getComputedStyle(card).paddingRight)"
    )
    assert box.bounding_box()["width"] >= card_width - 2

    labeler_page = open_as(conversation.labeler)
    labeler_page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    style = "box => [getComputedStyle(box).fontFamily, getComputedStyle(box).fontSize]"
    editor_font = labeler_page.get_by_label("Assistant message 2").evaluate(style)
    assert box.evaluate(style) == editor_font
    assert "monospace" in editor_font[0]
