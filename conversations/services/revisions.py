from conversations.models import Conversation, Message, Revision
from labeling.models import User
from sftpipeline.split import snapshot_dedup_key
from structured_turns.rules import STRUCTURED_DEFAULTS, snapshot_compact

SNAPSHOT_FIELDS = ("role", "content", "origin", "model_original", *STRUCTURED_DEFAULTS)


def message_snapshot(message: Message) -> dict:
    """A message as a revision stores it (structured keys only where set)."""
    return snapshot_compact({name: getattr(message, name) for name in SNAPSHOT_FIELDS})


def revision_create(
    *, conversation: Conversation, kind: str, created_by: User, reason: str = ""
) -> Revision:
    """Snapshot every message of `conversation` as an immutable revision.

    Caller holds the conversation's row lock, so revision numbers cannot collide.
    """
    last = conversation.revisions.order_by("-number").values_list("number", flat=True).first() or 0
    snapshot = [message_snapshot(m) for m in conversation.messages.order_by("position")]
    revision = Revision.objects.create(
        conversation=conversation,
        number=last + 1,
        kind=kind,
        messages=snapshot,
        content_hash=snapshot_dedup_key(snapshot),
        created_by=created_by,
        reason=reason,
    )
    conversation.current_revision = revision
    conversation.save(update_fields=["current_revision", "updated_at"])
    return revision
