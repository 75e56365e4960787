"""Importing structured turns (messages JSONL in the export's and OpenAI's shape): every
contract-6 rule per line, bad lines named, nothing imported when any line is bad."""

import copy
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from conversations.services import ConversationImportError, conversations_import
from tests.structured_turns.factories import (
    SEARCH,
    TOOLS,
    WEATHER,
    agentic_messages,
    call,
    tool_project,
)

pytestmark = pytest.mark.django_db


def export_row(row_id="conv-1", reasoning_key="reasoning_content"):
    """A row as the export writes it: reasoning as reasoning_content, the tools on the row."""
    messages = []
    for message in agentic_messages():
        message = copy.deepcopy(message)
        if "reasoning" in message:
            message[reasoning_key] = message.pop("reasoning")
        messages.append(message)
    return {"id": row_id, "messages": messages, "tools": copy.deepcopy(TOOLS), "metadata": {}}


def jsonl(*rows) -> io.BytesIO:
    return io.BytesIO("\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode())


def refused(project, *rows) -> list[str]:
    with pytest.raises(ConversationImportError) as caught:
        conversations_import(project=project, stream=jsonl(*rows), file_name="x.jsonl")
    assert not Conversation.objects.filter(project=project).exists()
    assert not Message.objects.filter(conversation__project=project).exists()
    return caught.value.errors


def test_round_trip_of_two_parallel_calls_their_results_and_reasoning():
    project = tool_project()
    row = export_row()
    # OpenAI's fine-tuning files carry the arguments as a JSON string.
    openai_style = copy.deepcopy(row)
    openai_style["id"] = "conv-2"
    for tool_call in openai_style["messages"][1]["tool_calls"]:
        tool_call["function"]["arguments"] = json.dumps(tool_call["function"]["arguments"])
    openai_style["messages"][1]["content"] = None
    thinking = export_row("conv-3", reasoning_key="thinking")

    result = conversations_import(
        project=project, stream=jsonl(row, openai_style, thinking), file_name="agentic.jsonl"
    )

    assert result.imported == 3
    for conversation in Conversation.objects.filter(project=project):
        snapshot = conversation.current_revision.messages
        back = []
        for message in snapshot:
            out = {"role": message["role"], "content": message["content"]}
            if "reasoning" in message:
                out["reasoning_content"] = message["reasoning"]
            for key in ("tool_calls", "tool_call_id"):
                if key in message:
                    out[key] = message[key]
            back.append(out)
        assert back == row["messages"]
        stored = list(conversation.messages.order_by("position"))
        assert stored[1].tool_calls == row["messages"][1]["tool_calls"]
        assert stored[1].reasoning == "I need the weather for both cities."
        assert [m.tool_call_id for m in stored[2:4]] == ["call_1", "call_2"]


def test_a_model_written_message_keeps_its_parts_as_the_models_original():
    project = tool_project()
    row = export_row()
    row["messages"][1]["origin"] = "model"
    conversations_import(project=project, stream=jsonl(row), file_name="x.jsonl")
    message = Message.objects.get(conversation__project=project, position=1)
    assert message.model_original_tool_calls == message.tool_calls
    assert message.model_original_reasoning == message.reasoning


# Issue 10's bad input, each from the command line: the line, the field and nothing imported.
@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (
            lambda r: r["messages"][1]["tool_calls"][0]["function"]["arguments"].update(unit="K"),
            "line 4: messages[1].tool_calls[0].function.arguments.unit: get_weather call "
            "\"call_1\": 'K' is not one of ['C', 'F']",
        ),
        (
            lambda r: r["messages"][1]["tool_calls"][0]["function"].update(arguments="{city:"),
            "line 4: messages[1].tool_calls[0].function.arguments: not valid JSON",
        ),
        (
            lambda r: r["tools"].append({"type": "function", "function": {"description": "?"}}),
            "line 4: tools[2].function: 'name' is a required property",
        ),
        (
            lambda r: r["messages"][3].update(tool_call_id="call_9"),
            'line 4: messages[3].tool_call_id: tool_call_id "call_9" answers no call',
        ),
        (
            lambda r: r["messages"][1].update(
                tool_calls=[call(f"c{i}", "search", {"query": "x"}) for i in range(10_000)]
            ),
            "line 4: messages[1].tool_calls: 10000 tool calls; at most 32 in one message",
        ),
        (
            lambda r: r["messages"][2].update(content="x" * 5_000_000),
            "line 4: messages[2].content: a tool result of 5000000 bytes; at most 1000000",
        ),
    ],
)
def test_the_cli_names_the_bad_line_and_field_and_imports_nothing(tmp_path, mutate, error):
    project = tool_project()
    rows = [export_row(f"conv-{n}") for n in range(1, 5)]
    mutate(rows[3])
    path = tmp_path / "agentic.jsonl"
    path.write_bytes(jsonl(*rows).getvalue())
    with pytest.raises(CommandError) as caught:
        call_command("import_conversations", str(path), "--project", project.slug)
    assert str(caught.value).startswith(f"Nothing was imported from agentic.jsonl:\n{error}")
    assert not Conversation.objects.filter(project=project).exists()


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (
            lambda r: r["messages"][1]["tool_calls"][0]["function"].update(
                arguments="{city: Paris}"
            ),
            "line 2: messages[1].tool_calls[0].function.arguments: not valid JSON",
        ),
        (
            lambda r: r["messages"][3].update(tool_call_id="call_9"),
            'line 2: messages[3].tool_call_id: tool_call_id "call_9" answers no call',
        ),
        (
            lambda r: r["messages"][1].update(
                tool_calls=[call(f"c{i}", "search", {"query": "x"}) for i in range(10_000)]
            ),
            "line 2: messages[1].tool_calls: 10000 tool calls; at most 32 in one message",
        ),
        (
            lambda r: r["messages"][2].update(content="x" * 5_000_000),
            "line 2: messages[2].content: a tool result of 5000000 bytes; at most 1000000",
        ),
        (
            lambda r: r["messages"][1]["tool_calls"][1]["function"].update(name="calculator"),
            'line 2: messages[1].tool_calls[1].function.name: call "call_2" names "calculator"',
        ),
        (
            lambda r: r["messages"][1]["tool_calls"][1].update(id="call_1"),
            'line 2: messages[1].tool_calls[1].id: call id "call_1" is already used',
        ),
        (
            lambda r: r["messages"].pop(3),
            'line 2: messages[1].tool_calls[1]: call "call_2" has no tool result',
        ),
        (
            lambda r: r["messages"][1].update(thinking="twice"),
            "line 2: messages[1].thinking: give the reasoning once (also in reasoning_content)",
        ),
        (
            lambda r: r["messages"][0].update(tool_call_id="call_1"),
            "line 2: messages[0].tool_call_id: only a tool message answers a call",
        ),
        (
            lambda r: r["tools"].append({"type": "function", "function": {"name": "calculator"}}),
            'line 2: tools[2]: "calculator" is not a tool project',
        ),
        (
            lambda r: r["tools"][0]["function"].update(description="Other words."),
            'line 2: tools[0]: "get_weather" differs from the project\'s declaration',
        ),
        (
            lambda r: r["messages"][4].update(content=""),
            'line 2: field "messages[4].content": empty content',
        ),
    ],
)
def test_every_bad_input_is_named_and_nothing_is_imported(mutate, error):
    project = tool_project()
    row = export_row()
    mutate(row)
    errors = refused(project, export_row("fine"), row)
    assert errors == [errors[0]] and errors[0].startswith(error), errors


def test_reasoning_required_by_the_project_is_checked_per_line():
    project = tool_project(reasoning_mode="required")
    row = export_row()
    del row["messages"][4]["reasoning_content"]
    assert refused(project, row) == [
        "line 1: messages[4].reasoning: this project requires the reasoning before every "
        "assistant reply"
    ]


def test_rows_without_tools_use_the_projects_declaration():
    project = tool_project(tools=[WEATHER, SEARCH])
    row = export_row()
    del row["tools"]
    assert conversations_import(project=project, stream=jsonl(row), file_name="x").imported == 1


def test_the_api_imports_a_file_and_names_every_bad_line(admin_user):
    project = tool_project()
    client = APIClient()
    client.force_authenticate(admin_user)
    endpoint = f"/api/projects/{project.slug}/conversations/import/"
    bad = export_row("conv-2")
    bad["messages"][3]["tool_call_id"] = "call_7"
    upload = SimpleUploadedFile("agentic.jsonl", jsonl(export_row(), bad).getvalue())
    refused = client.post(endpoint, {"file": upload}, format="multipart")
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        'line 2: messages[3].tool_call_id: tool_call_id "call_7" answers no call of the '
        "assistant message before it"
    ]
    assert not Conversation.objects.filter(project=project).exists()

    good = SimpleUploadedFile("agentic.jsonl", jsonl(export_row()).getvalue())
    created = client.post(endpoint, {"file": good, "state": "approved"}, format="multipart")
    assert created.status_code == 201 and created.json()["imported"] == 1
    conversation = Conversation.objects.get(project=project)
    assert conversation.state == "approved"
    assert conversation.messages.get(position=1).tool_calls[0]["id"] == "call_1"


def test_the_import_api_needs_the_admin_role(labeler):
    project = tool_project()
    client = APIClient()
    client.force_authenticate(labeler)
    response = client.post(f"/api/projects/{project.slug}/conversations/import/", {})
    assert response.status_code == 403


def test_the_browser_page_lists_the_bad_lines_then_imports_a_good_file(client, admin_user):
    project = tool_project()
    client.force_login(admin_user)
    page = reverse("conversations:conversation-import", args=[project.slug])
    detail = client.get(
        reverse("conversations:project-detail", args=[project.slug])
    ).content.decode()
    assert page in detail
    bad = export_row()
    bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = "{city: Paris}"
    upload = SimpleUploadedFile("agentic.jsonl", jsonl(bad).getvalue())
    refused = client.post(page, {"file": upload, "format": "messages", "state": "submitted"})
    assert refused.status_code == 200
    html = refused.content.decode()
    assert "Nothing was imported" in html
    assert "line 1: messages[1].tool_calls[0].function.arguments: not valid JSON" in html
    assert not Conversation.objects.filter(project=project).exists()

    good = SimpleUploadedFile("agentic.jsonl", jsonl(export_row()).getvalue())
    imported = client.post(page, {"file": good, "format": "messages", "state": "submitted"})
    assert imported.status_code == 302
    assert Conversation.objects.filter(project=project).count() == 1


def test_the_browser_page_answers_413_with_the_limit_for_a_file_over_it(
    client, admin_user, settings
):
    project = tool_project()
    client.force_login(admin_user)
    settings.UPLOAD_MAX_BYTES = 100
    upload = SimpleUploadedFile("agentic.jsonl", jsonl(export_row()).getvalue())
    response = client.post(
        reverse("conversations:conversation-import", args=[project.slug]),
        {"file": upload, "format": "messages", "state": "submitted"},
    )
    assert response.status_code == 413
    assert "larger than the upload limit of 100\xa0bytes" in response.content.decode()
    assert not Conversation.objects.filter(project=project).exists()


def test_the_browser_page_is_for_admins(client, labeler):
    project = tool_project()
    client.force_login(labeler)
    page = reverse("conversations:conversation-import", args=[project.slug])
    assert client.get(page).status_code in (403, 404)
