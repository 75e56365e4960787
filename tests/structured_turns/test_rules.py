"""Contract 6 as pure rules: declared tools, one message's parts, the rules across messages."""

import copy

import pytest

from structured_turns.rules import (
    MAX_TOOL_CALLS_PER_MESSAGE,
    MAX_TOOL_RESULT_BYTES,
    StructuredError,
    clean_parts,
    clean_tools,
    conversation_problems,
    snapshot_compact,
    snapshot_read,
)
from tests.structured_turns.factories import SEARCH, TOOLS, WEATHER, agentic_messages, call


def problems(messages, reasoning_mode="optional"):
    found = conversation_problems(messages, tools=TOOLS, reasoning_mode=reasoning_mode)
    return [(p.code, p.position, p.part, p.call_id, p.path) for p in found]


def refused(function, *args, **kwargs) -> str:
    with pytest.raises(StructuredError) as caught:
        function(*args, **kwargs)
    return str(caught.value)


def test_declared_tools_in_the_openai_shape_pass():
    assert clean_tools(copy.deepcopy(TOOLS)) == TOOLS
    assert clean_tools(None) == []


def test_a_tool_spec_without_a_name_is_named():
    spec = {"type": "function", "function": {"description": "no name"}}
    assert refused(clean_tools, [WEATHER, spec]) == (
        "tools[1].function: 'name' is a required property"
    )


def test_a_schema_that_is_not_valid_json_schema_names_the_field_path():
    spec = copy.deepcopy(WEATHER)
    spec["function"]["parameters"]["properties"]["unit"]["type"] = "strin"
    message = refused(clean_tools, [SEARCH, spec])
    assert message.startswith("tools[1].function.parameters.properties.unit.type: not a valid")


def test_tool_names_are_unique():
    assert "is already declared by tools[0]" in refused(clean_tools, [WEATHER, WEATHER])


def test_tools_must_be_function_specs():
    assert refused(clean_tools, {"name": "x"}) == "tools: must be a list of function specs"
    assert refused(clean_tools, [{"type": "retrieval"}]).startswith("tools[0]")


def test_arguments_given_as_a_json_string_become_an_object():
    message = {"role": "assistant", "tool_calls": [call("c1", "search", '{"query": "x"}')]}
    parts = clean_parts(message, path="messages[1]")
    assert parts["tool_calls"][0]["function"]["arguments"] == {"query": "x"}


def test_arguments_that_are_not_json_are_named():
    message = {"role": "assistant", "tool_calls": [call("c1", "search", '{"query": ')]}
    assert refused(clean_parts, message, path="messages[1]").startswith(
        "messages[1].tool_calls[0].function.arguments: not valid JSON"
    )


def test_arguments_must_be_an_object():
    message = {"role": "assistant", "tool_calls": [call("c1", "search", "[1, 2]")]}
    assert refused(clean_parts, message, path="messages[1]") == (
        "messages[1].tool_calls[0].function.arguments: [1, 2] is not of type 'object'"
    )


def test_ten_thousand_tool_calls_are_refused_at_the_limit():
    calls = [call(f"c{i}", "search", {"query": "x"}) for i in range(10_000)]
    message = refused(clean_parts, {"role": "assistant", "tool_calls": calls}, path="messages[1]")
    assert message == (
        f"messages[1].tool_calls: 10000 tool calls; at most {MAX_TOOL_CALLS_PER_MESSAGE} "
        "in one message"
    )


def test_a_five_megabyte_tool_result_is_refused():
    result = {"role": "tool", "tool_call_id": "c1", "content": "x" * 5_000_000}
    message = refused(clean_parts, result, path="messages[2]")
    assert message == (
        f"messages[2].content: a tool result of 5000000 bytes; at most {MAX_TOOL_RESULT_BYTES} (1 MB)"
    )


@pytest.mark.parametrize(
    ("message", "path"),
    [
        ({"role": "user", "content": "x", "reasoning": "hm"}, "messages[0].reasoning"),
        (
            {"role": "tool", "content": "x", "tool_calls": [call("a", "search", {})]},
            "messages[0].tool_calls",
        ),
        ({"role": "assistant", "content": "x", "tool_call_id": "a"}, "messages[0].tool_call_id"),
    ],
)
def test_each_part_belongs_to_its_role(message, path):
    assert refused(clean_parts, message, path="messages[0]").startswith(path + ":")


def test_a_complete_agentic_conversation_has_no_problem():
    assert problems(agentic_messages()) == []


def test_a_call_of_an_undeclared_tool():
    messages = agentic_messages()
    messages[1]["tool_calls"][1]["function"]["name"] = "calculator"
    assert problems(messages) == [
        ("unknown_tool", 1, "tool_call", "call_2", "messages[1].tool_calls[1].function.name")
    ]


def test_arguments_that_do_not_validate_name_the_tool_call_and_json_path():
    messages = agentic_messages()
    messages[1]["tool_calls"][0]["function"]["arguments"]["unit"] = "K"
    found = conversation_problems(messages, tools=TOOLS, reasoning_mode="optional")
    assert [(p.code, p.path) for p in found] == [
        ("invalid_arguments", "messages[1].tool_calls[0].function.arguments.unit")
    ]
    assert found[0].detail == "get_weather call \"call_1\": 'K' is not one of ['C', 'F']"


def test_duplicate_call_ids():
    messages = agentic_messages()
    messages[1]["tool_calls"][1]["id"] = "call_1"
    # Reported on the second use; the one result for "call_1" leaves the other call open.
    assert problems(messages) == [
        ("duplicate_call_id", 1, "tool_call", "call_1", "messages[1].tool_calls[1].id"),
        ("result_without_call", 3, "result", "call_2", "messages[3].tool_call_id"),
    ]


def test_a_call_without_its_result_before_the_next_assistant_message():
    messages = agentic_messages()
    del messages[3]
    assert problems(messages) == [
        ("unanswered_call", 1, "tool_call", "call_2", "messages[1].tool_calls[1]")
    ]


def test_a_result_that_answers_nothing():
    messages = agentic_messages()
    messages[3]["tool_call_id"] = "call_9"
    found = problems(messages)
    assert ("result_without_call", 3, "result", "call_9", "messages[3].tool_call_id") in found


def test_a_result_after_the_next_user_message_answers_nothing():
    messages = agentic_messages()
    messages.insert(3, {"role": "user", "content": "hurry"})
    codes = {p[0] for p in problems(messages)}
    assert codes == {"unanswered_call", "result_without_call"}


def test_a_call_answered_twice():
    messages = agentic_messages()
    messages.insert(3, dict(messages[2]))
    assert [p[0] for p in problems(messages)] == ["result_without_call"]


def test_a_result_over_the_limit_is_one_problem_and_still_answers_its_call():
    messages = agentic_messages()
    messages[2]["content"] = "x" * 5_000_000
    assert problems(messages) == [("malformed", 2, "result", "", "messages[2].content")]


def test_calls_over_the_limit_are_one_problem_not_one_per_result():
    messages = agentic_messages()
    messages[1]["tool_calls"] += [call(f"c{i}", "search", {"query": "x"}) for i in range(10_000)]
    assert problems(messages) == [("malformed", 1, "tool_call", "", "messages[1].tool_calls")]


def test_reasoning_required_and_off():
    messages = agentic_messages()
    messages[4]["reasoning"] = ""
    assert problems(messages, "required") == [
        ("reasoning_missing", 4, "reasoning", "", "messages[4].reasoning")
    ]
    off = [p[0] for p in problems(agentic_messages(), "off")]
    assert off == ["reasoning_not_allowed", "reasoning_not_allowed"]


def test_snapshots_keep_structured_keys_only_where_set_and_read_old_ones_with_defaults():
    plain = {"role": "user", "content": "hi", "origin": "human", "model_original": ""}
    assert snapshot_compact({**plain, "reasoning": "", "tool_calls": []}) == plain
    old = {"role": "assistant", "content": "x", "origin": "human", "model_original": ""}
    assert snapshot_read(old)["tool_calls"] == [] and snapshot_read(old)["reasoning"] == ""
