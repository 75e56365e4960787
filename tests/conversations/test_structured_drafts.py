"""AI drafts with tools: the project's tools go to a real OpenAI-compatible server on
loopback; its reasoning_content and tool_calls come back as the model's original."""

import pytest
from django.urls import reverse

from conversations.models import DraftRequest, Message, MessageOrigin
from conversations.services import conversation_save
from conversations.services.drafts import draft_request_create, draft_request_run
from tests.chat_server import point_settings_at_server
from tests.conversations.factories import reviewer_factory, started_conversation
from tests.conversations.test_editor_api import api_for, url
from tests.labeling.factories import ProjectFactory
from tests.structured_turns.factories import TOOLS


def drafting_project(tools=TOOLS):
    return ProjectFactory(
        domains=["python"], ai_drafts_enabled=True, tools=tools, reasoning_mode="optional"
    )


pytestmark = pytest.mark.django_db


def drafted(settings, question):
    server = point_settings_at_server(settings)
    conversation = started_conversation(project=drafting_project(), text=question)
    request = draft_request_create(
        conversation_id=conversation.pk, user=conversation.labeler, message_position=1
    )
    return conversation, draft_request_run(draft_request_id=request.pk), server


def test_the_tools_go_to_the_endpoint_and_the_calls_and_reasoning_come_back(settings):
    conversation, draft, server = drafted(settings, "CALL the search for pandas")
    assert server.received[-1]["tools"] == TOOLS
    assert draft.status == DraftRequest.Status.SUCCEEDED, draft.error
    assert draft.text == ""
    assert draft.reasoning == "I should call get_weather first."
    # OpenAI sends arguments as a JSON string; the draft keeps the object.
    assert draft.tool_calls == [
        {
            "id": "call_loopback_1",
            "type": "function",
            "function": {
                "name": "get_weather",
                "arguments": {"query": "CALL the search for pandas"},
            },
        }
    ]

    # The labeler takes the draft, then corrects the arguments like any draft.
    taken = [
        {"role": "user", "content": "CALL the search for pandas"},
        {
            "role": "assistant",
            "content": "",
            "reasoning": draft.reasoning,
            "tool_calls": draft.tool_calls,
            "draft_request": draft.pk,
        },
    ]
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=1,
        messages=taken,
    )
    message = Message.objects.get(conversation=conversation, position=1)
    assert message.origin == MessageOrigin.MODEL
    assert message.model_original_tool_calls == draft.tool_calls
    assert message.model_original_reasoning == draft.reasoning

    corrected = [dict(m) for m in taken]
    corrected[1]["tool_calls"] = [
        {**draft.tool_calls[0], "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    ]
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=2,
        messages=corrected,
    )
    message.refresh_from_db()
    assert message.origin == MessageOrigin.MODEL_EDITED
    assert message.model_original_tool_calls == draft.tool_calls
    assert message.tool_calls[0]["function"]["arguments"] == {"city": "Oslo"}


def test_arguments_that_are_not_json_fail_the_draft_with_a_clear_error(settings):
    _, draft, _ = drafted(settings, "BADARGS please")
    assert draft.status == DraftRequest.Status.FAILED
    assert draft.error.startswith(
        "The AI endpoint's tool calls are malformed: "
        "choices[0].message.tool_calls[0].function.arguments: not valid JSON"
    )
    assert draft.tool_calls == [] and draft.reasoning == ""


def test_a_project_without_tools_sends_none(settings):
    server = point_settings_at_server(settings)
    conversation = started_conversation(project=drafting_project(tools=[]), text="Plain question")
    request = draft_request_create(
        conversation_id=conversation.pk, user=conversation.labeler, message_position=1
    )
    draft = draft_request_run(draft_request_id=request.pk)
    assert "tools" not in server.received[-1]
    assert draft.text == "Draft answer to: Plain question" and draft.tool_calls == []


def test_the_review_page_diffs_the_corrected_calls_and_reasoning_against_the_draft(
    settings, client
):
    conversation, draft, _ = drafted(settings, "CALL the search for pandas")
    corrected_call = {
        **draft.tool_calls[0],
        "function": {"name": "get_weather", "arguments": {"city": "Oslo"}},
    }
    messages = [
        {"role": "user", "content": "CALL the search for pandas"},
        {
            "role": "assistant",
            "content": "",
            "reasoning": "I should call get_weather for Oslo.",
            "tool_calls": [corrected_call],
            "draft_request": draft.pk,
        },
        {"role": "tool", "tool_call_id": "call_loopback_1", "content": '{"temp": 9}'},
        {"role": "assistant", "content": "It is 9 °C in Oslo."},
    ]
    labeler = api_for(conversation.labeler)
    saved = labeler.put(url(conversation), {"version": 1, "messages": messages}, format="json")
    assert saved.status_code == 200, saved.json()
    submitted = labeler.post(url(conversation, "submit/"), {"version": 2}, format="json")
    assert submitted.status_code == 200, submitted.json()

    # The reviewer sees what the labeler changed in the model's calls and reasoning.
    client.force_login(reviewer_factory())
    page = client.get(reverse("conversations:review", args=[conversation.pk])).content.decode()

    def diff(part):
        start = page.index(f'data-testid="draft-diff-1-{part}">')
        return page[start : page.index("</div>", start)]

    calls = diff("tool_calls")
    assert "<del>&quot;query&quot;:" in calls and "<ins>&quot;city&quot;:" in calls
    assert diff("reasoning").endswith("get_weather <del>first.</del><ins>for Oslo.</ins>")
