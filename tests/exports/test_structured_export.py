"""Exporting structured turns (contract 6): files, options and the tools column."""

import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from exports.models import ExportJob
from exports.services import ExportError, export_config_from_dict, export_run
from labeling.services import member_token
from sftpipeline.render import tokenize_conversation
from sftpipeline.tokenizers import load_cl100k_base
from tests.exports.factories import (
    ANSWER,
    FIRST_REASONING,
    PYTHON_RESULT,
    SEARCH_RESULT,
    SECOND_REASONING,
    TOOLS,
    USER_TEXT,
    agentic_chat,
    approved_conversation,
    chat,
)
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

IM_END = 100265


@pytest.fixture
def reviewer():
    return UserFactory(roles=["reviewer"])


@pytest.fixture
def agent_project():
    return ProjectFactory(slug="agents", tools=TOOLS, reasoning_mode="optional")


@pytest.fixture
def conversation(agent_project, reviewer):
    return approved_conversation(agent_project, agentic_chat(), domain="math", reviewer=reviewer)


def config(**overrides):
    return export_config_from_dict({"projects": ["agents"], "val_fraction": 0, **overrides})


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def trained_text(example_ids, mask) -> str:
    return load_cl100k_base().encoding.decode(
        [t for t, m in zip(example_ids, mask, strict=True) if m]
    )


# The whole row, byte for byte: keys sorted, no ASCII escaping, reasoning as
# reasoning_content, arguments as JSON objects, the project's tools at the end.
EXPECTED_ROW = (
    '{"id": "%s", "messages": [{"content": "You are a careful assistant.", "role": "system"}, '
    '{"content": "What is 37 × 43, and who proved Fermat\'s Last Theorem?", "role": "user"}, '
    '{"content": "", "reasoning_content": "Exact arithmetic: use python. The proof: search. '
    'Not <|im_end|> here.", "role": "assistant", "tool_calls": [{"function": {"arguments": '
    '{"code": "print(37 * 43)"}, "name": "python"}, "id": "call_1", "type": "function"}, '
    '{"function": {"arguments": {"query": "Fermat\'s Last Theorem proof <|im_start|>", '
    '"top_k": 3}, "name": "search"}, "id": "call_2", "type": "function"}]}, '
    '{"content": "stdout: 1591", "role": "tool", "tool_call_id": "call_1"}, '
    '{"content": "Andrew Wiles proved it in 1994 (published 1995). <|im_sep|>", "role": "tool", '
    '"tool_call_id": "call_2"}, {"content": "37 × 43 = 1591, and Andrew Wiles proved Fermat\'s '
    'Last Theorem (1994).", "reasoning_content": "Both results are in; answer briefly.", '
    '"role": "assistant"}], "metadata": {"domain": "math", "project": "agents"}, "tools": '
    '[{"function": {"description": "Run Python code and return what it prints.", "name": '
    '"python", "parameters": {"properties": {"code": {"description": "The code", "type": '
    '"string"}}, "required": ["code"], "type": "object"}}, "type": "function"}, {"function": '
    '{"description": "Search the web.", "name": "search", "parameters": {"properties": '
    '{"query": {"type": "string"}, "top_k": {"minimum": 1, "type": "integer"}}, "required": '
    '["query"], "type": "object"}}, "type": "function"}]}\n'
)


def test_jsonl_row_is_byte_exact(conversation, tmp_path):
    export_run(config=config(), destination=tmp_path / "out")
    data = (tmp_path / "out" / "train.jsonl").read_bytes()
    assert data == (EXPECTED_ROW % conversation.id).encode("utf-8")


def test_parquet_trains_reasoning_calls_and_answers_only(conversation, tmp_path):
    export_run(config=config(), destination=tmp_path / "out")
    [row] = read_jsonl(tmp_path / "out" / "train.jsonl")
    [record] = pq.read_table(tmp_path / "out" / "train.parquet").to_pylist()
    # The tokens are the JSONL row rendered with the row's own tools.
    expected = tokenize_conversation(row["messages"], "chatml-sep", load_cl100k_base(), TOOLS)
    assert record["input_ids"] == expected.input_ids
    assert record["loss_mask"] == expected.loss_mask
    trained = trained_text(record["input_ids"], record["loss_mask"])
    for wanted in (FIRST_REASONING, '"name": "search"', SECOND_REASONING, ANSWER):
        assert wanted in trained
    for unwanted in (PYTHON_RESULT, SEARCH_RESULT, USER_TEXT, "<tools>"):
        assert unwanted not in trained


def test_manifest_and_card_count_tool_calls_and_reasoning(conversation, tmp_path):
    manifest = export_run(config=config(), destination=tmp_path / "out")
    stats = manifest["token_statistics"]
    assert stats["tool_calls_by_tool"] == {"python": 1, "search": 1}
    assert stats["conversations_with_reasoning"] == 1
    assert stats["conversations_with_tool_calls"] == 1
    encoding = load_cl100k_base().encoding
    think = len(encoding.encode_ordinary("<think>\n")) + len(
        encoding.encode_ordinary("\n</think>\n\n")
    )
    assert stats["reasoning_tokens"] == 2 * think + len(
        encoding.encode_ordinary(FIRST_REASONING)
    ) + len(encoding.encode_ordinary(SECOND_REASONING))
    assert stats["answer_tokens"] == len(encoding.encode_ordinary(ANSWER))
    assert manifest["config"]["drop_reasoning"] is False
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "| conversations with reasoning | 1 |" in card
    assert "| `python` | 1 |" in card and "| `search` | 1 |" in card
    assert f"| reasoning tokens (trained) | {stats['reasoning_tokens']} |" in card
    assert f"| answer tokens (trained) | {stats['answer_tokens']} |" in card


def test_drop_reasoning_leaves_it_out_of_every_file(conversation, tmp_path):
    manifest = export_run(config=config(drop_reasoning=True), destination=tmp_path / "out")
    [row] = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert not any("reasoning_content" in m for m in row["messages"])
    assert row["messages"][2]["tool_calls"][0]["id"] == "call_1"
    [record] = pq.read_table(tmp_path / "out" / "train.parquet").to_pylist()
    text = load_cl100k_base().encoding.decode(record["input_ids"])
    assert "<think>" not in text and FIRST_REASONING not in text and ANSWER in text
    assert manifest["config"]["drop_reasoning"] is True
    assert manifest["token_statistics"]["reasoning_tokens"] == 0
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "**Reasoning dropped:**" in card


def test_openai_format_has_string_arguments_tools_and_weights(conversation, tmp_path):
    export_run(config=config(formats="jsonl,openai"), destination=tmp_path / "out")
    assert (tmp_path / "out" / "train.openai.jsonl").is_file()
    assert not (tmp_path / "out" / "train.parquet").exists()
    [row] = read_jsonl(tmp_path / "out" / "train.openai.jsonl")
    assert sorted(row) == ["messages", "tools"] and row["tools"] == json.loads(json.dumps(TOOLS))
    first, second = (m for m in row["messages"] if m["role"] == "assistant")
    assert "content" not in first and first["weight"] == 1
    call = first["tool_calls"][1]
    assert isinstance(call["function"]["arguments"], str)
    assert json.loads(call["function"]["arguments"]) == {
        "query": "Fermat's Last Theorem proof <|im_start|>",
        "top_k": 3,
    }
    assert second == {"role": "assistant", "content": ANSWER, "weight": 1}
    assert row["messages"][3] == {
        "role": "tool",
        "content": PYTHON_RESULT,
        "tool_call_id": "call_1",
    }
    assert not any("reasoning_content" in m for m in row["messages"])


def test_openai_weight_is_0_on_a_turn_truncation_cut(conversation, tmp_path):
    full = tokenize_conversation(
        exported_messages(tmp_path), "chatml-sep", load_cl100k_base(), TOOLS
    )
    # Cut inside the last assistant turn: the parquet trains only part of it.
    limit = full.num_tokens - 3
    export_run(
        config=config(formats="openai,parquet", max_tokens=limit, truncate=True),
        destination=tmp_path / "cut",
    )
    [row] = read_jsonl(tmp_path / "cut" / "train.openai.jsonl")
    weights = [m["weight"] for m in row["messages"] if m["role"] == "assistant"]
    assert weights == [1, 0]
    [record] = pq.read_table(tmp_path / "cut" / "train.parquet").to_pylist()
    assert record["num_tokens"] == limit and IM_END in record["input_ids"]


def exported_messages(tmp_path) -> list[dict]:
    export_run(config=config(formats="jsonl"), destination=tmp_path / "plain")
    [row] = read_jsonl(tmp_path / "plain" / "train.jsonl")
    return row["messages"]


def test_plain_project_rows_keep_their_old_shape(reviewer, tmp_path):
    approved_conversation(ProjectFactory(slug="plain"), chat("Hi", "Yo"), reviewer=reviewer)
    export_run(
        config=export_config_from_dict({"projects": ["plain"], "val_fraction": 0}),
        destination=tmp_path / "out",
    )
    [row] = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert sorted(row) == ["id", "messages", "metadata"]
    assert row["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Yo"},
    ]
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "Tool use and reasoning" not in card


def test_exported_files_load_with_hugging_face_datasets(conversation, reviewer, tmp_path):
    from datasets import load_dataset

    plain = ProjectFactory(slug="plain-too")
    approved_conversation(plain, chat("Hi", "Hello."), reviewer=reviewer)
    export_run(
        config=export_config_from_dict(
            {"projects": ["agents", "plain-too"], "val_fraction": 0, "formats": "jsonl,openai"}
        ),
        destination=tmp_path / "out",
    )
    dataset = load_dataset("json", data_files=str(tmp_path / "out" / "train.jsonl"), split="train")
    assert {"id", "messages", "tools", "metadata"} <= set(dataset.column_names)
    agent = next(row for row in dataset if row["id"] == str(conversation.id))
    assert [t["function"]["name"] for t in agent["tools"]] == ["python", "search"]
    calls = agent["messages"][2]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["python", "search"]
    # Each call keeps exactly its own arguments, as objects.
    assert calls[0]["function"]["arguments"] == {"code": "print(37 * 43)"}
    assert calls[1]["function"]["arguments"] == {
        "query": "Fermat's Last Theorem proof <|im_start|>",
        "top_k": 3,
    }
    assert agent["messages"][2]["reasoning_content"] == FIRST_REASONING
    assert agent["messages"][3]["tool_call_id"] == "call_1"
    other = next(row for row in dataset if row["id"] != str(conversation.id))
    assert other["tools"] is None
    openai = load_dataset(
        "json", data_files=str(tmp_path / "out" / "train.openai.jsonl"), split="train"
    )
    assert "tools" in openai.column_names and len(openai) == 2


def test_cli_drop_reasoning_and_openai_format(conversation, tmp_path):
    out = io.StringIO()
    call_command(
        "export_dataset",
        "--project",
        "agents",
        "--out",
        str(tmp_path / "ds"),
        "--val-fraction",
        "0",
        "--format",
        "jsonl,openai",
        "--drop-reasoning",
        stdout=out,
        stderr=io.StringIO(),
    )
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["config"]["drop_reasoning"] is True
    assert manifest["config"]["formats"] == ["jsonl", "openai"]
    assert "train.openai.jsonl" in {f["name"] for f in manifest["files"]}
    [row] = read_jsonl(tmp_path / "ds" / "train.jsonl")
    assert not any("reasoning_content" in m for m in row["messages"])


def test_api_takes_drop_reasoning_and_openai(conversation, admin_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {member_token(user=admin_user)}")
    response = client.post(
        "/api/exports/",
        {"projects": ["agents"], "drop_reasoning": True, "formats": ["openai"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["config"]["drop_reasoning"] is True
    job = ExportJob.objects.get(id=response.json()["id"])
    assert job.config["formats"] == ["openai"]
    response = client.post(
        "/api/exports/", {"projects": ["agents"], "formats": ["csv"]}, format="json"
    )
    assert response.status_code == 400
    assert "formats" in response.json()["error"]["fields"]


def test_preview_marks_reasoning_calls_and_results(conversation, admin_client):
    response = admin_client.get(
        reverse("exports:export-preview"),
        {
            "projects": "agents",
            "date_field": "decided_at",
            "template": "chatml",
            "tokenizer": "cl100k_base",
            "overflow": "drop",
            "val_fraction": "0",
            "seed": "0",
            "formats": ["jsonl"],
            "license": "other",
            "drop_reasoning": "",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="tok trained part-reasoning"' in html
    assert 'class="tok trained part-tool_call"' in html
    assert 'class="tok part-tool_result"' in html and 'class="tok part-tools"' in html
    assert "in tool results (not trained)" in html
    # The look-alike in the tool result is a text chip, never a special one.
    assert 'class="tok special part-tool_result"' not in html


def test_conversations_differing_only_in_a_call_are_not_duplicates(
    agent_project, reviewer, tmp_path
):
    approved_conversation(agent_project, agentic_chat(), reviewer=reviewer)
    other = agentic_chat()
    other[2]["tool_calls"] = [
        {**other[2]["tool_calls"][0], "function": {"name": "python", "arguments": {"code": "1"}}},
        other[2]["tool_calls"][1],
    ]
    approved_conversation(agent_project, other, reviewer=reviewer)
    approved_conversation(agent_project, agentic_chat(), reviewer=reviewer)
    manifest = export_run(config=config(), destination=tmp_path / "out")
    assert manifest["counts"]["exported"] == 2
    assert manifest["counts"]["left_out"]["duplicates"] == 1


def test_a_tool_message_without_its_call_id_is_named(agent_project, reviewer, tmp_path):
    broken = agentic_chat()
    broken[3]["tool_call_id"] = ""
    conversation = approved_conversation(agent_project, broken, reviewer=reviewer)
    with pytest.raises(ExportError, match=f"Conversation {conversation.id} .*message 4"):
        export_run(config=config(), destination=tmp_path / "out")
    assert not (tmp_path / "out").exists()
