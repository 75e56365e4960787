"""Every write to conversations. Import from here: `from conversations.services import ...`."""

from .authoring import (
    ChecksFailed,
    ConversationError,
    VersionConflict,
    conversation_checks,
    conversation_save,
    conversation_set_aside,
    conversation_start,
    conversation_submit,
)
from .importing import ConversationImportError, conversations_import
from .notifications import notification_create, notifications_mark_read
from .review import (
    ClaimUnavailable,
    NotReviewable,
    ReviewError,
    SelfReviewError,
    StaleRevision,
    review_claim,
    review_claim_next,
    review_edit,
    review_release,
    review_submit,
)
from .revisions import revision_create
from .tasks import NextTask, next_task, task_skip, task_submit

__all__ = [
    "ConversationImportError",
    "conversations_import",
    "ChecksFailed",
    "ConversationError",
    "VersionConflict",
    "conversation_checks",
    "conversation_save",
    "conversation_set_aside",
    "conversation_start",
    "conversation_submit",
    "revision_create",
    "ClaimUnavailable",
    "NotReviewable",
    "ReviewError",
    "SelfReviewError",
    "StaleRevision",
    "notification_create",
    "notifications_mark_read",
    "review_claim",
    "review_claim_next",
    "review_edit",
    "review_release",
    "review_submit",
    "NextTask",
    "next_task",
    "task_skip",
    "task_submit",
]
