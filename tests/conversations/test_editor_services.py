"""Saving with a version, origins of model text, submit with checks, constant query counts."""

import pytest

from conversations.models import ConversationState, DraftRequest, MessageOrigin, Revision
from conversations.services import (
    ChecksFailed,
    ConversationError,
    VersionConflict,
    conversation_save,
    conversation_submit,
)
from labeling.models import Assignment
from tests.conversations.factories import started_conversation
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def stored(conversation):
    return [(m.role, m.content, m.origin) for m in conversation.messages.order_by("position")]


def typed(conversation, *contents):
    """The prompt as it is, then the given user/assistant contents alternating."""
    prompt = conversation.messages.get(position=0)
    messages = [{"role": prompt.role, "content": prompt.content}]
    for index, content in enumerate(contents):
        messages.append({"role": "assistant" if index % 2 == 0 else "user", "content": content})
    return messages


def save_and_submit(conversation, answer, *, version):
    """The labeler saves `answer` over `version`, then submits the version that save made."""
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=version,
        messages=typed(conversation, answer),
    )
    conversation_submit(
        conversation_id=conversation.pk, user=conversation.labeler, expected_version=version + 1
    )


def test_save_replaces_the_messages_and_bumps_the_version():
    conversation = started_conversation()
    saved = conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=1,
        messages=typed(conversation, "Answer one", "Follow-up?", "Answer two"),
    )
    assert saved.version == 2
    assert [c for _, c, _ in stored(conversation)][1:] == ["Answer one", "Follow-up?", "Answer two"]
    # Removing the last turn deletes its messages.
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=2,
        messages=typed(conversation, "Answer one"),
    )
    assert len(stored(conversation)) == 2


def test_stale_version_is_refused_and_nothing_is_written():
    conversation = started_conversation()
    user = conversation.labeler
    conversation_save(
        conversation_id=conversation.pk,
        user=user,
        expected_version=1,
        messages=typed(conversation, "From tab A"),
    )
    with pytest.raises(VersionConflict) as conflict:
        conversation_save(
            conversation_id=conversation.pk,
            user=user,
            expected_version=1,
            messages=typed(conversation, "From tab B"),
        )
    assert conflict.value.conversation.version == 2
    assert stored(conversation)[1][1] == "From tab A"


def test_only_the_author_saves_and_the_prompt_is_read_only():
    conversation = started_conversation()
    other = UserFactory(roles=["labeler"])
    with pytest.raises(ConversationError, match="Only the labeler"):
        conversation_save(
            conversation_id=conversation.pk,
            user=other,
            expected_version=1,
            messages=typed(conversation, "x"),
        )
    changed_prompt = typed(conversation, "x")
    changed_prompt[0]["content"] = "A different question"
    with pytest.raises(ConversationError, match="the prompt cannot be changed"):
        conversation_save(
            conversation_id=conversation.pk,
            user=conversation.labeler,
            expected_version=1,
            messages=changed_prompt,
        )
    with pytest.raises(ConversationError, match=r"messages\[1\]\.role"):
        conversation_save(
            conversation_id=conversation.pk,
            user=conversation.labeler,
            expected_version=1,
            messages=[
                changed_prompt[0] | {"content": conversation.prompt.text},
                {"role": "robot", "content": "x"},
            ],
        )


def test_editing_an_ai_draft_makes_it_model_edited_and_keeps_the_original():
    conversation = started_conversation(draft="The model's draft.")
    assert stored(conversation)[1] == ("assistant", "The model's draft.", MessageOrigin.MODEL)
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=1,
        messages=typed(conversation, "The model's draft, corrected."),
    )
    message = conversation.messages.get(position=1)
    assert message.origin == MessageOrigin.MODEL_EDITED
    assert message.model_original == "The model's draft."
    # Back to the exact model text: origin model again.
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=2,
        messages=typed(conversation, "The model's draft."),
    )
    assert conversation.messages.get(position=1).origin == MessageOrigin.MODEL


def test_a_finished_ai_draft_request_marks_the_turn_as_model_written():
    conversation = started_conversation()
    draft = DraftRequest.objects.create(
        conversation=conversation,
        message_position=1,
        status=DraftRequest.Status.SUCCEEDED,
        text="Drafted by the endpoint.",
    )
    messages = typed(conversation, "Drafted by the endpoint.")
    messages[1]["draft_request"] = draft.pk
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=1,
        messages=messages,
    )
    message = conversation.messages.get(position=1)
    assert (message.origin, message.model_original) == (
        MessageOrigin.MODEL,
        "Drafted by the endpoint.",
    )
    queued = DraftRequest.objects.create(conversation=conversation, message_position=1)
    messages[1]["draft_request"] = queued.pk
    with pytest.raises(ConversationError, match="no finished AI draft"):
        conversation_save(
            conversation_id=conversation.pk,
            user=conversation.labeler,
            expected_version=2,
            messages=messages,
        )


def test_submit_refuses_blocking_checks_and_says_which_message():
    conversation = started_conversation()
    with pytest.raises(ChecksFailed) as failed:
        conversation_submit(
            conversation_id=conversation.pk, user=conversation.labeler, expected_version=1
        )
    assert "Message 2 (assistant) is empty" in str(failed.value)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.DRAFT
    assert not conversation.revisions.exists()


def test_submit_stores_a_revision_completes_the_lease_and_locks_editing():
    conversation = started_conversation()
    save_and_submit(conversation, "A careful answer.", version=1)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED
    revision = conversation.current_revision
    assert revision.kind == Revision.Kind.SUBMIT
    assert revision.messages[1]["content"] == "A careful answer."
    assert (
        Assignment.objects.get(pk=conversation.assignment_id).status == Assignment.Status.SUBMITTED
    )
    with pytest.raises(ConversationError, match="cannot be edited"):
        conversation_save(
            conversation_id=conversation.pk,
            user=conversation.labeler,
            expected_version=3,
            messages=typed(conversation, "Sneaky change"),
        )


def test_a_conversation_returned_for_changes_can_be_edited_and_resubmitted():
    conversation = started_conversation()
    save_and_submit(conversation, "First try.", version=1)
    conversation.refresh_from_db()
    conversation.state = ConversationState.CHANGES_REQUESTED
    conversation.save()
    save_and_submit(conversation, "Second try.", version=3)
    assert [r.messages[1]["content"] for r in conversation.revisions.order_by("number")] == [
        "First try.",
        "Second try.",
    ]


def test_reviewer_save_needs_a_submitted_conversation_and_stores_a_review_revision():
    conversation = started_conversation()
    reviewer = UserFactory(roles=["reviewer"])
    with pytest.raises(ConversationError, match="submitted"):
        conversation_save(
            conversation_id=conversation.pk,
            user=reviewer,
            expected_version=1,
            messages=typed(conversation, "x"),
            kind="review",
        )
    save_and_submit(conversation, "Labeler text.", version=1)
    conversation_save(
        conversation_id=conversation.pk,
        user=reviewer,
        expected_version=3,
        messages=typed(conversation, "Reviewer text."),
        kind="review",
        reason="typo",
    )
    conversation.refresh_from_db()
    assert conversation.current_revision.kind == Revision.Kind.REVIEW_EDIT
    assert conversation.current_revision.reason == "typo"


@pytest.mark.parametrize("turns", [2, 20])
def test_a_save_costs_the_same_queries_whatever_the_number_of_turns(
    turns, django_assert_num_queries
):
    project = ProjectFactory(max_turns=30)
    conversation = started_conversation(project=project)
    contents = []
    for turn in range(turns):
        if turn:
            contents.append(f"Question {turn}?")
        contents.append(f"Answer {turn}.")
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=1,
        messages=typed(conversation, *contents),
    )
    contents[-1] = "Answer, edited while typing."
    messages = typed(conversation, *contents)
    # lock + project/prompt, messages, one bulk update, version bump (+ savepoint pair)
    with django_assert_num_queries(6):
        conversation_save(
            conversation_id=conversation.pk,
            user=conversation.labeler,
            expected_version=2,
            messages=messages,
        )


def test_adding_a_system_message_keeps_the_ai_drafts_origin_and_the_prompt_locked():
    project = ProjectFactory(system_message_allowed=True)
    conversation = started_conversation(project=project, draft="Model text.")
    prompt = {"role": "user", "content": conversation.prompt.text}
    conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=1,
        messages=[
            {"role": "system", "content": "Be brief."},
            prompt,
            {"role": "assistant", "content": "Model text."},
        ],
    )
    assert stored(conversation) == [
        ("system", "Be brief.", MessageOrigin.HUMAN),
        ("user", conversation.prompt.text, MessageOrigin.HUMAN),
        ("assistant", "Model text.", MessageOrigin.MODEL),
    ]
    assert conversation.messages.get(position=2).model_original == "Model text."
    with pytest.raises(ConversationError, match="the prompt cannot be changed"):
        conversation_save(
            conversation_id=conversation.pk,
            user=conversation.labeler,
            expected_version=2,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "assistant", "content": "x"},
            ],
        )
