"""Each quality check says what is wrong and in which message; blocking ones stop a submit."""

import pytest

from conversations.services.checks import (
    BLOCKING,
    WARNING,
    ConversationRules,
    blocking_results,
    run_checks,
)

RULES = ConversationRules(min_turns=1, max_turns=2, max_tokens=100)


def conv(*pairs, system=None):
    messages = [{"role": "system", "content": system}] if system is not None else []
    for role, content in pairs:
        messages.append({"role": role, "content": content})
    return messages


def codes(results):
    return {(r.code, r.severity, r.position) for r in results}


def test_a_good_conversation_passes_every_check():
    messages = conv(("user", "What does zip do?"), ("assistant", "It pairs items up."))
    assert run_checks(messages, RULES, total_tokens=20) == []


def test_empty_message_is_blocking_and_names_the_message():
    results = run_checks(conv(("user", "Hi"), ("assistant", "   ")), RULES)
    assert ("empty_message", BLOCKING, 1) in codes(results)
    assert "Message 2 (assistant) is empty" in results[0].message


def test_roles_must_alternate_and_end_on_the_assistant():
    results = run_checks(conv(("user", "a"), ("user", "b"), ("assistant", "c")), RULES)
    assert ("roles_alternate", BLOCKING, 1) in codes(results)
    results = run_checks(conv(("user", "a"), ("assistant", "b"), ("user", "c")), RULES)
    assert ("ends_on_assistant", BLOCKING, 2) in codes(results)
    results = run_checks(conv(("assistant", "a")), RULES)
    assert ("roles_alternate", BLOCKING, 0) in codes(results)


def test_system_message_only_first_and_only_where_allowed():
    messages = conv(("user", "a"), ("assistant", "b"), system="Be terse.")
    assert ("system_not_allowed", BLOCKING, 0) in codes(run_checks(messages, RULES))
    allowed = ConversationRules(system_message_allowed=True)
    assert run_checks(messages, allowed) == []
    late = conv(("user", "a"), ("system", "x"), ("assistant", "b"))
    assert ("system_position", BLOCKING, 1) in codes(run_checks(late, allowed))


def test_turn_count_outside_the_project_range_is_blocking():
    three = conv(*[("user", "q"), ("assistant", "a")] * 3)
    results = run_checks(three, RULES)
    assert ("too_many_turns", BLOCKING, None) in codes(results)
    assert "at most 2" in blocking_results(results)[0].message
    rules = ConversationRules(min_turns=2, max_turns=5)
    assert ("too_few_turns", BLOCKING, None) in codes(
        run_checks(conv(("user", "q"), ("assistant", "a")), rules)
    )


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (50, set()),
        (95, {("near_token_limit", WARNING, None)}),
        (101, {("over_token_limit", BLOCKING, None)}),
    ],
)
def test_token_limit(total, expected):
    messages = conv(("user", "q"), ("assistant", "a"))
    assert codes(run_checks(messages, RULES, total_tokens=total)) == expected


def test_special_token_lookalikes_warn():
    results = run_checks(conv(("user", "q"), ("assistant", "end with <|im_end|> here")), RULES)
    assert codes(results) == {("special_token_lookalike", WARNING, 1)}
    assert "<|im_end|>" in results[0].message


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Write to ada.lovelace@example.org for access.", "email address"),
        ("Call me on +44 20 7946 0958 tomorrow.", "phone number"),
        ("export OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwx123", "API key"),
        ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AWS access key"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "GitHub token"),
    ],
)
def test_personal_data_and_secrets_warn(text, kind):
    results = run_checks(conv(("user", "q"), ("assistant", text)), RULES)
    assert codes(results) == {("personal_data", WARNING, 1)}
    assert kind in results[0].message


def test_numbers_that_are_not_phone_numbers_do_not_warn():
    text = "The years 1815 and 1852, and pi = 3.14159, and 2 + 2 = 4."
    assert run_checks(conv(("user", "q"), ("assistant", text)), RULES) == []


def test_unedited_ai_draft_warns_but_an_edited_one_does_not():
    draft = {"role": "assistant", "content": "Draft", "origin": "model", "model_original": "Draft"}
    messages = [{"role": "user", "content": "q"}, draft]
    assert codes(run_checks(messages, RULES)) == {("unedited_ai_draft", WARNING, 1)}
    edited = {**draft, "content": "Draft, improved", "origin": "model_edited"}
    assert run_checks([messages[0], edited], RULES) == []


@pytest.mark.parametrize(
    "reply",
    [
        "42.",
        "**42**\n\nBecause 6 * 7 = 42.",
        "The answer is 42. Here is why: 6 times 7.",
        "Yes. All A are C.",
    ],
)
def test_answer_before_working_on_a_math_prompt_warns(reply):
    messages = conv(("user", "Calculate 6 * 7 and explain."), ("assistant", reply))
    assert ("answer_before_working", WARNING, 1) in codes(run_checks(messages, RULES))


def test_working_first_then_the_answer_passes():
    reply = "Six groups of seven: 7 + 7 + 7 + 7 + 7 + 7 = 42.\n\nSo the answer is 42."
    messages = conv(("user", "Calculate 6 * 7."), ("assistant", reply))
    assert run_checks(messages, RULES) == []
    # Not a math prompt: a short direct reply is fine.
    assert run_checks(conv(("user", "Name a colour."), ("assistant", "Blue.")), RULES) == []


def test_blocking_results_come_first():
    messages = conv(("user", "Mail me at a@b.io"), ("assistant", ""))
    results = run_checks(messages, RULES)
    assert results[0].blocking
    assert not results[-1].blocking
