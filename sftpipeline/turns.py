"""Structured turns (design.md contract 6) as the export writes them: one message shape, its text.

The export's message is the JSONL shape that Hugging Face chat templates and TRL read:
``{"role", "content"}`` plus, where set, ``reasoning_content`` and ``tool_calls`` on an
assistant message and ``tool_call_id`` on a tool message. Keys that are empty are left
out, so a plain-text conversation has exactly the ``{"role", "content"}`` it always had.

Tool calls and tool specs are normalised to JSON with sorted keys, the order the JSONL
files have them in, so re-rendering an exported row gives the exported tokens.

Text inside an assistant message in the chatml templates (all ordinary text)::

    <think>\\n{reasoning}\\n</think>\\n\\n        only when the reasoning is not empty
    {content}
    \\n                                        between the content and the first call,
                                              and between calls (never when content is empty)
    <tool_call>\\n{"name": …, "arguments": {…}}\\n</tool_call>     one per call

and the tools block that opens the system message::

    <tools>\\n{spec}\\n{spec}\\n</tools>           one spec per line
    \\n\\n                                      then the system text, when there is any
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

SYSTEM, USER, ASSISTANT, TOOL = "system", "user", "assistant", "tool"
ROLES = frozenset({SYSTEM, USER, ASSISTANT, TOOL})

THINK_OPEN = "<think>\n"
THINK_CLOSE = "\n</think>\n\n"
TOOL_CALL_OPEN = "<tool_call>\n"
TOOL_CALL_CLOSE = "\n</tool_call>"
#: Between an assistant's content and its first call, and between two calls.
PART_SEPARATOR = "\n"
TOOLS_OPEN = "<tools>\n"
TOOLS_CLOSE = "\n</tools>"
#: Between the tools block and the system text that was already there.
TOOLS_SEPARATOR = "\n\n"

ToolSpecs = Sequence[Mapping[str, Any]]
#: The message keys of structured turns, in the JSONL files.
STRUCTURED_KEYS = ("reasoning_content", "tool_calls", "tool_call_id")


def sorted_json(value: Any) -> Any:
    """``value`` with every object's keys in sorted order (the JSONL files' order)."""
    return json.loads(json.dumps(value, sort_keys=True))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def reasoning_of(message: Mapping[str, Any]) -> str:
    """An assistant's reasoning: the export's ``reasoning_content`` or the model's ``reasoning``."""
    return message.get("reasoning_content") or message.get("reasoning") or ""


def tool_call_text(call: Mapping[str, Any]) -> str:
    """``{"name": …, "arguments": {…}}``: name first, then the arguments with sorted keys."""
    function = call["function"]
    return f'{{"name": {_json(function["name"])}, "arguments": {_json(function["arguments"])}}}'


def tools_block(tools: ToolSpecs) -> str:
    """The declared tools, one JSON spec per line, inside ``<tools>…</tools>``."""
    return TOOLS_OPEN + "\n".join(_json(spec) for spec in tools) + TOOLS_CLOSE


def export_message(
    role: str,
    content: str,
    *,
    reasoning: str = "",
    tool_calls: Sequence[Mapping[str, Any]] = (),
    tool_call_id: str = "",
) -> dict[str, Any]:
    """The JSONL message: ``role`` and ``content``, and each structured key that is set."""
    message: dict[str, Any] = {"role": role, "content": content}
    if role == ASSISTANT and reasoning:
        message["reasoning_content"] = reasoning
    if role == ASSISTANT and tool_calls:
        message["tool_calls"] = [sorted_json(dict(call)) for call in tool_calls]
    if role == TOOL:
        message["tool_call_id"] = tool_call_id
    return message


def openai_message(message: Mapping[str, Any], weight: int | None = None) -> dict[str, Any]:
    """A message in OpenAI's fine-tuning chat shape: arguments as JSON strings, no reasoning.

    OpenAI's chat fine-tuning format has no field for reasoning, so it is left out.
    ``weight`` (0 or 1) goes on assistant messages.
    """
    result: dict[str, Any] = {"role": message["role"]}
    calls = message.get("tool_calls") or []
    if message["content"] or not calls:
        result["content"] = message["content"]
    if calls:
        result["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {
                    "name": call["function"]["name"],
                    "arguments": _json(call["function"]["arguments"]),
                },
            }
            for call in calls
        ]
    if message["role"] == TOOL:
        result["tool_call_id"] = message["tool_call_id"]
    if message["role"] == ASSISTANT and weight is not None:
        result["weight"] = weight
    return result
