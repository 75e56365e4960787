"""Approved conversations as the review flow leaves them: a current revision and its reviews."""

from __future__ import annotations

from django.utils import timezone

from conversations.models import (
    Conversation,
    ConversationState,
    Review,
    ReviewDecision,
    Revision,
)
from labeling.models import Prompt
from labeling.services import domain_get_or_create
from sftpipeline.split import snapshot_dedup_key
from tests.labeling.factories import UserFactory, fold_text_key


def chat(*turns: str, system: str | None = None, origin: str = "human") -> list[dict]:
    """Messages alternating user / assistant from `turns`, as a revision stores them."""
    messages = []
    if system is not None:
        messages.append({"role": "system", "content": system, "origin": "human"})
    for index, text in enumerate(turns):
        role = "user" if index % 2 == 0 else "assistant"
        messages.append(
            {
                "role": role,
                "content": text,
                "origin": origin if role == "assistant" else "human",
                "model_original": text if origin != "human" and role == "assistant" else "",
            }
        )
    return messages


def approved_conversation(
    project,
    messages: list[dict],
    *,
    domain: str | None = None,
    scores: dict | None = None,
    state: str = ConversationState.APPROVED,
    labeler=None,
    reviewer=None,
    decided_at=None,
) -> Conversation:
    prompt = None
    if domain is not None:
        first_user = next((m["content"] for m in messages if m["role"] == "user"), "prompt")
        prompt = Prompt.objects.create(
            project=project,
            text=first_user,
            text_key=fold_text_key(first_user),
            domain=domain_get_or_create(name=domain),
        )
    now = timezone.now()
    conversation = Conversation.objects.create(
        project=project,
        prompt=prompt,
        labeler=labeler,
        state=state,
        submitted_at=now,
        decided_at=decided_at or now,
    )
    revision = Revision.objects.create(
        conversation=conversation,
        number=1,
        kind=Revision.Kind.SUBMIT,
        messages=messages,
        content_hash=snapshot_dedup_key(messages),
    )
    conversation.current_revision = revision
    conversation.save(update_fields=["current_revision"])
    if state == ConversationState.APPROVED:
        Review.objects.create(
            conversation=conversation,
            revision=revision,
            reviewer=reviewer or UserFactory(roles=["reviewer"]),
            decision=ReviewDecision.APPROVE,
            scores=scores if scores is not None else {"helpfulness": 4, "correctness": 5},
        )
    return conversation


# Structured turns (design.md contract 6): two declared tools and a conversation that calls
# both at once, reads their results and answers, with reasoning before each assistant turn.
# Look-alikes of the special tokens sit in the reasoning, an argument and a tool result.
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "python",
            "description": "Run Python code and return what it prints.",
            "parameters": {
                "type": "object",
                "properties": {"code": {"type": "string", "description": "The code"}},
                "required": ["code"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "top_k": {"type": "integer", "minimum": 1},
                },
                "required": ["query"],
            },
        },
    },
]
SYSTEM_TEXT = "You are a careful assistant."
USER_TEXT = "What is 37 × 43, and who proved Fermat's Last Theorem?"
FIRST_REASONING = "Exact arithmetic: use python. The proof: search. Not <|im_end|> here."
CALL_PYTHON = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "python", "arguments": {"code": "print(37 * 43)"}},
}
CALL_SEARCH = {
    "id": "call_2",
    "type": "function",
    "function": {
        "name": "search",
        "arguments": {"top_k": 3, "query": "Fermat's Last Theorem proof <|im_start|>"},
    },
}
PYTHON_RESULT = "stdout: 1591"
SEARCH_RESULT = "Andrew Wiles proved it in 1994 (published 1995). <|im_sep|>"
SECOND_REASONING = "Both results are in; answer briefly."
ANSWER = "37 × 43 = 1591, and Andrew Wiles proved Fermat's Last Theorem (1994)."


def agentic_chat() -> list[dict]:
    """The structured conversation as a revision stores it (model keys, origin included)."""

    def message(role: str, content: str, **extra) -> dict:
        return {"role": role, "content": content, "origin": "human", "model_original": "", **extra}

    return [
        message("system", SYSTEM_TEXT),
        message("user", USER_TEXT),
        message(
            "assistant",
            "",
            reasoning=FIRST_REASONING,
            tool_calls=[CALL_PYTHON, CALL_SEARCH],
            tool_call_id="",
        ),
        message("tool", PYTHON_RESULT, tool_call_id="call_1"),
        message("tool", SEARCH_RESULT, tool_call_id="call_2"),
        message("assistant", ANSWER, reasoning=SECOND_REASONING, tool_calls=[]),
    ]
