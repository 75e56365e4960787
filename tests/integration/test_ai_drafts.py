"""AI drafts through the real Celery worker and a real chat-completions server on loopback."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import DraftRequest, MessageOrigin
from conversations.services import ConversationError, conversation_save
from conversations.services.drafts import (
    STALE_ERROR,
    draft_request_create,
    draft_requests_expire_stale,
)
from tests.conftest import wait_for
from tests.conversations.factories import started_conversation
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def drafting_conversation(text):
    project = ProjectFactory(domains=["python"], ai_drafts_enabled=True)
    return started_conversation(project=project, text=text)


def finished(draft_request):
    def check():
        draft_request.refresh_from_db()
        return draft_request.status in (DraftRequest.Status.SUCCEEDED, DraftRequest.Status.FAILED)

    return check


def test_worker_fetches_a_draft_and_the_person_keeps_the_models_original(
    celery_worker_process, chat_server
):
    conversation = drafting_conversation("How do I sort a dict by value?")
    draft = draft_request_create(
        conversation_id=conversation.pk, user=conversation.labeler, message_position=1
    )
    wait_for(finished(draft), message="the worker to fetch the draft")

    assert draft.status == DraftRequest.Status.SUCCEEDED, draft.error
    assert draft.text == "Draft answer to: How do I sort a dict by value?"
    sent = chat_server.received[-1]
    assert sent["model"] == "loopback-model"
    assert sent["messages"] == [{"role": "user", "content": "How do I sort a dict by value?"}]
    # The worker never writes into the conversation: nothing the person typed can be overwritten.
    conversation.refresh_from_db()
    assert conversation.version == 1
    assert conversation.messages.get(position=1).content == ""

    # The editor puts it in the (still empty) turn, marked as model-written; then the human edits.
    messages = [
        {"role": "user", "content": "How do I sort a dict by value?"},
        {"role": "assistant", "content": draft.text, "draft_request": draft.pk},
    ]
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=1,
        messages=messages,
    )
    message = conversation.messages.get(position=1)
    assert (message.origin, message.model_original) == (MessageOrigin.MODEL, draft.text)
    messages[1] = {"role": "assistant", "content": "Use sorted(d.items(), key=lambda kv: kv[1])."}
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=2,
        messages=messages,
    )
    message.refresh_from_db()
    assert (message.origin, message.model_original) == (MessageOrigin.MODEL_EDITED, draft.text)


def test_an_error_status_fails_the_request_with_the_reason(celery_worker_process, chat_server):
    conversation = drafting_conversation("FAIL500 please")
    draft = draft_request_create(
        conversation_id=conversation.pk, user=conversation.labeler, message_position=1
    )
    wait_for(finished(draft), message="the worker to report the failure")
    assert draft.status == DraftRequest.Status.FAILED
    assert "answered 500" in draft.error and "upstream exploded" in draft.error
    assert draft.text == ""
    assert conversation.messages.get(position=1).content == ""


def test_a_slow_endpoint_times_out_with_a_clear_message(celery_worker_process, chat_server):
    conversation = drafting_conversation("SLOW question")
    draft = draft_request_create(
        conversation_id=conversation.pk, user=conversation.labeler, message_position=1
    )
    wait_for(finished(draft), timeout=30, message="the worker to time out")
    assert draft.status == DraftRequest.Status.FAILED
    assert draft.error == "The AI endpoint did not answer within 2 seconds."


def test_drafts_off_for_the_project_or_not_configured_are_refused(chat_server, settings):
    conversation = started_conversation()
    with pytest.raises(ConversationError, match="turned off for this project"):
        draft_request_create(
            conversation_id=conversation.pk, user=conversation.labeler, message_position=1
        )
    conversation.project.ai_drafts_enabled = True
    conversation.project.save()
    settings.AI_DRAFT_BASE_URL = ""
    with pytest.raises(ConversationError, match="AI drafts are not configured"):
        draft_request_create(
            conversation_id=conversation.pk, user=conversation.labeler, message_position=1
        )
    with pytest.raises(ConversationError, match="only an assistant turn"):
        settings.AI_DRAFT_BASE_URL = "http://127.0.0.1:9/v1"
        draft_request_create(
            conversation_id=conversation.pk, user=conversation.labeler, message_position=0
        )
    assert not DraftRequest.objects.exists()


def test_a_request_reported_lost_while_running_stays_failed_when_the_worker_returns(
    celery_worker_process, chat_server
):
    """The endpoint is still thinking when the request is declared lost (the status poll or
    the periodic task): the worker's late answer must not flip what the person was told."""
    conversation = drafting_conversation("SLOW and then lost")
    done_before = celery_worker_process.log_path.read_text().count("draft_generate[")
    draft = draft_request_create(
        conversation_id=conversation.pk, user=conversation.labeler, message_position=1
    )

    def running():
        draft.refresh_from_db()
        return draft.status == DraftRequest.Status.RUNNING

    wait_for(running, message="the worker to start the request")
    later = timezone.now() + timedelta(hours=1)
    assert draft_requests_expire_stale(conversation_id=conversation.pk, now=later) == 1

    def worker_returned():
        log = celery_worker_process.log_path.read_text()
        return log.count("draft_generate[") >= done_before + 2  # received, then succeeded

    wait_for(worker_returned, timeout=30, message="the worker to finish the slow request")
    draft.refresh_from_db()
    assert (draft.status, draft.error) == (DraftRequest.Status.FAILED, STALE_ERROR)
