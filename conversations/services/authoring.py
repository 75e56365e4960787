from django.db import transaction
from django.utils import timezone

from conversations.models import (
    Conversation,
    ConversationState,
    Message,
    MessageOrigin,
    MessageRole,
    Revision,
)
from labeling.models import Assignment

from .revisions import revision_create


class ConversationError(ValueError):
    """A change a person asked for that the rules do not allow; the message says why."""


class VersionConflict(ConversationError):
    """The conversation changed since the person loaded it: nothing was overwritten."""

    def __init__(self, conversation: Conversation, expected_version: int):
        self.conversation = conversation
        self.expected_version = expected_version
        super().__init__(
            f"This conversation changed since you opened it (you had version {expected_version}, "
            f"it is now {conversation.version})."
        )


def _seed_messages(assignment: Assignment) -> list[Message]:
    prompt, project = assignment.prompt, assignment.project
    messages = []
    system = project.fixed_system_message or (
        prompt.system if project.system_message_allowed else ""
    )
    if system:
        messages.append(Message(role=MessageRole.SYSTEM, content=system))
    for earlier in prompt.messages or []:
        messages.append(Message(role=earlier["role"], content=earlier["content"]))
    messages.append(Message(role=MessageRole.USER, content=prompt.text))
    if prompt.draft:
        messages.append(
            Message(
                role=MessageRole.ASSISTANT,
                content=prompt.draft,
                origin=MessageOrigin.MODEL,
                model_original=prompt.draft,
            )
        )
    else:
        messages.append(Message(role=MessageRole.ASSISTANT, content=""))
    return messages


@transaction.atomic
def conversation_start(*, assignment: Assignment) -> Conversation:
    """The conversation for a lease: created on first call with the prompt (and any AI draft)."""
    existing = Conversation.objects.filter(assignment=assignment).first()
    if existing:
        return existing
    project = assignment.project
    conversation = Conversation.objects.create(
        project=project,
        prompt=assignment.prompt,
        assignment=assignment,
        labeler=assignment.labeler,
        guideline_version=project.guideline_versions.order_by("-version").first(),
    )
    seeded = _seed_messages(assignment)
    for position, message in enumerate(seeded):
        message.conversation = conversation
        message.position = position
    Message.objects.bulk_create(seeded)
    return conversation


@transaction.atomic
def conversation_submit(*, conversation_id: int, user, expected_version: int) -> Conversation:
    """Submit a draft (or a conversation returned for changes) for review.

    Stores an immutable revision, completes the assignment and puts the conversation
    in the review queue.
    """
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    if conversation.labeler_id != user.pk:
        raise ConversationError("Only the labeler who wrote this conversation can submit it.")
    if conversation.state not in (ConversationState.DRAFT, ConversationState.CHANGES_REQUESTED):
        raise ConversationError(
            f"A {conversation.get_state_display().lower()} conversation cannot be submitted."
        )
    if conversation.version != expected_version:
        raise VersionConflict(conversation, expected_version)

    now = timezone.now()
    conversation.state = ConversationState.SUBMITTED
    conversation.submitted_at = now
    conversation.version += 1
    conversation.save(update_fields=["state", "submitted_at", "version", "updated_at"])
    revision_create(conversation=conversation, kind=Revision.Kind.SUBMIT, created_by=user)
    if conversation.assignment_id:
        Assignment.objects.filter(pk=conversation.assignment_id).update(
            status=Assignment.Status.SUBMITTED, completed_at=now
        )
    return conversation
