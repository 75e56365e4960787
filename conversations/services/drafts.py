"""AI drafts: ask an OpenAI-compatible chat-completions endpoint for an assistant reply.

The web request only records a `DraftRequest` and enqueues a Celery task; the task
calls the endpoint and stores the reply (or a clear error) on the request. The
conversation itself is never changed here: the editor puts the draft in the turn only
if the person has not typed there meanwhile, and otherwise offers it beside their text,
so nothing typed is ever overwritten.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, DraftRequest, Message, MessageRole
from core.jobs import (
    JobBusy,
    JobHeartbeat,
    JobKind,
    job_claim,
    job_enqueue,
    job_finish,
    job_kind_register,
)
from labeling.models import Project, User
from structured_turns.rules import StructuredError, clean_tool_calls

from .authoring import EDITABLE_STATES, ConversationError

# Longest error body quoted back to the person.
_ERROR_EXCERPT = 300
# How long past the endpoint's own timeout a request may stay queued or running before it
# counts as lost (a worker that died, or none picking up the queue).
STALE_MARGIN_SECONDS = 30
STALE_ERROR = "The draft did not come back in time; try again."


DRAFT_JOBS = job_kind_register(
    JobKind(
        name="AI draft",
        model=DraftRequest,
        task="conversations.tasks.draft_generate",
        queued=DraftRequest.Status.QUEUED,
        running=DraftRequest.Status.RUNNING,
        failed=DraftRequest.Status.FAILED,
        cancelled=None,
        failure_fields=lambda message: {"error": message},
    )
)


class DraftError(Exception):
    """The endpoint could not give a draft; the message says why, for the person to read."""


@dataclass(frozen=True)
class DraftReply:
    """The model's reply: its answer, its reasoning (`reasoning_content`) and its tool calls
    (arguments parsed to objects; contract 6)."""

    text: str
    reasoning: str = ""
    tool_calls: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class DraftEndpoint:
    """Where a project's drafts come from: its own settings, else the server's AI_DRAFT_*.
    The key is always the server's AI_DRAFT_API_KEY: it is never stored or shown."""

    base_url: str
    model: str
    temperature: float | None
    max_tokens: int | None

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)


def draft_endpoint(project: Project) -> DraftEndpoint:
    return DraftEndpoint(
        base_url=project.ai_draft_base_url or settings.AI_DRAFT_BASE_URL,
        model=project.ai_draft_model or settings.AI_DRAFT_MODEL,
        temperature=project.ai_draft_temperature,
        max_tokens=project.ai_draft_max_tokens,
    )


def ai_drafts_available(project: Project) -> bool:
    return project.ai_drafts_enabled and draft_endpoint(project).configured


@transaction.atomic
def draft_request_create(
    *, conversation_id: int, user: User, message_position: int
) -> DraftRequest:
    """Ask for an AI draft of the assistant turn at `message_position` (a Celery task does it).

    A request already queued or running for that turn is returned instead of a second one.
    """
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("project")
        .get(pk=conversation_id)
    )
    if conversation.labeler_id != user.pk:
        raise ConversationError("Only the labeler who writes this conversation can ask for drafts.")
    if conversation.state not in EDITABLE_STATES:
        raise ConversationError("This conversation cannot be edited any more.")
    if not conversation.project.ai_drafts_enabled:
        raise ConversationError("AI drafts are turned off for this project.")
    if not draft_endpoint(conversation.project).configured:
        raise ConversationError(
            "AI drafts are not configured (no endpoint or model: set them on the project's "
            "settings page, or AI_DRAFT_BASE_URL and AI_DRAFT_MODEL on the server): ask an "
            "admin, and write the "
            "reply yourself meanwhile."
        )
    role = (
        conversation.messages.filter(position=message_position)
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        raise ConversationError(
            f"message {message_position + 1}: no such message (save the conversation first)."
        )
    if role != MessageRole.ASSISTANT:
        raise ConversationError(
            f"message {message_position + 1}: only an assistant turn can be drafted."
        )
    pending = conversation.draft_requests.filter(
        message_position=message_position,
        status__in=[DraftRequest.Status.QUEUED, DraftRequest.Status.RUNNING],
    ).first()
    if pending:
        return pending
    draft_request = DraftRequest.objects.create(
        conversation=conversation, message_position=message_position, requested_by=user
    )
    job_enqueue(DRAFT_JOBS, draft_request.pk)
    return draft_request


def draft_request_run(*, draft_request_id: int) -> DraftRequest:
    """Call the endpoint for a queued request and record the reply or the error (the task's body).

    Not one transaction: the HTTP call can take a minute and must not hold a lock. Claimed
    through the job engine: a second delivery while a run is alive does nothing, and a
    request whose runs kill their worker fails after JOB_MAX_ATTEMPTS.
    """
    try:
        claimed = job_claim(DRAFT_JOBS, draft_request_id)
    except JobBusy:
        claimed = None
    if claimed is None:
        return DraftRequest.objects.get(pk=draft_request_id)
    with JobHeartbeat(DRAFT_JOBS.mine(draft_request_id, claimed.attempt)):
        return _draft_request_call(claimed)


def _draft_request_call(draft_request: DraftRequest) -> DraftRequest:
    conversation = draft_request.conversation
    history = [
        _openai_message(m)
        for m in conversation.messages.filter(position__lt=draft_request.message_position).order_by(
            "position"
        )
    ]
    endpoint = draft_endpoint(draft_request.conversation.project)
    try:
        if not endpoint.configured:
            raise DraftError("AI drafts have no endpoint or model configured.")
        reply = chat_completion(
            history,
            base_url=endpoint.base_url,
            model=endpoint.model,
            api_key=settings.AI_DRAFT_API_KEY,
            timeout=settings.AI_DRAFT_TIMEOUT_SECONDS,
            tools=conversation.project.tools,
            temperature=endpoint.temperature,
            max_tokens=endpoint.max_tokens,
        )
    except DraftError as error:
        outcome: dict[str, Any] = {
            "status": DraftRequest.Status.FAILED,
            "error": str(error),
            "text": "",
            "reasoning": "",
            "tool_calls": [],
        }
    else:
        outcome = {
            "status": DraftRequest.Status.SUCCEEDED,
            "error": "",
            "text": reply.text,
            "reasoning": reply.reasoning,
            "tool_calls": reply.tool_calls,
        }
    # Only a request this run still owns takes the outcome: one already reported as lost
    # (draft_requests_expire_stale) stays failed, as the person was told.
    job_finish(DRAFT_JOBS, draft_request.pk, draft_request.attempt, **outcome)
    draft_request.refresh_from_db()
    return draft_request


def draft_stale_before(now: datetime | None = None) -> datetime:
    """Requests created before this instant and still queued or running are lost."""
    allowed = settings.AI_DRAFT_TIMEOUT_SECONDS + STALE_MARGIN_SECONDS
    return (now or timezone.now()) - timedelta(seconds=allowed)


@transaction.atomic
def draft_requests_expire_stale(
    *, conversation_id: int | None = None, now: datetime | None = None
) -> int:
    """Report as failed the draft requests queued or running longer than the endpoint's
    timeout plus a margin: their worker died or never took the task, and the page must not
    wait forever. `conversation_id` limits it to one conversation (the status read path);
    without it, every conversation (the periodic task). Returns how many it failed.
    """
    stale = DraftRequest.objects.filter(
        status__in=[DraftRequest.Status.QUEUED, DraftRequest.Status.RUNNING],
        created_at__lt=draft_stale_before(now),
    )
    if conversation_id is not None:
        stale = stale.filter(conversation_id=conversation_id)
    return stale.update(
        status=DraftRequest.Status.FAILED,
        error=STALE_ERROR,
        finished_at=now or timezone.now(),
    )


def _openai_message(message: Message) -> dict:
    """A stored message in the chat-completions request shape (arguments as a JSON string)."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {
                    "name": call["function"]["name"],
                    "arguments": json.dumps(call["function"]["arguments"], ensure_ascii=False),
                },
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


def chat_completion(
    messages: Sequence[Mapping],
    *,
    base_url: str,
    model: str,
    api_key: str = "",
    timeout: float = 60.0,
    tools: Sequence[Mapping] = (),
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> DraftReply:
    """POST {base_url}/chat/completions (with the project's `tools`, if any) and return the
    first choice's answer, reasoning and tool calls, or raise DraftError. Unset parameters
    are left out, so the endpoint's defaults apply."""
    url = base_url.rstrip("/") + "/chat/completions"
    request_body: dict[str, Any] = {"model": model, "messages": list(messages), "stream": False}
    if tools:
        request_body["tools"] = list(tools)
    if temperature is not None:
        request_body["temperature"] = temperature
    if max_tokens is not None:
        request_body["max_tokens"] = max_tokens
    body = json.dumps(request_body).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            payload = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        excerpt = error.read(_ERROR_EXCERPT).decode("utf-8", "replace").strip()
        raise DraftError(
            f"The AI endpoint answered {error.code} {error.reason}"
            + (f": {excerpt}" if excerpt else ".")
        ) from error
    except TimeoutError as error:
        raise DraftError(f"The AI endpoint did not answer within {timeout:g} seconds.") from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError | socket.timeout):
            raise DraftError(
                f"The AI endpoint did not answer within {timeout:g} seconds."
            ) from error
        raise DraftError(f"The AI endpoint could not be reached: {error.reason}.") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise DraftError("The AI endpoint answered with something that is not JSON.") from error
    try:
        message = payload["choices"][0]["message"]
        text = message.get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise DraftError("The AI endpoint's answer has no choices[0].message.") from error
    # DeepSeek and vLLM name it reasoning_content; some servers say reasoning.
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    if not isinstance(text, str) or not isinstance(reasoning, str):
        raise DraftError("The AI endpoint's answer has a content or reasoning that is not text.")
    try:
        tool_calls = clean_tool_calls(
            message.get("tool_calls"), path="choices[0].message.tool_calls"
        )
    except StructuredError as error:
        raise DraftError(f"The AI endpoint's tool calls are malformed: {error}.") from error
    if not text.strip() and not tool_calls:
        raise DraftError("The AI endpoint answered with an empty draft.")
    return DraftReply(text, reasoning, tool_calls)
