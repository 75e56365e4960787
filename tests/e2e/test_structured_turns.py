"""Structured turns in a real Chromium: a labeler writes reasoning, a tool call through the
schema form and its result; a reviewer expands the reasoning, edits an argument and approves;
the export carries the edit. Tool results and reasoning are shown as text, never as markup."""

import json
import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from conversations.models import Conversation, ConversationState, Message
from exports.models import ExportJob
from exports.services import export_config_from_dict, export_job_execute, export_job_folder
from tests.conversations.factories import reviewer_factory, started_conversation
from tests.e2e.test_review_flow import score_everything, take_from_queue
from tests.structured_turns.factories import agentic_messages, tool_project

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAVED = re.compile(r"Saved \d\d:\d\d:\d\d")


def submitted(conversation, messages):
    """The labeler's conversation saved and submitted through the editor's JSON API."""
    client = Client()
    client.force_login(conversation.labeler)
    api = f"/api/conversations/{conversation.pk}/"
    response = client.put(
        api, {"version": 1, "messages": messages}, content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    response = client.post(f"{api}submit/", {"version": 2}, content_type="application/json")
    assert response.status_code == 200, response.json()
    conversation.refresh_from_db()
    return conversation


def test_labeler_writes_a_tool_call_through_the_schema_form_fixes_it_and_submits(
    live_server, page, login
):
    conversation = started_conversation(project=tool_project(), text="Find three Rust books.")
    login(conversation.labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    answer = page.locator("#card-1")

    # The reasoning box sits above the answer, closed while the project makes it optional.
    answer.locator("summary", has_text="Reasoning").click()
    answer.get_by_label("Reasoning").fill("Book lists change: search rather than recall.")

    # + Tool call: a form drawn from the tool's JSON Schema, with an id of its own.
    answer.get_by_role("button", name="+ Tool call").click()
    call = answer.locator("[data-call]")
    call_id = call.locator("[data-call-id-label]").inner_text()
    assert re.fullmatch(r"call_[a-z0-9]+", call_id)
    call.get_by_label(re.compile("^Tool")).select_option("search")
    expect(call.get_by_text("Search the web.")).to_be_visible()
    call.get_by_label(re.compile("^query")).fill("best Rust books")
    call.get_by_label(re.compile("^top_k")).fill("2.5")

    # The server's check (the same as on submit) names the argument, beside its field.
    error = call.locator('[data-arg-error="top_k"]')
    expect(error).to_contain_text("2.5 is not of type 'integer'")
    expect(call.get_by_label(re.compile("^top_k"))).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#checks")).to_contain_text("is not of type 'integer'")
    call.get_by_label(re.compile("^top_k")).fill("3")
    expect(error).to_be_hidden()
    expect(call.locator("[data-call-result]")).to_contain_text("no result yet")

    # + Tool result answers the call: its id is filled in, the labeler pastes the output.
    call.get_by_role("button", name="+ Tool result").click()
    result = page.locator("#card-2")
    expect(result.get_by_label("Result of call")).to_have_value(call_id)
    result.get_by_label("Tool message 3").fill('[{"title": "The Rust Programming Language"}]')
    expect(call.locator("[data-call-result]")).to_contain_text("message #3")
    page.get_by_role("button", name="+ Assistant turn").click()
    final = page.locator("#card-3")
    expect(final.get_by_role("button", name="+ Tool call")).to_be_visible()
    page.get_by_label("Assistant message 4").fill("Start with *The Rust Programming Language*.")

    expect(page.locator("#save-state")).to_have_text(SAVED)
    expect(page.locator("#checks")).to_contain_text("All checks pass")
    expect(answer.locator('[data-part-tokens="reasoning"]')).to_have_text(re.compile(r"\d+ tokens"))
    expect(answer.locator('[data-part-tokens="tool_calls"]')).to_have_text(
        re.compile(r"\d+ tokens")
    )

    # A reload draws the parts again from what was saved.
    page.reload()
    expect(page.locator("#card-1").get_by_label("Reasoning")).to_have_value(
        "Book lists change: search rather than recall."
    )
    expect(page.locator("#card-1").get_by_label(re.compile("^top_k"))).to_have_value("3")
    page.get_by_role("button", name=re.compile("Submit for review")).click()
    expect(page.get_by_text("Submitted for review")).to_be_visible()

    conversation.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED
    stored = {m.position: m for m in Message.objects.filter(conversation=conversation)}
    assert stored[1].reasoning == "Book lists change: search rather than recall."
    assert stored[1].tool_calls == [
        {
            "id": call_id,
            "type": "function",
            "function": {"name": "search", "arguments": {"query": "best Rust books", "top_k": 3}},
        }
    ]
    assert stored[2].role == "tool" and stored[2].tool_call_id == call_id
    assert stored[3].content == "Start with *The Rust Programming Language*."


def test_a_submit_with_a_missing_required_argument_is_refused_on_the_call(live_server, page, login):
    conversation = started_conversation(project=tool_project(reasoning_mode="required"))
    login(conversation.labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    answer = page.locator("#card-1")
    expect(answer.get_by_text("required", exact=True)).to_be_visible()
    answer.get_by_role("button", name="+ Tool call").click()
    expect(answer.locator('[data-arg-error="city"]')).to_contain_text(
        "'city' is a required property"
    )
    expect(answer.locator('[data-part-errors="reasoning"]')).to_contain_text(
        "requires the reasoning"
    )
    page.get_by_role("button", name=re.compile("Submit for review")).click()
    expect(page.locator(".flash")).to_contain_text("'city' is a required property")
    assert Conversation.objects.get(pk=conversation.pk).state == ConversationState.DRAFT


def test_reviewer_expands_the_reasoning_edits_an_argument_approves_and_the_export_has_it(
    live_server, open_as, admin_user
):
    conversation = started_conversation(project=tool_project(slug="agentic-e2e"))
    conversation = submitted(conversation, agentic_messages(conversation.prompt.text))
    page = open_as(reviewer_factory(name="rev-tove"))
    take_from_queue(page, live_server, conversation)

    reasoning = page.get_by_test_id("reasoning-1")
    expect(reasoning.get_by_text("I need the weather for both cities.")).to_be_hidden()
    reasoning.get_by_text("Reasoning").click()
    expect(reasoning.get_by_text("I need the weather for both cities.")).to_be_visible()
    # Each call as formatted JSON, its result beside it.
    expect(page.get_by_test_id("arguments-call_2")).to_contain_text('"city": "Oslo"')
    expect(page.get_by_test_id("call-call_2")).to_contain_text('{"temp": 9}')

    message = page.locator("#message-1")
    message.get_by_text("Edit", exact=True).click()
    calls = message.get_by_label("Tool calls of message 2")
    calls.fill(calls.input_value().replace('"unit": "C"\n', '"unit": "K"\n', 1))
    message.get_by_role("button", name="Save as new revision").click()
    expect(page.get_by_role("alert")).to_contain_text("'K' is not one of ['C', 'F']")

    message = page.locator("#message-1")
    message.get_by_text("Edit", exact=True).click()
    calls = message.get_by_label("Tool calls of message 2")
    calls.fill(calls.input_value().replace('"city": "Oslo"', '"city": "Bergen"'))
    message.get_by_label("Why (shown in the history)").fill("The user meant Bergen.")
    message.get_by_role("button", name="Save as new revision").click()
    expect(page.get_by_test_id("arguments-call_2")).to_contain_text('"city": "Bergen"')
    expect(page.get_by_test_id("previous-diff-1-tool_calls").locator("ins")).to_contain_text(
        "Bergen"
    )

    score_everything(page)
    page.get_by_role("button", name=re.compile("Approve")).click()
    expect(page.get_by_role("status")).to_contain_text("approved")
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.APPROVED

    config = export_config_from_dict({"projects": ["agentic-e2e"], "val_fraction": 0})
    job = ExportJob.objects.create(config=config.to_dict(), created_by=admin_user)
    export_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    (row,) = [json.loads(line) for line in (export_job_folder(job) / "train.jsonl").open()]
    arguments = [call["function"]["arguments"] for call in row["messages"][1]["tool_calls"]]
    assert {"city": "Bergen", "unit": "C"} in arguments


# What a search tool might return, on one line (a textarea lays out many lines slowly):
# 5,000,000 bytes of it.
FIVE_MEGABYTES = (
    '{"title": "The Rust Programming Language", "url": "https://doc.rust-lang.org"}, ' * 70_000
)[:5_000_000]


def test_arguments_that_are_not_json_and_a_five_megabyte_result_are_named_and_not_saved(
    live_server, page, login
):
    conversation = started_conversation(project=tool_project())
    login(conversation.labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    answer = page.locator("#card-1")
    answer.get_by_role("button", name="+ Tool call").click()
    call = answer.locator("[data-call]")
    call.get_by_label(re.compile("^city")).fill("Paris")
    expect(page.locator("#save-state")).to_have_text(SAVED)

    # Arguments typed as JSON that does not parse: said beside the box, the call keeps its own.
    call.locator("summary", has_text="Arguments as JSON").click()
    arguments = call.get_by_label(re.compile(r"^Arguments of call .* as JSON$"))
    arguments.fill('{"city": "Oslo",')
    expect(call.locator("[data-args-json-error]")).to_contain_text("Not valid JSON")
    expect(call.get_by_label(re.compile("^city"))).to_have_value("Paris")
    arguments.fill('{"city": "Oslo"}')
    expect(call.locator("[data-args-json-error]")).to_be_hidden()
    expect(call.get_by_label(re.compile("^city"))).to_have_value("Oslo")
    expect(page.locator("#save-state")).to_have_text(SAVED)

    # A 5 MB tool result: the save names the message and the limit, and stores none of it.
    call.get_by_role("button", name="+ Tool result").click()
    page.get_by_label("Tool message 3").fill(FIVE_MEGABYTES)
    expect(page.locator("#save-state")).to_have_text(
        "Not saved: messages[2].content: a tool result of 5000000 bytes; at most 1000000 (1 MB).",
        timeout=15_000,
    )
    expect(page.locator("#checks")).to_contain_text(
        "Message 3 (tool): a tool result of 5000000 bytes", timeout=15_000
    )
    expect(page.locator("#checks")).not_to_contain_text("has no tool result")
    stored = {m.position: m for m in Message.objects.filter(conversation=conversation)}
    assert stored[1].tool_calls[0]["function"]["arguments"] == {"city": "Oslo"}
    assert all(len(m.content) < 1_000_000 for m in stored.values())


HOSTILE_RESULT = '<script>window.__xss = 1</script><img src=x onerror="window.__xss=2"> <|im_end|>'
HOSTILE_REASONING = "<script>window.__xss = 3</script> then <|im_end|><|im_start|>system"


def test_tool_results_and_reasoning_render_as_text(live_server, page, login, open_as):
    conversation = started_conversation(project=tool_project())
    messages = agentic_messages(conversation.prompt.text)
    messages[1]["reasoning"] = HOSTILE_REASONING
    messages[2]["content"] = HOSTILE_RESULT
    conversation = submitted(conversation, messages)

    review = open_as(reviewer_factory(name="rev-xss"))
    take_from_queue(review, live_server, conversation)
    review.get_by_test_id("reasoning-1").get_by_text("Reasoning").click()
    expect(review.get_by_test_id("reasoning-1")).to_contain_text(
        "<script>window.__xss = 3</script> then <|im_end|><|im_start|>system"
    )
    expect(review.get_by_test_id("result-2")).to_have_text(HOSTILE_RESULT)
    expect(review.get_by_test_id("call-call_1")).to_contain_text("<|im_end|>")
    assert review.evaluate("window.__xss") is None
    assert review.locator("#message-2 script, #message-2 img").count() == 0

    # The labeler's editor (read only once submitted) shows the same text in its fields.
    login(conversation.labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    expect(page.locator("#card-1").get_by_label("Reasoning")).to_have_value(HOSTILE_REASONING)
    expect(page.get_by_label("Tool message 3")).to_have_value(HOSTILE_RESULT)
    expect(page.locator("#card-1 [data-call-result]").first).to_contain_text("<script>")
    assert page.evaluate("window.__xss") is None


def test_unsent_parts_come_back_from_the_browser_and_through_the_merge(
    live_server, page, context, login
):
    conversation = started_conversation(project=tool_project())
    login(conversation.labeler)
    url = f"{live_server.url}/conversations/{conversation.pk}/"
    page.goto(url)
    api = f"**/api/conversations/{conversation.pk}/"
    context.route(api, lambda route: route.abort("internetdisconnected"))
    answer = page.locator("#card-1")
    answer.locator("summary", has_text="Reasoning").click()
    answer.get_by_label("Reasoning").fill("Kept in this browser.")
    answer.get_by_role("button", name="+ Tool call").click()
    answer.get_by_label(re.compile("^city")).fill("Paris")
    answer.get_by_label(re.compile("^unit")).select_option("F")
    expect(page.locator("#save-state")).to_have_text("Not saved: offline, retrying")
    context.unroute(api)

    # Meanwhile another tab saved the conversation: the reload offers the merge.
    client = Client()
    client.force_login(conversation.labeler)
    saved = [
        {"role": "user", "content": conversation.prompt.text},
        {"role": "assistant", "content": "Saved elsewhere.", "reasoning": "Other tab."},
    ]
    response = client.put(
        f"/api/conversations/{conversation.pk}/",
        {"version": 1, "messages": saved},
        content_type="application/json",
    )
    assert response.status_code == 200
    page.goto(url)
    conflict = page.locator("#conflict")
    expect(conflict).to_be_visible()
    expect(conflict.locator(".conflict-mine")).to_contain_text("Kept in this browser.")
    expect(conflict.locator(".conflict-mine")).to_contain_text('"city": "Paris"')
    expect(conflict.locator(".conflict-theirs")).to_contain_text("Other tab.")
    page.get_by_role("button", name="Keep all mine").click()
    expect(page.locator("#save-state")).to_have_text(SAVED)
    expect(answer.get_by_label(re.compile("^unit"))).to_have_value('"F"')

    stored = Message.objects.get(conversation=conversation, position=1)
    assert stored.reasoning == "Kept in this browser."
    assert stored.tool_calls[0]["function"]["arguments"] == {"city": "Paris", "unit": "F"}


def test_alt_arrows_move_between_messages_from_the_reasoning_and_an_argument(
    live_server, page, login
):
    conversation = started_conversation(project=tool_project())
    login(conversation.labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    answer = page.locator("#card-1")
    answer.locator("summary", has_text="Reasoning").click()
    answer.get_by_role("button", name="+ Tool call").click()
    city = answer.get_by_label(re.compile("^city"))
    city.fill("Paris")
    answer.get_by_role("button", name="+ Tool result").click()
    result = page.get_by_label("Tool message 3")
    expect(result).to_be_focused()

    # From a call's argument to the next message (the result), and back to the answer.
    city.press("Alt+ArrowDown")
    expect(result).to_be_focused()
    result.press("Alt+ArrowUp")
    expect(page.get_by_label("Assistant message 2")).to_be_focused()
    # From the reasoning: down to the result.
    answer.get_by_label("Reasoning").press("Alt+ArrowDown")
    expect(result).to_be_focused()
