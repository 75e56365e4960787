"""Declared tools and agentic conversations written for the structured-turn tests."""

import copy

from labeling.models import ProjectStatus
from labeling.services import domain_get_or_create, project_create

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["C", "F"]},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "top_k": {"type": "integer"}},
            "required": ["query"],
        },
    },
}
TOOLS = [WEATHER, SEARCH]


def tool_project(*, reasoning_mode="optional", tools=None, **fields):
    """An active project (domain python) declaring get_weather and search, via the service."""
    return project_create(
        created_by=None,
        name=fields.pop("name", "Agentic answers"),
        domains=[domain_get_or_create(name="python")],
        status=ProjectStatus.ACTIVE,
        tools=copy.deepcopy(TOOLS if tools is None else tools),
        reasoning_mode=reasoning_mode,
        **fields,
    )


def call(call_id, name, arguments):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def agentic_messages(question="Weather in Paris and Oslo?"):
    """User; assistant thinking then two parallel calls; both results; the answer."""
    return [
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": "",
            "reasoning": "I need the weather for both cities.",
            "tool_calls": [
                call("call_1", "get_weather", {"city": "Paris", "unit": "C"}),
                call("call_2", "get_weather", {"city": "Oslo", "unit": "C"}),
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 18}'},
        {"role": "tool", "tool_call_id": "call_2", "content": '{"temp": 9}'},
        {
            "role": "assistant",
            "content": "Paris is 18 °C and Oslo 9 °C.",
            "reasoning": "Both results are in.",
        },
    ]
