"""Conversations per state in the project's maintained counts (labeling.ProjectCount)."""

from __future__ import annotations

from conversations.models import Conversation, ConversationState
from labeling.services.counters import counts_add


def state_count_move(
    *,
    conversation: Conversation,
    before: ConversationState | str | None,
    after: ConversationState | str | None,
    shard_by: int = 0,
) -> None:
    """Count `conversation` out of state `before` and into `after` (None: it was created, or
    deleted). Caller runs inside the transaction that changes the state; the conversation's
    prompt is loaded or cheap to load (its domain is the count's)."""
    if before == after:
        return
    prompt = conversation.prompt if conversation.prompt_id else None
    domain_id = prompt.domain_id if prompt is not None else None
    changes = []
    if before is not None:
        changes.append((domain_id, str(before), -1))
    if after is not None:
        changes.append((domain_id, str(after), 1))
    counts_add(project_id=conversation.project_id, changes=changes, shard_by=shard_by)
