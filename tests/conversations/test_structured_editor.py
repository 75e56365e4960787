"""Structured turns in the editor API: save, 409, live checks, submit, history; bad input
refused with its path and nothing saved."""

import copy
import json

import pytest
from django.urls import reverse

from conversations.models import Revision
from tests.conversations.factories import started_conversation
from tests.conversations.test_editor_api import api_for, url
from tests.structured_turns.factories import agentic_messages, call, tool_project

pytestmark = pytest.mark.django_db


def agentic_conversation(**project_fields):
    conversation = started_conversation(project=tool_project(**project_fields))
    messages = agentic_messages(conversation.prompt.text)
    return conversation, messages


def stored(conversation):
    return [
        (m.role, m.content, m.reasoning, m.tool_calls, m.tool_call_id)
        for m in conversation.messages.order_by("position")
    ]


def test_save_stores_every_part_and_get_returns_them():
    conversation, messages = agentic_conversation()
    # OpenAI's files carry arguments as a JSON string; they are stored as the object.
    messages[1]["tool_calls"][1]["function"]["arguments"] = '{"city": "Oslo", "unit": "C"}'
    messages[1]["content"] = None
    api = api_for(conversation.labeler)
    saved = api.put(url(conversation), {"version": 1, "messages": messages}, format="json")
    assert saved.status_code == 200, saved.json()
    detail = api.get(url(conversation)).json()
    assert detail["version"] == 2
    assistant = detail["messages"][1]
    assert assistant["content"] == ""
    assert assistant["reasoning"] == "I need the weather for both cities."
    assert assistant["tool_calls"][1] == call(
        "call_2", "get_weather", {"city": "Oslo", "unit": "C"}
    )
    assert [m["tool_call_id"] for m in detail["messages"][2:4]] == ["call_1", "call_2"]
    assert detail["messages"][4]["reasoning"] == "Both results are in."


def test_a_stale_save_gets_409_with_the_saved_parts_and_overwrites_nothing():
    conversation, messages = agentic_conversation()
    api = api_for(conversation.labeler)
    api.put(url(conversation), {"version": 1, "messages": messages}, format="json")
    other_tab = copy.deepcopy(messages)
    other_tab[1]["tool_calls"][0]["function"]["arguments"]["unit"] = "F"
    stale = api.put(url(conversation), {"version": 1, "messages": other_tab}, format="json")
    assert stale.status_code == 409
    current = stale.json()["current"]
    assert current["version"] == 2
    assert current["messages"][1]["tool_calls"][0]["function"]["arguments"]["unit"] == "C"
    conversation.refresh_from_db()
    assert conversation.version == 2
    assert stored(conversation)[1][3][0]["function"]["arguments"]["unit"] == "C"


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (
            lambda m: m[1]["tool_calls"][0]["function"].update(arguments='{"city": "Paris"'),
            "messages[1].tool_calls[0].function.arguments: not valid JSON",
        ),
        (
            lambda m: m[1].update(
                tool_calls=[call(f"c{i}", "search", {"query": "x"}) for i in range(10_000)]
            ),
            "messages[1].tool_calls: 10000 tool calls; at most 32",
        ),
        (
            lambda m: m[2].update(content="x" * 5_000_000),
            "messages[2].content: a tool result of 5000000 bytes",
        ),
        (lambda m: m[0].update(reasoning="why"), "messages[0].reasoning: only an assistant"),
        (
            lambda m: m[1]["tool_calls"][0].pop("id"),
            "messages[1].tool_calls[0]: 'id' is a required property",
        ),
    ],
)
def test_bad_parts_are_refused_with_their_path_and_nothing_is_saved(mutate, where):
    conversation, messages = agentic_conversation()
    before = stored(conversation)
    mutate(messages)
    response = api_for(conversation.labeler).put(
        url(conversation), {"version": 1, "messages": messages}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(where)
    conversation.refresh_from_db()
    assert conversation.version == 1 and stored(conversation) == before


def test_a_work_in_progress_call_saves_and_the_checks_say_what_is_missing():
    conversation, messages = agentic_conversation(reasoning_mode="required")
    messages[1]["tool_calls"][0]["function"]["arguments"] = {"city": "Paris", "unit": "K"}
    messages[1]["tool_calls"][1]["function"]["name"] = "calculator"
    messages[3]["tool_call_id"] = "call_9"
    messages[4]["reasoning"] = ""
    api = api_for(conversation.labeler)
    assert (
        api.put(url(conversation), {"version": 1, "messages": messages}, format="json").status_code
        == 200
    )
    live = api.post(url(conversation, "checks/"), {"messages": messages}, format="json").json()
    saved = api.get(url(conversation, "checks/")).json()
    assert live["checks"] == saved["checks"]
    blocking = {
        (c["code"], c["position"], c["part"], c["call_id"])
        for c in live["checks"]
        if c["severity"] == "blocking"
    }
    assert blocking == {
        ("invalid_arguments", 1, "tool_call", "call_1"),
        ("unknown_tool", 1, "tool_call", "call_2"),
        ("unanswered_call", 1, "tool_call", "call_2"),
        ("result_without_call", 3, "result", "call_9"),
        ("reasoning_missing", 4, "reasoning", ""),
    }
    invalid = next(c for c in live["checks"] if c["code"] == "invalid_arguments")
    assert invalid["path"] == "messages[1].tool_calls[0].function.arguments.unit"
    assert "get_weather" in invalid["message"] and "call_1" in invalid["message"]

    refused = api.post(url(conversation, "submit/"), {"version": 2}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "checks_failed"
    assert {c["code"] for c in refused.json()["checks"] if c["severity"] == "blocking"} == {
        code for code, *_ in blocking
    }
    assert not Revision.objects.filter(conversation=conversation).exists()


def test_an_assistant_turn_with_only_calls_is_not_empty_but_one_with_nothing_is():
    conversation, messages = agentic_conversation()
    messages.append({"role": "user", "content": "And Rome?"})
    messages.append({"role": "assistant", "content": ""})
    api = api_for(conversation.labeler)
    checks = api.post(url(conversation, "checks/"), {"messages": messages}, format="json").json()
    empty = [(c["code"], c["position"]) for c in checks["checks"] if c["code"] == "empty_message"]
    assert empty == [("empty_message", 6)]


def test_submit_snapshots_the_parts_and_history_carries_them():
    conversation, messages = agentic_conversation()
    api = api_for(conversation.labeler)
    api.put(url(conversation), {"version": 1, "messages": messages}, format="json")
    assert api.post(url(conversation, "submit/"), {"version": 2}, format="json").status_code == 200
    revision = Revision.objects.get(conversation=conversation)
    snapshot = revision.messages
    assert "tool_calls" not in snapshot[0] and "reasoning" not in snapshot[0]
    assert snapshot[1]["tool_calls"] == messages[1]["tool_calls"]
    assert snapshot[1]["reasoning"] == messages[1]["reasoning"]
    assert snapshot[2]["tool_call_id"] == "call_1"
    history = api.get(url(conversation, "history/")).json()
    shown = history["timeline"][0]["messages"]
    assert shown[1]["tool_calls"] == messages[1]["tool_calls"]
    assert shown[0]["tool_calls"] == [] and shown[0]["reasoning"] == ""


def test_history_reads_snapshots_from_before_structured_turns_with_defaults():
    conversation, messages = agentic_conversation()
    api = api_for(conversation.labeler)
    api.put(
        url(conversation),
        {"version": 1, "messages": messages[:1] + [{"role": "assistant", "content": "Hi"}]},
        format="json",
    )
    api.post(url(conversation, "submit/"), {"version": 2}, format="json")
    Revision.objects.filter(conversation=conversation).update(
        messages=[{"role": "user", "content": "Q", "origin": "human", "model_original": ""}]
    )
    shown = api.get(url(conversation, "history/")).json()["timeline"][0]["messages"][0]
    assert shown["tool_calls"] == [] and shown["tool_call_id"] == "" and shown["reasoning"] == ""


def test_the_editor_page_keeps_the_parts_and_its_live_checks_read_them(client):
    conversation, messages = agentic_conversation()
    api_for(conversation.labeler).put(
        url(conversation), {"version": 1, "messages": messages}, format="json"
    )
    client.force_login(conversation.labeler)
    page = client.get(reverse("conversations:editor", args=[conversation.pk])).content.decode()
    # Each card carries its parts, so the page's saves send them back unchanged.
    assert "&quot;tool_call_id&quot;: &quot;call_1&quot;" in page
    assert "&quot;reasoning&quot;: &quot;I need the weather for both cities.&quot;" in page

    def part(message):
        return json.dumps(
            {k: message[k] for k in ("reasoning", "tool_calls", "tool_call_id") if k in message}
        )

    messages[3]["tool_call_id"] = "call_9"
    response = client.post(
        reverse("conversations:editor-checks", args=[conversation.pk]),
        {
            "role": [m["role"] for m in messages],
            "content": [m["content"] for m in messages],
            "parts": [part(m) for m in messages],
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert 'data-code="result_without_call"' in html
    assert 'data-code="unanswered_call"' in html
