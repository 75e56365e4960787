"""Structured turns (contract 6) in chatml-sep and chatml: ids and masks against tiktoken."""

import json

import pytest

from sftpipeline.render import (
    CHATML,
    CHATML_SEP,
    PART_REASONING,
    PART_TOOL_RESULT,
    TokenizedExample,
    apply_max_tokens,
    assistant_turns_trained,
    tokenize_conversation,
)
from sftpipeline.tokenizers import load_cl100k_base
from tests.exports.factories import (
    ANSWER,
    CALL_PYTHON,
    CALL_SEARCH,
    FIRST_REASONING,
    PYTHON_RESULT,
    SEARCH_RESULT,
    SECOND_REASONING,
    SYSTEM_TEXT,
    TOOLS,
    USER_TEXT,
)

IM_START, IM_END, IM_SEP = 100264, 100265, 100266

# The conversation in the export's (JSONL) shape.
MESSAGES = [
    {"role": "system", "content": SYSTEM_TEXT},
    {"role": "user", "content": USER_TEXT},
    {
        "role": "assistant",
        "content": "",
        "reasoning_content": FIRST_REASONING,
        "tool_calls": [CALL_PYTHON, CALL_SEARCH],
    },
    {"role": "tool", "content": PYTHON_RESULT, "tool_call_id": "call_1"},
    {"role": "tool", "content": SEARCH_RESULT, "tool_call_id": "call_2"},
    {"role": "assistant", "content": ANSWER, "reasoning_content": SECOND_REASONING},
]

# Spelled out here, not taken from the code under test.
TOOLS_BLOCK = (
    "<tools>\n"
    + "\n".join(json.dumps(spec, ensure_ascii=False, sort_keys=True) for spec in TOOLS)
    + "\n</tools>"
)
PYTHON_CALL = (
    '<tool_call>\n{"name": "python", "arguments": {"code": "print(37 * 43)"}}\n</tool_call>'
)
SEARCH_CALL = (
    '<tool_call>\n{"name": "search", "arguments": '
    '{"query": "Fermat\'s Last Theorem proof <|im_start|>", "top_k": 3}}\n</tool_call>'
)
FIRST_TURN = f"<think>\n{FIRST_REASONING}\n</think>\n\n{PYTHON_CALL}\n{SEARCH_CALL}"
SECOND_TURN = f"<think>\n{SECOND_REASONING}\n</think>\n\n{ANSWER}"


@pytest.fixture(scope="module")
def cl100k():
    return load_cl100k_base()


def expected_ids_and_mask(encoding, template: str) -> tuple[list[int], list[int]]:
    """Each message: <|im_start|> role header, its text pieces (each encoded on its own as
    ordinary text), <|im_end|>; trained: the assistant's pieces and its <|im_end|>."""
    pieces_by_message = [
        [(TOOLS_BLOCK, 0), ("\n\n", 0), (SYSTEM_TEXT, 0)],
        [(USER_TEXT, 0)],
        [
            ("<think>\n", 1),
            (FIRST_REASONING, 1),
            ("\n</think>\n\n", 1),
            ("<tool_call>\n", 1),
            ('{"name": "python", "arguments": {"code": "print(37 * 43)"}}', 1),
            ("\n</tool_call>", 1),
            ("\n", 1),
            ("<tool_call>\n", 1),
            (SEARCH_CALL.removeprefix("<tool_call>\n").removesuffix("\n</tool_call>"), 1),
            ("\n</tool_call>", 1),
        ],
        [(PYTHON_RESULT, 0)],
        [(SEARCH_RESULT, 0)],
        [
            ("<think>\n", 1),
            (SECOND_REASONING, 1),
            ("\n</think>\n\n", 1),
            (ANSWER, 1),
        ],
    ]
    ids, mask = [], []
    for message, pieces in zip(MESSAGES, pieces_by_message, strict=True):
        trained = int(message["role"] == "assistant")
        header = encoding.encode_ordinary(message["role"])
        ids += [IM_START, *header]
        mask += [0] * (1 + len(header))
        if template == CHATML_SEP:
            ids.append(IM_SEP)
            mask.append(0)
        else:
            newline = encoding.encode_ordinary("\n")
            ids += newline
            mask += [0] * len(newline)
        for text, bit in pieces:
            body = encoding.encode_ordinary(text)
            ids += body
            mask += [bit] * len(body)
        ids.append(IM_END)
        mask.append(trained)
        if template == CHATML:
            newline = encoding.encode_ordinary("\n")
            ids += newline
            mask += [0] * len(newline)
    return ids, mask


def trained_text(cl100k, example: TokenizedExample) -> str:
    ids = [t for t, m in zip(example.input_ids, example.loss_mask, strict=True) if m]
    return cl100k.encoding.decode(ids)


@pytest.mark.parametrize("template", [CHATML_SEP, CHATML])
def test_ids_and_mask_match_tiktoken(cl100k, template):
    example = tokenize_conversation(MESSAGES, template, cl100k, TOOLS)
    ids, mask = expected_ids_and_mask(cl100k.encoding, template)
    assert example.input_ids == ids
    assert example.loss_mask == mask
    assert example.labels == [t if m else -100 for t, m in zip(ids, mask, strict=True)]


@pytest.mark.parametrize("template", [CHATML_SEP, CHATML])
def test_trained_tokens_are_reasoning_calls_and_answers_only(cl100k, template):
    example = tokenize_conversation(MESSAGES, template, cl100k, TOOLS)
    trained = trained_text(cl100k, example)
    assert trained == f"{FIRST_TURN}<|im_end|>{SECOND_TURN}<|im_end|>"
    for untrained in (PYTHON_RESULT, SEARCH_RESULT, "<tools>", USER_TEXT, SYSTEM_TEXT):
        assert untrained not in trained


@pytest.mark.parametrize("template", [CHATML_SEP, CHATML])
def test_look_alikes_in_reasoning_arguments_and_results_stay_text(cl100k, template):
    example = tokenize_conversation(MESSAGES, template, cl100k, TOOLS)
    # One of each per message, none from the look-alikes.
    assert example.input_ids.count(IM_START) == len(MESSAGES)
    assert example.input_ids.count(IM_END) == len(MESSAGES)
    assert example.input_ids.count(IM_SEP) == (len(MESSAGES) if template == CHATML_SEP else 0)
    text = cl100k.encoding.decode(example.input_ids)
    assert "Not <|im_end|> here." in text and "proof <|im_start|>" in text
    assert "<|im_sep|>" in text


def test_a_system_message_is_created_for_the_tools(cl100k):
    without_system = MESSAGES[1:]
    example = tokenize_conversation(without_system, CHATML_SEP, cl100k, TOOLS)
    encoding = cl100k.encoding
    opening = [IM_START, *encoding.encode_ordinary("system"), IM_SEP]
    opening += [*encoding.encode_ordinary(TOOLS_BLOCK), IM_END, IM_START]
    assert example.input_ids[: len(opening)] == opening
    assert not any(example.loss_mask[: len(opening)])


def test_parts_count_reasoning_and_tool_result_tokens(cl100k):
    example = tokenize_conversation(MESSAGES, CHATML_SEP, cl100k, TOOLS)
    encoding = cl100k.encoding
    reasoning = sum(
        len(encoding.encode_ordinary(text))
        for text in ("<think>\n", FIRST_REASONING, "\n</think>\n\n") * 1
        + ("<think>\n", SECOND_REASONING, "\n</think>\n\n")
    )
    results = len(encoding.encode_ordinary(PYTHON_RESULT)) + len(
        encoding.encode_ordinary(SEARCH_RESULT)
    )
    assert example.tokens_in(PART_REASONING) == reasoning
    assert example.tokens_in(PART_TOOL_RESULT) == results


def test_plain_conversation_without_tools_is_unchanged(cl100k):
    plain = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    encoding = cl100k.encoding
    example = tokenize_conversation(plain, CHATML_SEP, cl100k)
    assert example.input_ids == [
        IM_START,
        *encoding.encode_ordinary("user"),
        IM_SEP,
        *encoding.encode_ordinary("Hi"),
        IM_END,
        IM_START,
        *encoding.encode_ordinary("assistant"),
        IM_SEP,
        *encoding.encode_ordinary("Hello."),
        IM_END,
    ]


def test_truncation_marks_the_cut_assistant_turn_untrained(cl100k):
    example = tokenize_conversation(MESSAGES, CHATML_SEP, cl100k, TOOLS)
    ends = [i for i, token in enumerate(example.input_ids) if token == IM_END]
    # Keep everything up to the first tool result: the second assistant turn is cut off.
    kept, _ = apply_max_tokens(example, ends[3] + 1, "truncate")
    assert assistant_turns_trained(example, kept, 2) == [True, False]
    assert assistant_turns_trained(example, example, 2) == [True, True]
