"""The history page: every revision and review of a conversation in one timeline, and a
word diff per message between any two revisions."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from conversations.diffing import word_diff
from conversations.selectors.history import conversation_history, history_conversation
from labeling.permissions import (
    can_edit_conversation,
    can_review_conversation,
    can_view_conversation_history,
    member_required,
)


@member_required
@require_GET
def history(request, conversation_id: int):
    """Its author, admins and the reviewers who may review it; anyone else gets a 404."""
    conversation = history_conversation(conversation_id=conversation_id)
    if conversation is None or not can_view_conversation_history(request.user, conversation):
        raise Http404("No such conversation.")
    found = conversation_history(conversation=conversation)
    revisions = found.revisions
    older = found.revision(_number(request, "from")) or (
        revisions[-2] if len(revisions) > 1 else None
    )
    newer = found.revision(_number(request, "to")) or (revisions[-1] if revisions else None)
    return render(
        request,
        "conversations/history.html",
        {
            "conversation": conversation,
            "history": found,
            "revisions": revisions,
            "older": older,
            "newer": newer,
            "diffs": revision_diff(older, newer),
            "back": _back_link(request.user, conversation),
        },
    )


def _number(request, name: str) -> int | None:
    try:
        return int(request.GET[name])
    except (KeyError, ValueError):
        return None


def _back_link(user, conversation) -> tuple[str, str] | None:
    """Where this person came from: their editor, or the review page."""
    if can_edit_conversation(user, conversation):
        return reverse("conversations:editor", args=[conversation.pk]), "the conversation"
    if can_review_conversation(user, conversation):
        return reverse("conversations:review", args=[conversation.pk]), "the review"
    return None


def revision_diff(older, newer) -> list[dict]:
    """Per message position: role and the word diff from `older` to `newer` (either may be None)."""
    if newer is None:
        return []
    # The first revision has nothing before it: show its text as it is, not as all new.
    old_messages = older.messages if older else newer.messages
    rows = []
    for position in range(max(len(old_messages), len(newer.messages))):
        old = old_messages[position] if position < len(old_messages) else None
        new = newer.messages[position] if position < len(newer.messages) else None
        shown = new or old
        assert shown is not None  # position is below the longer list's length
        rows.append(
            {
                "number": position + 1,
                "role": shown["role"],
                "diff": word_diff(old["content"] if old else "", new["content"] if new else ""),
                "changed": (old or {}).get("content") != (new or {}).get("content"),
                "first": older is None,
            }
        )
    return rows
