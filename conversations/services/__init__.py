"""Every write to conversations. Import from here: `from conversations.services import ...`."""

from .authoring import ConversationError, VersionConflict, conversation_start, conversation_submit
from .revisions import revision_create

__all__ = [
    "ConversationError",
    "VersionConflict",
    "conversation_start",
    "conversation_submit",
    "revision_create",
]
