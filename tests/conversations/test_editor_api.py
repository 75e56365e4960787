"""The authoring API: own conversations only, saves with a version (409 on a stale one)."""

import pytest
from rest_framework.test import APIClient

from conversations.models import ConversationState, DraftRequest
from labeling.services import member_token
from tests.conversations.factories import started_conversation
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def api_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {member_token(user=user)}")
    return client


def url(conversation, suffix=""):
    return f"/api/conversations/{conversation.pk}/{suffix}"


def body(conversation, answer, version):
    return {
        "version": version,
        "messages": [
            {"role": "user", "content": conversation.prompt.text},
            {"role": "assistant", "content": answer},
        ],
    }


def test_get_put_submit_round_trip_with_token_auth():
    conversation = started_conversation()
    api = api_for(conversation.labeler)
    listing = api.get("/api/conversations/").json()
    assert [c["id"] for c in listing["results"]] == [conversation.pk]
    detail = api.get(url(conversation)).json()
    assert detail["version"] == 1 and detail["messages"][1]["role"] == "assistant"

    saved = api.put(url(conversation), body(conversation, "An answer.", 1), format="json")
    assert saved.status_code == 200 and saved.json()["version"] == 2
    patched = api.patch(url(conversation), body(conversation, "A better answer.", 2), format="json")
    assert patched.json()["version"] == 3

    submitted = api.post(url(conversation, "submit/"), {"version": 3}, format="json")
    assert submitted.status_code == 200
    assert submitted.json()["state"] == ConversationState.SUBMITTED


def test_a_stale_version_gets_409_with_the_saved_text_and_nothing_is_lost():
    conversation = started_conversation()
    api = api_for(conversation.labeler)
    api.put(url(conversation), body(conversation, "Tab A's text", 1), format="json")
    stale = api.put(url(conversation), body(conversation, "Tab B's text", 1), format="json")
    assert stale.status_code == 409
    payload = stale.json()
    assert payload["error"]["code"] == "version_conflict"
    assert payload["current"]["version"] == 2
    assert payload["current"]["messages"][1]["content"] == "Tab A's text"
    assert api.get(url(conversation)).json()["messages"][1]["content"] == "Tab A's text"


def test_submit_with_a_blocking_check_is_400_and_lists_the_checks():
    conversation = started_conversation()
    response = api_for(conversation.labeler).post(
        url(conversation, "submit/"), {"version": 1}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "checks_failed"
    assert response.json()["checks"][0]["code"] == "empty_message"


def test_tokens_and_checks_endpoints_use_the_project_tokenizer():
    conversation = started_conversation()
    api = api_for(conversation.labeler)
    posted = {
        "messages": [
            {"role": "user", "content": "hello world"},
            {"role": "assistant", "content": "hi"},
        ]
    }
    tokens = api.post(url(conversation, "tokens/"), posted, format="json").json()
    # cl100k_base: "hello world" is 2 tokens, "hi" 1; chatml-sep adds 3 specials + role per message.
    assert tokens["per_message"] == [2, 1]
    assert tokens["total"] == (3 + 1 + 2) + (3 + 1 + 1)
    assert tokens["tokenizer"] == "cl100k_base"
    checks = api.get(url(conversation, "checks/")).json()
    assert checks["blocking"] is True
    assert checks["checks"][0]["position"] == 1


def test_a_text_over_every_limit_is_not_counted_and_the_answer_says_which_message():
    conversation = started_conversation()
    api = api_for(conversation.labeler)
    posted = {
        "messages": [
            {"role": "user", "content": "hello world"},
            {"role": "assistant", "content": "x" * 1_000_001},
        ]
    }
    tokens = api.post(url(conversation, "tokens/"), posted, format="json").json()
    assert tokens["total"] is None
    assert tokens["error"] == "message 2 is too long to count (over 1,000,000 characters)"


def test_posted_checks_count_an_ai_draft_as_the_save_will():
    conversation = started_conversation(draft="The imported draft.")
    draft = DraftRequest.objects.create(
        conversation=conversation,
        message_position=1,
        requested_by=conversation.labeler,
        status=DraftRequest.Status.SUCCEEDED,
        text="The model's answer.",
    )
    api = api_for(conversation.labeler)

    def codes(answer, **extra):
        posted = {
            "messages": [
                {"role": "user", "content": conversation.prompt.text},
                {"role": "assistant", "content": answer, **extra},
            ]
        }
        checks = api.post(url(conversation, "checks/"), posted, format="json").json()["checks"]
        return [check["code"] for check in checks]

    # The stored imported draft, then a requested one, each unedited; edited, no warning.
    assert "unedited_ai_draft" in codes("The imported draft.")
    assert "unedited_ai_draft" in codes("The model's answer.", draft_request=draft.pk)
    assert "unedited_ai_draft" not in codes("The model's answer, checked.", draft_request=draft.pk)


def test_draft_request_refused_when_not_configured_with_a_clear_message(settings):
    conversation = started_conversation()
    conversation.project.ai_drafts_enabled = True
    conversation.project.save()
    settings.AI_DRAFT_BASE_URL = ""
    response = api_for(conversation.labeler).post(
        url(conversation, "drafts/"), {"position": 1}, format="json"
    )
    assert response.status_code == 400
    assert "not configured" in response.json()["error"]["message"]


def test_another_persons_conversation_is_404_on_every_endpoint():
    conversation = started_conversation()
    api = api_for(UserFactory(roles=["labeler"]))
    assert api.get("/api/conversations/").json()["results"] == []
    assert api.get(url(conversation)).status_code == 404
    assert api.put(url(conversation), body(conversation, "x", 1), format="json").status_code == 404
    for suffix in ("submit/", "tokens/", "checks/", "drafts/"):
        assert (
            api.post(
                url(conversation, suffix), {"version": 1, "position": 1}, format="json"
            ).status_code
            == 404
        )
    assert api.get(url(conversation, "history/")).status_code == 404
