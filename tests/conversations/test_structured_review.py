"""Reviewers edit reasoning, calls and results with the editor's validation; revisions and
the review screen's diffs carry every part."""

import pytest

from conversations.models import Message, MessageOrigin, Revision
from conversations.selectors.review import revision_messages
from tests.conversations.factories import reviewer_factory, started_conversation
from tests.conversations.test_editor_api import api_for, url
from tests.conversations.test_review_api import api
from tests.structured_turns.factories import agentic_messages, tool_project

pytestmark = pytest.mark.django_db


def submitted_agentic():
    # Two approvals: two reviewers may hold claims at once (the 409 race).
    conversation = started_conversation(project=tool_project(approvals_needed=2))
    labeler = api_for(conversation.labeler)
    messages = agentic_messages(conversation.prompt.text)
    assert (
        labeler.put(
            url(conversation), {"version": 1, "messages": messages}, format="json"
        ).status_code
        == 200
    )
    assert (
        labeler.post(url(conversation, "submit/"), {"version": 2}, format="json").status_code == 200
    )
    conversation.refresh_from_db()
    return conversation


def edit(conversation, reviewer, *messages):
    return api(reviewer).post(
        f"/api/conversations/{conversation.pk}/review-edits/",
        {"expected_version": conversation.version, "messages": list(messages), "reason": "fix"},
        format="json",
    )


def test_a_reviewer_edits_an_argument_and_the_reasoning_into_a_new_revision():
    conversation = submitted_agentic()
    reviewer = reviewer_factory()
    calls = agentic_messages()[1]["tool_calls"]
    calls[1]["function"]["arguments"] = '{"city": "Bergen", "unit": "C"}'
    response = edit(
        conversation, reviewer, {"position": 1, "tool_calls": calls, "reasoning": "Two cities."}
    )
    assert response.status_code == 201, response.json()
    snapshot = response.json()["revision"]["messages"][1]
    assert snapshot["tool_calls"][1]["function"]["arguments"] == {"city": "Bergen", "unit": "C"}
    assert snapshot["reasoning"] == "Two cities."
    assert Message.objects.get(conversation=conversation, position=1).reasoning == "Two cities."

    shown = revision_messages(
        revision=Revision.objects.get(conversation=conversation, number=2),
        previous=Revision.objects.get(conversation=conversation, number=1),
    )
    assert shown[1].changed_since_previous
    assert set(shown[1].parts_previous_diff) == {"reasoning", "tool_calls"}
    diff = shown[1].parts_previous_diff["tool_calls"]
    assert "<del>&quot;Oslo&quot;," in diff and "<ins>&quot;Bergen&quot;," in diff
    assert shown[2].parts_previous_diff == {}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"position": 1, "tool_calls": "[{"}, "messages[1].tool_calls: must be a list"),
        (
            {"position": 3, "tool_call_id": "call_9"},
            'messages[3].tool_call_id: tool_call_id "call_9" answers no call',
        ),
        (
            {"position": 1, "tool_calls": [], "content": "Let me look."},
            "messages[2].tool_call_id: tool_call_id",
        ),
        (
            {"position": 2, "content": "x" * 5_000_000},
            "messages[2].content: a tool result of 5000000",
        ),
    ],
)
def test_a_review_edit_breaking_a_rule_is_refused_and_saves_nothing(change, error):
    conversation = submitted_agentic()
    before = list(Message.objects.filter(conversation=conversation).values().order_by("position"))
    response = edit(conversation, reviewer_factory(), change)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(error), response.json()
    assert Revision.objects.filter(conversation=conversation).count() == 1
    assert (
        list(Message.objects.filter(conversation=conversation).values().order_by("position"))
        == before
    )


def test_a_review_edit_that_changes_nothing_is_refused():
    conversation = submitted_agentic()
    calls = agentic_messages()[1]["tool_calls"]
    response = edit(conversation, reviewer_factory(), {"position": 1, "tool_calls": calls})
    assert response.status_code == 400 and "Nothing changed" in response.json()["error"]["message"]
    assert Revision.objects.filter(conversation=conversation).count() == 1


def test_a_stale_review_edit_gets_409_with_every_saved_part():
    conversation = submitted_agentic()
    first, second = reviewer_factory(), reviewer_factory()
    assert edit(conversation, first, {"position": 1, "reasoning": "Mine."}).status_code == 201
    stale = edit(conversation, second, {"position": 1, "reasoning": "Theirs."})
    assert stale.status_code == 409
    assert stale.json()["current"]["messages"][1]["reasoning"] == "Mine."


def test_origin_follows_the_models_calls_and_reasoning():
    conversation = submitted_agentic()
    message = Message.objects.get(conversation=conversation, position=1)
    message.origin = MessageOrigin.MODEL
    message.model_original_tool_calls = message.tool_calls
    message.model_original_reasoning = message.reasoning
    message.save()
    conversation.refresh_from_db()
    edit(conversation, reviewer_factory(), {"position": 1, "reasoning": "Edited thinking."})
    message.refresh_from_db()
    assert message.origin == MessageOrigin.MODEL_EDITED
    assert message.model_original_reasoning == "I need the weather for both cities."
    assert message.model_original_tool_calls == message.tool_calls


def test_a_comment_points_at_a_call_the_reasoning_or_a_result():
    conversation = submitted_agentic()
    reviewer = reviewer_factory()
    response = api(reviewer).post(
        f"/api/conversations/{conversation.pk}/reviews/",
        {
            "decision": "request_changes",
            "revision": 1,
            "message_comments": [
                {"position": 1, "part": "tool_call:call_2", "text": "Oslo in F?"},
                {"position": 1, "part": "reasoning", "text": "Say why."},
                {"position": 2, "part": "result", "text": "Paste the full result."},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    history = api_for(conversation.labeler).get(url(conversation, "history/")).json()
    comments = history["timeline"][-1]["message_comments"]
    assert [(c["position"], c["part"]) for c in comments] == [
        (1, "tool_call:call_2"),
        (1, "reasoning"),
        (2, "result"),
    ]


def test_a_comment_on_a_call_the_message_does_not_have_is_refused():
    conversation = submitted_agentic()
    response = api(reviewer_factory()).post(
        f"/api/conversations/{conversation.pk}/reviews/",
        {
            "decision": "request_changes",
            "message_comments": [{"position": 1, "part": "tool_call:call_9", "text": "?"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Message comment 1: part 'tool_call:call_9': this message has content, reasoning, "
        "tool_call:call_1, tool_call:call_2."
    )
