"""A lease that runs out while the labeler writes: a calm notice, nothing lost, submit works."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Conversation, ConversationState
from conversations.services import next_task
from labeling.services import domain_get_or_create
from tests.factories import ProjectFactory, PromptFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAVED = re.compile(r"Saved \d\d:\d\d:\d\d")


def test_lease_running_out_while_writing_shows_a_notice_and_submit_still_works(
    live_server, page, login, labeler
):
    project = ProjectFactory(domains=["python"])
    PromptFactory(
        project=project, text="What is a set?", domain=domain_get_or_create(name="python")
    )
    conversation = Conversation.objects.get(pk=next_task(labeler).conversation_id)
    assignment = conversation.assignment
    assignment.lease_expires_at = timezone.now() + timedelta(seconds=3)
    assignment.save(update_fields=["lease_expires_at"])

    login(labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    notice = page.locator("#lease-expired")
    expect(notice).to_be_hidden()
    expect(page.locator("#lease-time")).to_contain_text("lease until")
    page.get_by_label("Assistant message 2").fill("An unordered collection of unique items.")
    expect(page.locator("#save-state")).to_have_text(SAVED)

    expect(notice).to_be_visible(timeout=10000)
    expect(notice).to_contain_text("Your lease ran out at")
    expect(notice).to_contain_text("Your text is safe")
    expect(page.locator("#lease-time")).to_contain_text("lease ran out at")

    answer = page.get_by_label("Assistant message 2")
    answer.fill("An unordered collection of unique, hashable items.")
    expect(page.locator("#save-state")).to_have_text(SAVED)
    answer.press("Control+Enter")
    expect(page.get_by_text("Submitted for review")).to_be_visible()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED
    assert (
        conversation.messages.get(position=1).content
        == "An unordered collection of unique, hashable items."
    )
