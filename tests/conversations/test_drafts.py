"""AI draft requests that never come back are reported as failed, so no page waits forever."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import DraftRequest
from conversations.services.drafts import (
    STALE_ERROR,
    STALE_MARGIN_SECONDS,
    draft_request_run,
    draft_requests_expire_stale,
)
from conversations.tasks import draft_requests_expire
from tests.conversations.factories import started_conversation

pytestmark = pytest.mark.django_db


def draft_request(conversation, *, age_seconds: float, status=DraftRequest.Status.QUEUED):
    """A request as the service records it, `age_seconds` old (its task lost or still out)."""
    made = DraftRequest.objects.create(
        conversation=conversation,
        message_position=1,
        status=status,
        requested_by=conversation.labeler,
    )
    DraftRequest.objects.filter(pk=made.pk).update(
        created_at=timezone.now() - timedelta(seconds=age_seconds)
    )
    return made


def overdue():
    return settings.AI_DRAFT_TIMEOUT_SECONDS + STALE_MARGIN_SECONDS + 5


def test_only_requests_older_than_the_timeout_and_margin_fail(settings):
    settings.AI_DRAFT_TIMEOUT_SECONDS = 60
    conversation = started_conversation()
    lost_queued = draft_request(conversation, age_seconds=overdue())
    lost_running = draft_request(
        conversation, age_seconds=overdue(), status=DraftRequest.Status.RUNNING
    )
    fresh = draft_request(conversation, age_seconds=60 + STALE_MARGIN_SECONDS - 5)
    done = draft_request(conversation, age_seconds=3600, status=DraftRequest.Status.SUCCEEDED)

    assert draft_requests_expire_stale() == 2
    for lost in (lost_queued, lost_running):
        lost.refresh_from_db()
        assert (lost.status, lost.error) == (DraftRequest.Status.FAILED, STALE_ERROR)
        assert lost.finished_at is not None
    fresh.refresh_from_db()
    done.refresh_from_db()
    assert fresh.status == DraftRequest.Status.QUEUED
    assert done.status == DraftRequest.Status.SUCCEEDED


def test_the_status_read_path_fails_a_lost_request_and_stops_the_polling(client):
    conversation = started_conversation()
    other = started_conversation()
    lost = draft_request(conversation, age_seconds=overdue())
    elsewhere = draft_request(other, age_seconds=overdue())
    client.force_login(conversation.labeler)
    url = reverse("conversations:editor-draft-status", args=[conversation.pk, lost.pk])
    html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "The draft did not come back in time; try again." in html
    assert "hx-trigger" not in html  # a final status: nothing polls again
    # Only this conversation's requests are touched by its poll; the periodic task does the rest.
    elsewhere.refresh_from_db()
    assert elsewhere.status == DraftRequest.Status.QUEUED
    draft_requests_expire()
    elsewhere.refresh_from_db()
    assert elsewhere.status == DraftRequest.Status.FAILED


def test_a_fresh_request_keeps_polling(client):
    conversation = started_conversation()
    waiting = draft_request(conversation, age_seconds=1)
    client.force_login(conversation.labeler)
    url = reverse("conversations:editor-draft-status", args=[conversation.pk, waiting.pk])
    html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in html and "Asking the AI for a draft" in html


def test_the_api_status_reports_a_lost_request_as_failed():
    conversation = started_conversation()
    lost = draft_request(conversation, age_seconds=overdue(), status=DraftRequest.Status.RUNNING)
    api = APIClient()
    api.force_authenticate(conversation.labeler)
    body = api.get(f"/api/conversations/{conversation.pk}/drafts/{lost.pk}/").json()
    assert (body["status"], body["error"]) == ("failed", STALE_ERROR)


def test_a_worker_that_comes_late_leaves_a_reported_failure_alone():
    conversation = started_conversation()
    lost = draft_request(conversation, age_seconds=overdue())
    draft_requests_expire_stale(conversation_id=conversation.pk)
    # The task finally runs: it finds the request no longer queued and does nothing.
    assert draft_request_run(draft_request_id=lost.pk).status == DraftRequest.Status.FAILED
    lost.refresh_from_db()
    assert (lost.status, lost.error, lost.text) == (DraftRequest.Status.FAILED, STALE_ERROR, "")


def test_the_beat_schedule_runs_the_expiry():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "conversations.tasks.draft_requests_expire" in tasks
