"""The labeler's editor: the page, its htmx partials (preview, checks, AI drafts) and submit.

Saving goes through the JSON API (`PUT /api/conversations/<id>/`), which the page's
script calls with the version it edited; every endpoint here asks labeling.permissions
and answers 404 for a conversation that is not the person's own.
"""

from __future__ import annotations

import json

from django.contrib import messages as flash
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from conversations.access import own_conversation
from conversations.diffing import edit_ratio
from conversations.models import Conversation, ConversationState, MessageOrigin, MessageRole
from conversations.selectors.editor import (
    conversation_for_access,
    current_guidelines,
    draft_request_get,
    editor_conversation,
    latest_change_request,
    pending_draft_requests,
)
from conversations.services import (
    ChecksFailed,
    ConversationError,
    VersionConflict,
    conversation_checks,
    task_submit,
)
from conversations.services.authoring import (
    EDITABLE_STATES,
    STRUCTURED_PARTS,
    message_dicts,
    protected_prefix_length,
    typed_messages,
)
from conversations.services.drafts import (
    ai_drafts_available,
    draft_request_create,
    draft_requests_expire_stale,
)
from core.jobs import QueueUnavailable
from core.markdown import render_markdown
from labeling.models import Assignment
from labeling.permissions import member_required
from labeling.services import guidelines_mark_read, guidelines_notice
from labeling.services.assignment import lease_is_active

TEMPLATE = "conversations/editor.html"


def _origin_label(origin: str, ratio: float | None) -> str:
    if origin == MessageOrigin.MODEL:
        return "AI draft · unedited"
    if origin == MessageOrigin.MODEL_EDITED:
        return f"AI draft · {round((ratio or 0) * 100)}% edited"
    return ""


def _message_rows(conversation: Conversation, messages: list[dict], counts, comments) -> list[dict]:
    """What each message card shows; `messages` are dicts in order (saved or being typed)."""
    project = conversation.project
    stored = list(conversation.messages.all())
    prefix = protected_prefix_length(conversation, stored)
    rows = []
    for position, message in enumerate(messages):
        role = message["role"]
        ratio = None
        if message.get("model_original"):
            ratio = edit_ratio(message["model_original"], message["content"])
        locked = position < prefix and not (
            role == MessageRole.SYSTEM and not project.fixed_system_message
        )
        rows.append(
            {
                **message,
                "position": position,
                "number": position + 1,
                "edit_ratio": ratio,
                "origin_label": _origin_label(message.get("origin", ""), ratio),
                "tokens": counts.per_message[position] if position < len(counts.per_message) else 0,
                "locked": locked,
                "is_prompt": locked and role == MessageRole.USER,
                "comments": comments.get(position, []),
                "parts_json": _parts_json(message),
            }
        )
    return rows


def _posted_dicts(request, conversation: Conversation) -> list[dict]:
    """The messages as typed (not yet saved), with origins worked out like the save does."""
    roles, contents = request.POST.getlist("role"), request.POST.getlist("content")
    parts, drafts = request.POST.getlist("parts"), request.POST.getlist("draft_request")
    messages = []
    for position, (role, content) in enumerate(zip(roles, contents, strict=False)):
        if role not in MessageRole.values:
            continue
        draft = drafts[position] if position < len(drafts) else ""
        messages.append(
            {
                **_posted_parts(parts[position] if position < len(parts) else ""),
                "role": role,
                "content": content.replace("\r\n", "\n"),
                "draft_request": int(draft) if draft.isdigit() else None,
            }
        )
    return typed_messages(conversation=conversation, messages=messages)


def _posted_parts(value: str) -> dict:
    """A card's structured parts as posted (JSON); the checks report anything malformed."""
    try:
        parts = json.loads(value) if value else {}
    except ValueError:
        return {}
    return (
        {key: parts[key] for key in STRUCTURED_PARTS if key in parts}
        if isinstance(parts, dict)
        else {}
    )


def _check_marks(results, counts) -> str:
    """What the page's script puts on each card: tokens per part and where each check points
    (message, part, call id, JSON path), as JSON for a data attribute."""
    return json.dumps(
        {
            "per_part": counts.per_part,
            "results": [
                {
                    "position": result.position,
                    "part": result.part,
                    "call_id": result.call_id,
                    "path": result.path,
                    "message": result.message,
                    "blocking": result.blocking,
                }
                for result in results
                if result.position is not None
            ],
        }
    )


def _parts_json(message: dict) -> str:
    return json.dumps({key: message[key] for key in STRUCTURED_PARTS if message.get(key)})


@member_required
@require_GET
def editor(request, conversation_id: int):
    conversation = own_conversation(request.user, editor_conversation(conversation_id))
    if conversation.project.is_ranking:
        # Every link to a task (next task, my work, notifications) lands on its own page.
        return redirect("conversations:ranking", conversation.pk)
    messages = message_dicts(list(conversation.messages.all()))
    results, counts = conversation_checks(conversation=conversation, messages=messages)
    change_request = latest_change_request(conversation)
    comments: dict[int, list] = {}
    if change_request:
        for comment in change_request.message_comments.all():
            comments.setdefault(comment.message_position, []).append(comment)
    project = conversation.project
    return render(
        request,
        TEMPLATE,
        {
            "conversation": conversation,
            "project": project,
            "lease": _lease_state(conversation),
            "rows": _message_rows(conversation, messages, counts, comments),
            "results": results,
            "counts": counts,
            "marks": _check_marks(results, counts),
            "editable": conversation.state in EDITABLE_STATES,
            "change_request": change_request,
            "guidelines": current_guidelines(project),
            "guidelines_notice": guidelines_notice(user=request.user, project=project),
            "ai_drafts": ai_drafts_available(project),
            "pending_drafts": pending_draft_requests(conversation),
            "can_add_system": project.system_message_allowed
            and not project.fixed_system_message
            and not (messages and messages[0]["role"] == MessageRole.SYSTEM),
        },
    )


def _lease_state(conversation: Conversation) -> dict | None:
    """The draft's lease, for the header and the notice shown once it ran out.

    The rule (labeling.services.assignment): a lease that ran out gives the prompt's slot
    back, but the conversation stays the labeler's: saving and submitting still work, and
    submitting takes the slot again (task_complete). Only drafts hold a lease; a
    conversation returned for changes finished its task long ago.
    """
    assignment = conversation.assignment
    if conversation.state != ConversationState.DRAFT or assignment is None:
        return None
    if assignment.status not in (Assignment.Status.LEASED, Assignment.Status.EXPIRED):
        return None
    return {"expires_at": assignment.lease_expires_at, "expired": not lease_is_active(assignment)}


@member_required
@require_POST
def preview(request, conversation_id: int):
    """The sanitized markdown of one message as typed."""
    own_conversation(request.user, conversation_for_access(conversation_id))
    return render(
        request,
        f"{TEMPLATE}#preview",
        {"html": render_markdown(request.POST.get("content", ""))},
    )


@member_required
@require_POST
def checks(request, conversation_id: int):
    """Checks and token counts over the text being typed, with per-message badges (out of band)."""
    conversation = own_conversation(request.user, editor_conversation(conversation_id))
    messages = _posted_dicts(request, conversation)
    results, counts = conversation_checks(conversation=conversation, messages=messages)
    return render(
        request,
        f"{TEMPLATE}#checks",
        {
            "conversation": conversation,
            "results": results,
            "counts": counts,
            "marks": _check_marks(results, counts),
            "rows": _message_rows(conversation, messages, counts, {}),
            "oob": True,
        },
    )


@member_required
@require_POST
def submit(request, conversation_id: int):
    conversation = own_conversation(request.user, conversation_for_access(conversation_id))
    editor_url = reverse("conversations:editor", args=[conversation.pk])
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        flash.error(request, "The page did not send the version it edited: reload and try again.")
        return redirect(editor_url)
    try:
        task = task_submit(
            conversation_id=conversation.pk, user=request.user, expected_version=version
        )
    except VersionConflict as error:
        flash.error(request, f"{error} Your text is kept in this browser: compare and merge below.")
        return redirect(editor_url)
    except ChecksFailed as error:
        flash.error(request, str(error))
        return redirect(editor_url)
    except ConversationError as error:
        flash.error(request, str(error))
        return redirect(editor_url)
    if task.found:
        # The notice carries a link back to My tasks (base.html, by this tag).
        flash.success(request, "Submitted for review ✓ Here is your next task.", "my-tasks")
        return redirect("conversations:editor", task.conversation_id)
    flash.success(request, "Submitted for review ✓ Thank you!")
    flash.info(request, f"Nothing left for you right now. {task.message}", "no-task")
    return redirect("conversations:labeler-home")


@member_required
@require_POST
def draft_create(request, conversation_id: int):
    conversation = own_conversation(request.user, conversation_for_access(conversation_id))
    try:
        position = int(request.POST.get("position", ""))
        draft_request = draft_request_create(
            conversation_id=conversation.pk, user=request.user, message_position=position
        )
    except QueueUnavailable as down:
        # The request is saved and queued: celery beat sends it once the broker is back.
        # 200 like the other messages here: htmx swaps in only a 2xx answer.
        return render(request, f"{TEMPLATE}#draft-status", {"error": str(down)}, status=200)
    except ValueError as error:  # ConversationError is a ValueError too
        message = str(error) if isinstance(error, ConversationError) else "position: a number."
        return render(request, f"{TEMPLATE}#draft-status", {"error": message}, status=200)
    return render(
        request,
        f"{TEMPLATE}#draft-status",
        {"conversation": conversation, "draft": draft_request},
    )


@member_required
@require_GET
def draft_status(request, conversation_id: int, draft_request_id: int):
    conversation = own_conversation(request.user, conversation_for_access(conversation_id))
    # A request whose worker died or never came is reported as failed: polling ends.
    draft_requests_expire_stale(conversation_id=conversation.pk)
    draft_request = draft_request_get(conversation, draft_request_id)
    return render(
        request,
        f"{TEMPLATE}#draft-status",
        {"conversation": conversation, "draft": draft_request},
    )


@member_required
@require_POST
def guidelines_read(request, conversation_id: int):
    conversation = own_conversation(request.user, conversation_for_access(conversation_id))
    guidelines_mark_read(user=request.user, project=conversation.project)
    if request.htmx:
        return HttpResponse("")
    return redirect("conversations:editor", conversation.pk)
