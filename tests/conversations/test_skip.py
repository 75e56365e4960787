"""Skip never loses written text, and skip and submit racing in two tabs never deadlock."""

import threading

import pytest
from django.db import connections
from django.urls import reverse

from conversations.models import Conversation, ConversationState
from conversations.services import (
    ConversationError,
    conversation_save,
    conversation_submit,
    next_task,
    task_skip,
)
from labeling.models import Assignment, Prompt
from labeling.services.assignment import TaskError
from tests.factories import PromptFactory, UserFactory


def _leased() -> Conversation:
    """A labeler's conversation from a real lease (the prompt's slot taken)."""
    PromptFactory()
    task = next_task(UserFactory())
    assert task.found, task.message
    return Conversation.objects.get(pk=task.conversation_id)


def _typed(conversation: Conversation, answer: str) -> Conversation:
    """What the editor's autosave does with the labeler's answer."""
    messages = [
        {"role": m.role, "content": m.content} for m in conversation.messages.order_by("position")
    ]
    messages[-1]["content"] = answer
    return conversation_save(
        conversation_id=conversation.pk,
        user=conversation.labeler,
        expected_version=conversation.version,
        messages=messages,
    )


@pytest.mark.django_db
def test_skip_keeps_written_text_as_an_abandoned_draft_and_frees_the_prompt(client, admin_user):
    conversation = _typed(_leased(), "Closures capture their scope, so …")
    writer = conversation.labeler
    task_skip(user=writer, assignment_id=conversation.assignment_id, reason="Not my field")

    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ABANDONED
    assert conversation.messages.last().content == "Closures capture their scope, so …"
    prompt = Prompt.objects.get(pk=conversation.prompt_id)
    assert prompt.slots_taken == 0, "the prompt goes back to the pool"
    other = UserFactory()
    assert next_task(other).assignment.prompt_id == prompt.pk
    assert next_task(writer).reason == "all_done", "the writer never gets it again"

    with pytest.raises(ConversationError, match="abandoned"):
        _typed(conversation, "more")
    with pytest.raises(ConversationError, match="abandoned"):
        conversation_submit(
            conversation_id=conversation.pk, user=writer, expected_version=conversation.version
        )

    client.force_login(writer)
    home = client.get(reverse("conversations:labeler-home")).content.decode()
    assert (
        "Skipped drafts" in home and reverse("conversations:editor", args=[conversation.pk]) in home
    )
    editor = client.get(reverse("conversations:editor", args=[conversation.pk])).content.decode()
    assert "Closures capture their scope" in editor and "read only" in editor
    client.force_login(other)
    assert client.get(reverse("conversations:editor", args=[conversation.pk])).status_code == 404

    client.force_login(admin_user)
    dashboard = client.get(
        reverse("conversations:project-detail", args=[conversation.project.slug])
    )
    page = dashboard.content.decode()
    assert "Not my field" in page and "Closures capture their scope" in page


@pytest.mark.django_db
def test_skip_deletes_an_untouched_draft_and_the_confirm_box_says_what_happens(client):
    conversation = _leased()
    labeler = conversation.labeler
    client.force_login(labeler)
    home = client.get(reverse("conversations:labeler-home")).content.decode()
    assert "Anything you wrote is kept as an abandoned draft" in home
    assert "the prompt goes back to the pool" in home
    task_skip(user=labeler, assignment_id=conversation.assignment_id, reason="Unclear prompt")
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_skip_and_submit_racing_in_two_tabs_never_deadlock():
    """Real threads, each with its own connection and transaction: one action wins, the
    other is refused with a clear error, every time."""
    rounds = 12
    outcomes = []
    for _ in range(rounds):
        conversation = _typed(_leased(), "A full answer, ready to submit.")
        labeler = conversation.labeler
        barrier = threading.Barrier(2)
        results: dict[str, object] = {}

        def skip(labeler=labeler, conversation=conversation, results=results, barrier=barrier):
            try:
                barrier.wait()
                task_skip(user=labeler, assignment_id=conversation.assignment_id, reason="race")
                results["skip"] = "done"
            except (TaskError, ConversationError) as error:
                results["skip"] = error
            except BaseException as error:  # noqa: BLE001 - reported to the main thread
                results["skip"] = ("crash", error)
            finally:
                connections.close_all()

        def submit(labeler=labeler, conversation=conversation, results=results, barrier=barrier):
            try:
                barrier.wait()
                conversation_submit(
                    conversation_id=conversation.pk,
                    user=labeler,
                    expected_version=conversation.version,
                )
                results["submit"] = "done"
            except (TaskError, ConversationError) as error:
                results["submit"] = error
            except BaseException as error:  # noqa: BLE001 - reported to the main thread
                results["submit"] = ("crash", error)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=skip), threading.Thread(target=submit)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        crashes = [value for value in results.values() if isinstance(value, tuple)]
        assert not crashes, crashes
        assert list(results.values()).count("done") == 1, results

        conversation.refresh_from_db()
        assignment = Assignment.objects.get(pk=conversation.assignment_id)
        if results["submit"] == "done":
            assert conversation.state == ConversationState.SUBMITTED
            assert assignment.status == Assignment.Status.SUBMITTED
        else:
            assert conversation.state == ConversationState.ABANDONED
            assert assignment.status == Assignment.Status.SKIPPED
        assert conversation.messages.last().content == "A full answer, ready to submit."
        outcomes.append(results["submit"] == "done")
    assert len(outcomes) == rounds
