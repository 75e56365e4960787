"""Structured turns (design.md contract 6): the rules for declared tools, tool calls, tool
results and reasoning, as pure functions of plain data (no ORM).

One definition used everywhere: the project service checks `tools`; the editor's save,
the live checks, submit, review edits, the import and the AI drafts check messages with
`clean_parts` (the shape of one message) and `conversation_problems` (the rules across
messages). Every JSON Schema question goes to `jsonschema`, never to code of our own.

Limits (each refused with an error naming where): at most `MAX_TOOLS` declared tools,
`MAX_TOOL_CALLS_PER_MESSAGE` calls in one message, `MAX_ARGUMENTS_BYTES` of arguments per
call, `MAX_TOOL_RESULT_BYTES` (1 MB, UTF-8) per tool result, `MAX_CALL_ID_CHARS` per id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.validators import validator_for

MAX_TOOLS = 64
MAX_TOOL_CALLS_PER_MESSAGE = 32
MAX_ARGUMENTS_BYTES = 100_000
MAX_TOOL_RESULT_BYTES = 1_000_000
MAX_CALL_ID_CHARS = 64
MAX_REASONING_CHARS = 100_000

# labeling.models.ReasoningMode's values (this package depends on no app).
REASONING_OFF, REASONING_REQUIRED = "off", "required"

# The keys structured turns add to a message and to a revision's snapshot, with their
# empty values. Snapshots store a key only where it is set; old snapshots lack them all.
STRUCTURED_DEFAULTS: dict[str, Any] = {
    "reasoning": "",
    "tool_calls": [],
    "tool_call_id": "",
    "model_original_reasoning": "",
    "model_original_tool_calls": [],
}

# OpenAI / Hugging Face function spec; `parameters` is then checked as a JSON Schema itself.
TOOL_SPEC_SCHEMA = {
    "type": "object",
    "required": ["type", "function"],
    "properties": {
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "description": {"type": "string"},
                "parameters": {"type": "object"},
                "strict": {"type": "boolean"},
            },
        },
    },
}

# One call once its arguments are a JSON object (a string of JSON is parsed first).
TOOL_CALL_SCHEMA = {
    "type": "object",
    "required": ["id", "type", "function"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": MAX_CALL_ID_CHARS},
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name", "arguments"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "arguments": {"type": "object"},
            },
        },
    },
}
_tool_spec_validator = Draft202012Validator(TOOL_SPEC_SCHEMA)
_tool_call_validator = Draft202012Validator(TOOL_CALL_SCHEMA)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class StructuredError(ValueError):
    """Bad structured data; `path` says where (`tools[1].function.parameters…`)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


def json_path(prefix: str, keys: Iterable[Any]) -> str:
    """`prefix` followed by each key: `[0]` for an index, `.name` or `["a b"]` for a key."""
    path = prefix
    for key in keys:
        if isinstance(key, int):
            path += f"[{key}]"
        elif _IDENTIFIER.fullmatch(str(key)):
            path += f".{key}"
        else:
            path += f"[{json.dumps(str(key))}]"
    return path


def _first_error(validator, instance: Any, prefix: str) -> None:
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        raise StructuredError(json_path(prefix, error.absolute_path), error.message)


# --- declared tools ---------------------------------------------------------------------


def _parameters_validator(parameters: Mapping):
    """A validator for a tool's parameters (its `$schema` decides the draft; 2020-12 otherwise)."""
    return validator_for(parameters, default=Draft202012Validator)(parameters)


def clean_tools(tools: Any, *, path: str = "tools") -> list[dict]:
    """Check a project's declared tools; returns them unchanged or raises StructuredError.

    Each is a function spec with a name unique in the list and `parameters` that are a
    valid JSON Schema (checked by the schema's own draft).
    """
    if tools in (None, ""):
        return []
    if not isinstance(tools, list):
        raise StructuredError(path, "must be a list of function specs")
    if len(tools) > MAX_TOOLS:
        raise StructuredError(path, f"{len(tools)} tools; at most {MAX_TOOLS}")
    names: dict[str, int] = {}
    for index, spec in enumerate(tools):
        where = f"{path}[{index}]"
        _first_error(_tool_spec_validator, spec, where)
        function = spec["function"]
        name = function["name"]
        if name in names:
            raise StructuredError(
                f"{where}.function.name", f'"{name}" is already declared by {path}[{names[name]}]'
            )
        names[name] = index
        parameters = function.get("parameters")
        if parameters is not None:
            try:
                validator_for(parameters, default=Draft202012Validator).check_schema(parameters)
            except SchemaError as error:
                raise StructuredError(
                    json_path(f"{where}.function.parameters", error.absolute_path),
                    f"not a valid JSON Schema: {error.message}",
                ) from None
    return tools


def tool_validators(tools: Sequence[Mapping]) -> dict[str, Any]:
    """Name → validator of its arguments, for tools that already passed `clean_tools`."""
    validators = {}
    for spec in tools:
        function = spec["function"]
        parameters = function.get("parameters") or {"type": "object"}
        validators[function["name"]] = _parameters_validator(parameters)
    return validators


# --- one message ------------------------------------------------------------------------


def _arguments(raw: Any, where: str) -> Any:
    """Arguments as a JSON object; OpenAI's files (and its API) carry them as a JSON string."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise StructuredError(
            where, f"not valid JSON ({error.msg}, line {error.lineno} column {error.colno})"
        ) from None


def clean_tool_calls(raw: Any, *, path: str) -> list[dict]:
    """A message's tool calls as `[{"id", "type": "function", "function": {"name",
    "arguments": {...}}}]`, or StructuredError naming the call and field."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise StructuredError(path, "must be a list of tool calls")
    if len(raw) > MAX_TOOL_CALLS_PER_MESSAGE:
        raise StructuredError(
            path, f"{len(raw)} tool calls; at most {MAX_TOOL_CALLS_PER_MESSAGE} in one message"
        )
    cleaned = []
    for index, call in enumerate(raw):
        where = f"{path}[{index}]"
        if isinstance(call, Mapping):
            function = call.get("function")
            call = {**call, "type": call.get("type", "function")}
            if isinstance(function, Mapping) and "arguments" in function:
                arguments = _arguments(function["arguments"], f"{where}.function.arguments")
                call["function"] = {**function, "arguments": arguments}
        _first_error(_tool_call_validator, call, where)
        arguments = call["function"]["arguments"]
        size = len(json.dumps(arguments, ensure_ascii=False).encode())
        if size > MAX_ARGUMENTS_BYTES:
            raise StructuredError(
                f"{where}.function.arguments", f"{size} bytes; at most {MAX_ARGUMENTS_BYTES}"
            )
        cleaned.append(
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": arguments},
            }
        )
    return cleaned


def clean_parts(message: Mapping, *, path: str) -> dict:
    """The structured parts of one message (`reasoning`, `tool_calls`, `tool_call_id`), checked
    for shape, role and size; StructuredError names the field. Content rules stay the caller's,
    except a tool result's size."""
    role = message.get("role")
    reasoning = message.get("reasoning") or ""
    tool_call_id = message.get("tool_call_id") or ""
    if not isinstance(reasoning, str):
        raise StructuredError(f"{path}.reasoning", "must be text")
    if not isinstance(tool_call_id, str):
        raise StructuredError(f"{path}.tool_call_id", "must be text")
    tool_calls = clean_tool_calls(message.get("tool_calls"), path=f"{path}.tool_calls")
    if role != "assistant" and reasoning:
        raise StructuredError(f"{path}.reasoning", "only an assistant message has reasoning")
    if role != "assistant" and tool_calls:
        raise StructuredError(f"{path}.tool_calls", "only an assistant message calls tools")
    if role != "tool" and tool_call_id:
        raise StructuredError(f"{path}.tool_call_id", "only a tool message answers a call")
    if len(reasoning) > MAX_REASONING_CHARS:
        raise StructuredError(f"{path}.reasoning", f"at most {MAX_REASONING_CHARS} characters")
    if len(tool_call_id) > MAX_CALL_ID_CHARS:
        raise StructuredError(f"{path}.tool_call_id", f"at most {MAX_CALL_ID_CHARS} characters")
    if role == "tool":
        content = message.get("content") or ""
        size = len(content.encode()) if isinstance(content, str) else 0
        if size > MAX_TOOL_RESULT_BYTES:
            raise StructuredError(
                f"{path}.content",
                f"a tool result of {size} bytes; at most {MAX_TOOL_RESULT_BYTES} (1 MB)",
            )
    return {
        "reasoning": reasoning.replace("\r\n", "\n"),
        "tool_calls": tool_calls,
        "tool_call_id": tool_call_id,
    }


def is_empty_turn(message: Mapping) -> bool:
    """No text, and (for an assistant) no tool call either: a call-only turn is not empty."""
    content = message.get("content")
    if isinstance(content, str) and content.strip():
        return False
    return not (message.get("role") == "assistant" and message.get("tool_calls"))


# --- across messages --------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A broken contract-6 rule: where (message, part, call, JSON path) and what."""

    code: str
    position: int
    part: str  # "content", "reasoning", "tool_call" or "result"
    path: str
    detail: str
    call_id: str = ""


def _call_problems(
    position: int, calls: list[dict], validators: Mapping, seen: dict[str, int]
) -> list[Problem]:
    problems = []
    for index, call in enumerate(calls):
        where = f"messages[{position}].tool_calls[{index}]"
        call_id, name = call["id"], call["function"]["name"]
        if call_id in seen:
            problems.append(
                Problem(
                    "duplicate_call_id",
                    position,
                    "tool_call",
                    f"{where}.id",
                    f'call id "{call_id}" is already used by message {seen[call_id] + 1}; '
                    "ids must be unique in the conversation",
                    call_id,
                )
            )
        seen.setdefault(call_id, position)
        validator = validators.get(name)
        if validator is None:
            declared = ", ".join(sorted(validators)) or "none"
            problems.append(
                Problem(
                    "unknown_tool",
                    position,
                    "tool_call",
                    f"{where}.function.name",
                    f'call "{call_id}" names "{name}", which the project does not declare '
                    f"(declared: {declared})",
                    call_id,
                )
            )
            continue
        error = best_match(validator.iter_errors(call["function"]["arguments"]))
        if error is not None:
            problems.append(
                Problem(
                    "invalid_arguments",
                    position,
                    "tool_call",
                    json_path(f"{where}.function.arguments", error.absolute_path),
                    f'{name} call "{call_id}": {error.message}',
                    call_id,
                )
            )
    return problems


def _unanswered(open_calls: dict[str, tuple[int, int]]) -> list[Problem]:
    return [
        Problem(
            "unanswered_call",
            position,
            "tool_call",
            f"messages[{position}].tool_calls[{index}]",
            f'call "{call_id}" has no tool result before the next user or assistant message',
            call_id,
        )
        for call_id, (position, index) in open_calls.items()
    ]


def conversation_problems(
    messages: Sequence[Mapping], *, tools: Sequence[Mapping], reasoning_mode: str
) -> list[Problem]:
    """Every broken contract-6 rule in `messages` (dicts with role, content and the structured
    parts, raw or cleaned), in message order. `tools` passed `clean_tools`.

    A call names a declared tool and its arguments validate against the tool's schema;
    call ids are unique; every call is answered by exactly one tool message before the
    next user or assistant message, and a tool message answers a call; reasoning is
    present when required and absent when off. (An empty turn is `is_empty_turn`'s, which the
    checks and the import apply to every role.)
    """
    validators = tool_validators(tools)
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    open_calls: dict[str, tuple[int, int]] = {}
    answered: set[str] = set()
    # The last assistant message's calls could not be read: its results are not judged.
    calls_unreadable = False
    for position, message in enumerate(messages):
        where = f"messages[{position}]"
        role = message.get("role")
        malformed = False
        try:
            parts = clean_parts(message, path=where)
        except StructuredError as error:
            problems.append(
                Problem("malformed", position, _part_of(error.path), error.path, error.problem)
            )
            malformed = True
            # A result too large still answers its call: one problem said once, not three.
            raw_id = message.get("tool_call_id")
            parts = {
                "reasoning": "",
                "tool_calls": [],
                "tool_call_id": raw_id if isinstance(raw_id, str) else "",
            }
        if role == "tool":
            call_id = parts["tool_call_id"]
            if call_id in open_calls:
                del open_calls[call_id]
                answered.add(call_id)
                continue
            if calls_unreadable:
                continue
            if not call_id:
                detail = "a tool result needs the tool_call_id of the call it answers"
            elif call_id in answered:
                detail = f'call "{call_id}" already has its result'
            else:
                detail = (
                    f'tool_call_id "{call_id}" answers no call of the assistant message before it'
                )
            problems.append(
                Problem(
                    "result_without_call",
                    position,
                    "result",
                    f"{where}.tool_call_id",
                    detail,
                    call_id,
                )
            )
            continue
        problems += _unanswered(open_calls)
        open_calls = {}
        calls_unreadable = malformed and role == "assistant"
        if role != "assistant":
            continue
        if reasoning_mode == REASONING_REQUIRED and not parts["reasoning"].strip():
            problems.append(
                Problem(
                    "reasoning_missing",
                    position,
                    "reasoning",
                    f"{where}.reasoning",
                    "this project requires the reasoning before every assistant reply",
                )
            )
        if reasoning_mode == REASONING_OFF and parts["reasoning"].strip():
            problems.append(
                Problem(
                    "reasoning_not_allowed",
                    position,
                    "reasoning",
                    f"{where}.reasoning",
                    "this project does not use reasoning: remove it",
                )
            )
        problems += _call_problems(position, parts["tool_calls"], validators, seen)
        for index, call in enumerate(parts["tool_calls"]):
            open_calls.setdefault(call["id"], (position, index))
    return problems + _unanswered(open_calls)


def _part_of(path: str) -> str:
    if ".reasoning" in path:
        return "reasoning"
    if ".tool_calls" in path:
        return "tool_call"
    if ".tool_call_id" in path or path.endswith(".content"):
        return "result"
    return "content"


# --- snapshots --------------------------------------------------------------------------


def snapshot_compact(message: Mapping) -> dict:
    """A revision's copy of a message: role, content, origin, model_original, and each
    structured key only where it is set."""
    snapshot = {
        "role": message["role"],
        "content": message["content"],
        "origin": message["origin"],
        "model_original": message.get("model_original") or "",
    }
    for key in STRUCTURED_DEFAULTS:
        if message.get(key):
            snapshot[key] = message[key]
    return snapshot


def snapshot_read(snapshot: Mapping) -> dict:
    """Any revision's copy of a message with every key, old snapshots read with defaults."""
    return {
        "role": snapshot.get("role", ""),
        "content": snapshot.get("content", ""),
        "origin": snapshot.get("origin", "human"),
        "model_original": snapshot.get("model_original") or "",
        **{key: snapshot.get(key) or type(empty)() for key, empty in STRUCTURED_DEFAULTS.items()},
    }
