"""A conversation's history: its revisions and the reviews that judged them, in one timeline.

One read for the browser's history page and `GET /api/conversations/<id>/history/`;
who may see it is `labeling.permissions.can_view_conversation_history`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conversations.models import Conversation, Review, Revision
from conversations.selectors.review import (
    conversation_for_review,
    conversation_reviews,
    conversation_revisions,
)

REVISION = "revision"
REVIEW = "review"


@dataclass(frozen=True)
class HistoryEntry:
    """One event: a revision stored (submit, import, edit in review) or a review decided."""

    type: str  # REVISION or REVIEW
    at: object  # datetime
    revision: Revision | None = None
    review: Review | None = None


@dataclass(frozen=True)
class ConversationHistory:
    conversation: Conversation
    revisions: list[Revision]
    reviews: list[Review]
    timeline: list[HistoryEntry] = field(default_factory=list)

    def revision(self, number: int | None) -> Revision | None:
        return next((r for r in self.revisions if r.number == number), None)


def history_conversation(*, conversation_id: int) -> Conversation | None:
    """The conversation with what the access rule reads (project domains, prompt domain)."""
    return conversation_for_review(conversation_id=conversation_id)


def conversation_history(*, conversation: Conversation) -> ConversationHistory:
    """Revisions and reviews (with reviewer, revision and message comments), oldest first,
    merged into one timeline; a review comes after the revision it judged. Three queries
    whatever the length of the history."""
    revisions = conversation_revisions(conversation=conversation)
    reviews = conversation_reviews(conversation=conversation)
    timeline = [HistoryEntry(REVISION, r.created_at, revision=r) for r in revisions]
    timeline += [HistoryEntry(REVIEW, r.created_at, review=r) for r in reviews]
    # Same instant (one transaction): the revision first, then the reviews of it.
    timeline.sort(key=lambda entry: (entry.at, entry.type == REVIEW))
    return ConversationHistory(conversation, revisions, reviews, timeline)
