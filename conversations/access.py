"""Loading a conversation for the person asking, with labeling.permissions deciding.

Shared by the HTML views and the API (DRF turns Django's Http404 and PermissionDenied
into its own 404 and 403): "not yours" is a 404 that does not reveal the conversation,
reviewing one's own work a 403 that says why.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from conversations.models import Conversation
from conversations.selectors.review import conversation_for_review
from conversations.services import NotReviewable, ReviewError, SelfReviewError
from labeling.permissions import can_edit_conversation, can_review_conversation, is_self_review

SELF_REVIEW = "You wrote this conversation, so someone else has to review it."


def own_conversation(user, conversation: Conversation) -> Conversation:
    """The conversation, if `user` writes it; 404 otherwise (nobody sees another's draft)."""
    if not can_edit_conversation(user, conversation):
        raise Http404("No such conversation.")
    return conversation


def conversation_to_review(user, conversation_id: int) -> Conversation:
    """The conversation, if `user` may review it: 403 for their own, 404 otherwise."""
    conversation = conversation_for_review(conversation_id=conversation_id)
    if conversation is None:
        raise Http404("No such conversation.")
    if is_self_review(user, conversation):
        raise PermissionDenied(SELF_REVIEW)
    if not can_review_conversation(user, conversation):
        raise Http404("No such conversation.")
    return conversation


def raise_review_refusal(error: ReviewError) -> None:
    """A refusal that is about access, not input: own work → 403, not reviewable → 404."""
    if isinstance(error, SelfReviewError):
        raise PermissionDenied(str(error)) from error
    if isinstance(error, NotReviewable):
        raise Http404(str(error)) from error
