"""Approved conversations as the review flow leaves them: a current revision and its reviews."""

from __future__ import annotations

from django.utils import timezone

from conversations.models import (
    Conversation,
    ConversationState,
    Review,
    ReviewDecision,
    Revision,
)
from labeling.models import Prompt
from labeling.services import domain_get_or_create
from tests.labeling.factories import UserFactory, fold_text_key


def chat(*turns: str, system: str | None = None, origin: str = "human") -> list[dict]:
    """Messages alternating user / assistant from `turns`, as a revision stores them."""
    messages = []
    if system is not None:
        messages.append({"role": "system", "content": system, "origin": "human"})
    for index, text in enumerate(turns):
        role = "user" if index % 2 == 0 else "assistant"
        messages.append(
            {
                "role": role,
                "content": text,
                "origin": origin if role == "assistant" else "human",
                "model_original": text if origin != "human" and role == "assistant" else "",
            }
        )
    return messages


def approved_conversation(
    project,
    messages: list[dict],
    *,
    domain: str | None = None,
    scores: dict | None = None,
    state: str = ConversationState.APPROVED,
    labeler=None,
    reviewer=None,
    decided_at=None,
) -> Conversation:
    prompt = None
    if domain is not None:
        first_user = next((m["content"] for m in messages if m["role"] == "user"), "prompt")
        prompt = Prompt.objects.create(
            project=project,
            text=first_user,
            text_key=fold_text_key(first_user),
            domain=domain_get_or_create(name=domain),
        )
    now = timezone.now()
    conversation = Conversation.objects.create(
        project=project,
        prompt=prompt,
        labeler=labeler,
        state=state,
        submitted_at=now,
        decided_at=decided_at or now,
    )
    revision = Revision.objects.create(
        conversation=conversation, number=1, kind=Revision.Kind.SUBMIT, messages=messages
    )
    conversation.current_revision = revision
    conversation.save(update_fields=["current_revision"])
    if state == ConversationState.APPROVED:
        Review.objects.create(
            conversation=conversation,
            revision=revision,
            reviewer=reviewer or UserFactory(roles=["reviewer"]),
            decision=ReviewDecision.APPROVE,
            scores=scores if scores is not None else {"helpfulness": 4, "correctness": 5},
        )
    return conversation
