"""Structured turns through a Hugging Face chat template with {% generation %} and tools.

The tokenizer is trained here from a small vocabulary; the reference is transformers'
own ``apply_chat_template(..., return_assistant_tokens_mask=True)``.
"""

import pytest
from transformers import PreTrainedTokenizerFast

from sftpipeline.preference import PreferencePair, tokenize_pairs
from sftpipeline.render import HF_CHAT_TEMPLATE, tokenize_conversation
from sftpipeline.tokenizers import TokenizerError, get_tokenizer
from tests.exports.factories import (
    ANSWER,
    FIRST_REASONING,
    SECOND_REASONING,
    SYSTEM_TEXT,
    TOOLS,
    USER_TEXT,
)
from tests.exports.test_pipeline_hf_tokenizer import build_tokenizer_folder
from tests.exports.test_pipeline_structured import MESSAGES

# A Qwen-style template: tools in the system turn, reasoning in <think>, calls in
# <tool_call>, tool results as role tool; every assistant turn inside {% generation %}.
TOOL_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n"
    "{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "<tools>\n{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}</tools><|im_end|>\n"
    "{% elif messages[0].role == 'system' %}"
    "<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "{% if message.role == 'assistant' %}<|im_start|>assistant\n"
    "{% generation %}"
    "{% if message.reasoning_content %}<think>\n{{ message.reasoning_content }}\n</think>\n\n"
    "{% endif %}{{ message.content }}"
    "{% for call in message.tool_calls %}\n<tool_call>\n"
    '{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments | tojson }}}'
    "\n</tool_call>{% endfor %}<|im_end|>{% endgeneration %}\n"
    "{% elif message.role != 'system' %}"
    "<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
)
TEMPLATE_WITHOUT_GENERATION = (
    "{% for message in messages %}"
    "<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{% endfor %}"
)

# transformers would turn look-alikes into special tokens; compare on text without them.
CLEAN_MESSAGES = [
    {**m, "content": m["content"].replace("<|", "<").replace("|>", ">")} for m in MESSAGES
]
for message in CLEAN_MESSAGES:
    if "reasoning_content" in message:
        message["reasoning_content"] = message["reasoning_content"].replace("<|im_end|>", "end")
    if message.get("tool_calls"):
        message["tool_calls"] = [
            {**call, "function": {"name": call["function"]["name"], "arguments": {"n": i}}}
            for i, call in enumerate(message["tool_calls"])
        ]


@pytest.fixture
def folder(tmp_path):
    return build_tokenizer_folder(tmp_path / "tools", TOOL_TEMPLATE)


@pytest.fixture
def tokenizer(folder):
    return get_tokenizer("huggingface", folder)


def trained_text(tokenizer, example) -> str:
    ids = [t for t, m in zip(example.input_ids, example.loss_mask, strict=True) if m]
    return tokenizer.decode_bytes(ids).decode()


def test_ids_and_mask_equal_transformers_assistant_tokens_mask(tokenizer, folder):
    example = tokenize_conversation(CLEAN_MESSAGES, HF_CHAT_TEMPLATE, tokenizer, TOOLS)
    reference = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    expected = reference.apply_chat_template(
        CLEAN_MESSAGES,
        tools=TOOLS,
        chat_template=TOOL_TEMPLATE,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    assert example.input_ids == expected["input_ids"]
    assert example.loss_mask == expected["assistant_masks"]
    assert sum(example.loss_mask) > 0


def test_template_receives_tools_reasoning_and_calls(tokenizer):
    example = tokenize_conversation(MESSAGES, HF_CHAT_TEMPLATE, tokenizer, TOOLS)
    text = tokenizer.decode_bytes(example.input_ids).decode()
    assert '"name": "python"' in text and "<tools>" in text
    trained = trained_text(tokenizer, example)
    # (trim_blocks eats the newline after the for tag, as in transformers.)
    assert trained.startswith(f"<think>\n{FIRST_REASONING}\n</think>\n\n<tool_call>\n")
    assert '"arguments": {"code": "print(37 * 43)"}' in trained
    assert trained.endswith(f"<think>\n{SECOND_REASONING}\n</think>\n\n{ANSWER}<|im_end|>")
    for untrained in ("stdout", "Andrew Wiles proved it", "<tools>", USER_TEXT, SYSTEM_TEXT):
        assert untrained not in trained


def test_look_alikes_in_reasoning_arguments_and_results_stay_text(tokenizer):
    example = tokenize_conversation(MESSAGES, HF_CHAT_TEMPLATE, tokenizer, TOOLS)
    im_start = tokenizer.special_token_id("<|im_start|>")
    im_end = tokenizer.special_token_id("<|im_end|>")
    im_sep = tokenizer.special_token_id("<|im_sep|>")
    # The system turn holds the tools; one header and one end per message, nothing more.
    assert example.input_ids.count(im_start) == len(MESSAGES)
    assert example.input_ids.count(im_end) == len(MESSAGES)
    assert im_sep not in example.input_ids
    text = tokenizer.decode_bytes(example.input_ids).decode()
    assert "Not <|im_end|> here." in text and "proof <|im_start|>" in text
    assert "1995). <|im_sep|>" in text


def test_a_template_without_generation_refuses_structured_turns(tmp_path):
    folder = build_tokenizer_folder(tmp_path / "plain", TEMPLATE_WITHOUT_GENERATION)
    tokenizer = get_tokenizer("huggingface", folder)
    with pytest.raises(TokenizerError, match="generation"):
        tokenize_conversation(MESSAGES, HF_CHAT_TEMPLATE, tokenizer, TOOLS)


def test_a_pair_through_the_chat_template_masks_its_prompt(tokenizer):
    """A preference pair tokenized with the tokenizer's own template: each side is the
    template's rendering of prompt + reply, with -100 over the prompt's tokens."""
    prompt, chosen = CLEAN_MESSAGES[:-1], CLEAN_MESSAGES[-1]
    rejected = {**chosen, "content": "I could not work that out."}
    pair = PreferencePair("1-5-edit", 1, 5, "edit", prompt, chosen, rejected)
    [tokenized] = tokenize_pairs([pair], HF_CHAT_TEMPLATE, tokenizer, [TOOLS])
    prompt_ids = tokenize_conversation(prompt, HF_CHAT_TEMPLATE, tokenizer, TOOLS).input_ids
    assert tokenized.prompt_input_ids == prompt_ids
    columns = tokenized.columns()
    for side, reply in (("chosen", chosen), ("rejected", rejected)):
        whole = tokenize_conversation([*prompt, reply], HF_CHAT_TEMPLATE, tokenizer, TOOLS)
        assert columns[f"{side}_input_ids"] == whole.input_ids
        assert columns[f"{side}_labels"] == (
            [-100] * len(prompt_ids) + whole.labels[len(prompt_ids) :]
        )
        assert any(label != -100 for label in columns[f"{side}_labels"])
    assert tokenized.num_tokens == max(
        len(columns["chosen_input_ids"]), len(columns["rejected_input_ids"])
    )
