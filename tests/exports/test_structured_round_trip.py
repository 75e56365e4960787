"""Issue 10's round trip: a conversation with two parallel tool calls, their results and
reasoning goes import → edit on the review page → review edit through the API → approve →
export, and the JSONL row is byte for byte the imported row with both edits. Imported
again, the exported file exports to the same messages and tools."""

import copy
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.models import Conversation, ConversationState
from exports.services import export_config_from_dict, export_run
from tests.conversations.factories import reviewer_factory
from tests.conversations.test_review_api import SCORES
from tests.structured_turns.factories import TOOLS, agentic_messages, tool_project

pytestmark = pytest.mark.django_db


# Keys sorted, arguments as objects, the edits in, the row's provenance in metadata.
EXPECTED_ROW = (
    '{"id": "%d", "messages": [{"content": "Weather in Paris and Oslo?", "role": "user"}, '
    '{"content": "", "reasoning_content": "Two cities: two calls at once.", '
    '"role": "assistant", "tool_calls": [{"function": {"arguments": {"city": "Paris", '
    '"unit": "C"}, "name": "get_weather"}, "id": "call_1", "type": "function"}, '
    '{"function": {"arguments": {"city": "Bergen", "unit": "C"}, "name": "get_weather"}, '
    '"id": "call_2", "type": "function"}]}, {"content": "{\\"temp\\": 18}", "role": "tool", '
    '"tool_call_id": "call_1"}, {"content": "{\\"temp\\": 9}", "role": "tool", '
    '"tool_call_id": "call_2"}, {"content": "Paris is 18 °C and Oslo 9 °C.", '
    '"reasoning_content": "Both results are in.", "role": "assistant"}], "metadata": '
    '{"domain": null, "imported": true, "project": "agents-rt", "source_id": "w-1"}, '
    '"tools": %s}\n'
)


def imported_row() -> dict:
    """The export's shape: reasoning as reasoning_content, the project's tools on the row."""
    messages = copy.deepcopy(agentic_messages())
    for message in messages:
        if "reasoning" in message:
            message["reasoning_content"] = message.pop("reasoning")
    # OpenAI's files carry arguments as a JSON string; the export writes the object.
    messages[1]["tool_calls"][1]["function"]["arguments"] = '{"city": "Oslo", "unit": "C"}'
    return {"id": "w-1", "messages": messages, "tools": copy.deepcopy(TOOLS), "metadata": {}}


def export_rows(slug: str, out) -> list[bytes]:
    config = export_config_from_dict({"projects": [slug], "val_fraction": 0})
    export_run(config=config, destination=out)
    return (out / "train.jsonl").read_bytes().splitlines(keepends=True)


def test_import_edit_review_edit_export_is_byte_exact(client, tmp_path):
    project = tool_project(slug="agents-rt")
    source = tmp_path / "agentic.jsonl"
    source.write_text(json.dumps(imported_row(), ensure_ascii=False) + "\n", encoding="utf-8")
    call_command("import_conversations", str(source), "--project", project.slug)
    conversation = Conversation.objects.get(project=project)
    reviewer = reviewer_factory()

    # Edit on the review page: the first turn's reasoning.
    client.force_login(reviewer)
    edited = client.post(
        reverse("conversations:review-edit", args=[conversation.pk]),
        {
            "position": "1",
            "expected_version": str(conversation.version),
            "content": "",
            "reasoning": "Two cities: two calls at once.",
            "tool_calls": json.dumps(conversation.messages.get(position=1).tool_calls),
            "reason": "Say why two calls.",
        },
    )
    assert edited.status_code == 302
    # Review edit through the API: the second call's city.
    conversation.refresh_from_db()
    calls = conversation.messages.get(position=1).tool_calls
    calls[1]["function"]["arguments"]["city"] = "Bergen"
    api = APIClient()
    api.force_authenticate(reviewer)
    response = api.post(
        f"/api/conversations/{conversation.pk}/review-edits/",
        {
            "expected_version": conversation.version,
            "messages": [{"position": 1, "tool_calls": calls}],
            "reason": "The user meant Bergen.",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    approved = api.post(
        f"/api/conversations/{conversation.pk}/reviews/",
        {"decision": "approve", "scores": SCORES, "revision": 3},
        format="json",
    )
    assert approved.status_code == 201, approved.json()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.APPROVED

    [line] = export_rows(project.slug, tmp_path / "out")
    tools = json.dumps(TOOLS, ensure_ascii=False, sort_keys=True)
    assert line == (EXPECTED_ROW % (conversation.pk, tools)).encode()

    # The exported file imports as it is, and exports to the same messages and tools.
    again = tool_project(name="Agents again", slug="agents-rt-again")
    call_command(
        "import_conversations", str(tmp_path / "out" / "train.jsonl"), "--project", again.slug
    )
    Conversation.objects.filter(project=again).update(state=ConversationState.APPROVED)
    [second] = export_rows(again.slug, tmp_path / "again")
    first_row, second_row = json.loads(line), json.loads(second)
    assert second_row["messages"] == first_row["messages"]
    assert second_row["tools"] == first_row["tools"]
