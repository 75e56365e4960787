"""Structured turns on the editor and review pages (server side): the marks the editor's
script places on each part, the review page's calls beside their results, the inline edit
of a call and comments that point at a part."""

import json
import re
from html import unescape

import pytest
from django.urls import reverse

from conversations.models import Message
from sftpipeline.tokenizers import get_tokenizer
from tests.conversations.factories import reviewer_factory, started_conversation
from tests.conversations.test_structured_review import submitted_agentic
from tests.structured_turns.factories import agentic_messages, tool_project

pytestmark = pytest.mark.django_db


def marks_of(response) -> dict:
    found = re.search(r'data-check-marks="([^"]*)"', response.content.decode())
    return json.loads(unescape(found.group(1)))


def post_checks(client, conversation, messages):
    """The editor's live checks on `messages`, posted as the editor's form sends them."""
    return client.post(
        reverse("conversations:editor-checks", args=[conversation.pk]),
        {
            "role": [m["role"] for m in messages],
            "content": [m["content"] for m in messages],
            "parts": [
                json.dumps({k: m[k] for k in ("reasoning", "tool_calls", "tool_call_id") if k in m})
                for m in messages
            ],
        },
    )


def test_live_checks_mark_the_argument_and_count_tokens_per_part(client):
    conversation = started_conversation(project=tool_project())
    client.force_login(conversation.labeler)
    messages = agentic_messages(conversation.prompt.text)
    messages[1]["tool_calls"][1]["function"]["arguments"]["unit"] = "K"
    response = post_checks(client, conversation, messages)
    assert response.status_code == 200
    marks = marks_of(response)
    (problem,) = [r for r in marks["results"] if r["blocking"]]
    assert problem["position"] == 1
    assert problem["call_id"] == "call_2"
    assert problem["path"] == "messages[1].tool_calls[1].function.arguments.unit"
    assert "'K' is not one of ['C', 'F']" in problem["message"]
    tokenizer = get_tokenizer(conversation.project.tokenizer)
    reasoning = tokenizer.encode_ordinary("I need the weather for both cities.")
    assert marks["per_part"][1]["reasoning"] == len(reasoning)
    assert marks["per_part"][1]["tool_calls"] > 10


def test_review_page_shows_each_call_beside_its_result_and_the_reasoning_collapsed(client):
    conversation = submitted_agentic()
    client.force_login(reviewer_factory())
    page = client.get(reverse("conversations:review", args=[conversation.pk])).content.decode()
    assert '<details class="reasoning-view" data-testid="reasoning-1">' in page
    start = page.index('data-testid="call-call_2"')
    call = page[start : start + 700]  # the call's box: its arguments, then its result
    assert "&quot;city&quot;: &quot;Oslo&quot;" in call
    assert "{&quot;temp&quot;: 9}" in call
    assert '<option value="tool_call:call_2">' in page


def test_inline_edit_of_a_call_saves_a_revision_and_bad_json_names_the_field(client):
    conversation = submitted_agentic()
    client.force_login(reviewer_factory())
    edit_url = reverse("conversations:review-edit", args=[conversation.pk])
    calls = Message.objects.get(conversation=conversation, position=1).tool_calls
    calls[1]["function"]["arguments"]["city"] = "Bergen"
    form = {
        "position": "1",
        "expected_version": str(conversation.version),
        "content": "",
        "reasoning": "I need the weather for both cities.",
    }
    bad = client.post(edit_url, {**form, "tool_calls": '[{"id": "call_1",'})
    assert bad.status_code == 400
    assert "tool_calls: not valid JSON" in bad.content.decode()

    response = client.post(edit_url, {**form, "tool_calls": json.dumps(calls)})
    assert response.status_code == 302
    stored = Message.objects.get(conversation=conversation, position=1).tool_calls
    assert stored[1]["function"]["arguments"] == {"city": "Bergen", "unit": "C"}
    conversation.refresh_from_db()
    assert conversation.current_revision.number == 2


def test_a_comment_points_at_one_call(client):
    conversation = submitted_agentic()
    client.force_login(reviewer_factory())
    response = client.post(
        reverse("conversations:review-decide", args=[conversation.pk]),
        {
            "decision": "request_changes",
            "revision": "1",
            "message-comment-1": "Oslo is not what the user asked about.",
            "message-comment-part-1": "tool_call:call_2",
        },
    )
    assert response.status_code == 302
    comment = conversation.reviews.get().message_comments.get()
    assert (comment.message_position, comment.part) == (1, "tool_call:call_2")
    assert comment.part_label == "call call_2"


def test_live_checks_name_a_five_megabyte_tool_result(client):
    conversation = started_conversation(project=tool_project())
    client.force_login(conversation.labeler)
    messages = agentic_messages(conversation.prompt.text)
    messages[2]["content"] = "x" * 5_000_000
    response = post_checks(client, conversation, messages)
    assert response.status_code == 200
    # Only the size: the result still answers its call, so nothing else is blamed.
    (problem,) = [r for r in marks_of(response)["results"] if r["blocking"]]
    assert (problem["position"], problem["part"]) == (2, "result")
    assert "a tool result of 5000000 bytes; at most 1000000 (1 MB)" in problem["message"]
