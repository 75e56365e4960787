import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation
from conversations.services import next_task, task_skip
from labeling.models import Assignment, ProjectStatus, Prompt
from labeling.services import guidelines_save, leases_expire, member_token, task_complete
from labeling.services.assignment import TaskError
from tests.factories import ProjectFactory, PromptFactory, UserFactory, prompts_imported


def _lease(user, project=None):
    task = next_task(user, project)
    assert task.found, task.message
    return task.assignment


@pytest.mark.django_db
def test_next_task_leases_a_prompt_and_starts_its_conversation():
    prompt = PromptFactory(text="What is a closure?")
    labeler = UserFactory()
    task = next_task(labeler)
    assert task.found and not task.resumed
    assert task.assignment.prompt == prompt
    assert task.assignment.lease_expires_at > timezone.now() + timedelta(minutes=119)
    conversation = Conversation.objects.get(pk=task.conversation_id)
    assert conversation.labeler == labeler and conversation.assignment == task.assignment
    prompt.refresh_from_db()
    assert prompt.slots_taken == 1


@pytest.mark.django_db
def test_an_unexpired_lease_is_resumed_not_doubled():
    PromptFactory.create_batch(3)
    labeler = UserFactory()
    first = next_task(labeler)
    again = next_task(labeler)
    assert again.resumed
    assert again.assignment.pk == first.assignment.pk
    assert again.conversation_id == first.conversation_id
    assert Assignment.objects.filter(labeler=labeler).count() == 1


@pytest.mark.django_db
def test_order_is_priority_then_fewest_conversations_then_oldest():
    low = ProjectFactory(priority=0, replications=2)
    high = ProjectFactory(priority=5, replications=2)
    old_low = PromptFactory(project=low)
    first_high, second_high = PromptFactory(project=high), PromptFactory(project=high)
    ana, ben, cy = UserFactory(), UserFactory(), UserFactory()
    assert _lease(ana).prompt == first_high
    # first_high now has one conversation: the untouched second_high comes first.
    assert _lease(ben).prompt == second_high
    assert _lease(cy).prompt == first_high
    assert old_low.assignments.count() == 0


@pytest.mark.django_db
def test_domains_decide_who_gets_what():
    python_project = ProjectFactory(domains=["python"])
    open_project = ProjectFactory(priority=-1)
    python_prompt = PromptFactory(project=python_project)
    law_prompt_in_open_project = PromptFactory(project=open_project, domain=None)
    PromptFactory(project=open_project, domain=python_project.domains.get())

    biologist = UserFactory(labeler_domains=["biology"])
    # Not in the python project, and never the python prompt of the open project.
    assert _lease(biologist).prompt == law_prompt_in_open_project
    task_skip(user=biologist, assignment_id=biologist.assignments.get().pk, reason="not mine")
    nothing = next_task(biologist)
    assert not nothing.found and nothing.reason == "all_done"

    pythonista = UserFactory(labeler_domains=["python"])
    assert _lease(pythonista).prompt == python_prompt


@pytest.mark.django_db
def test_labeler_without_domains_is_told_so():
    ProjectFactory(domains=["python"])
    task = next_task(UserFactory(labeler_domains=[]))
    assert not task.found
    assert task.reason == "no_domains"
    assert "no domains" in task.message


@pytest.mark.django_db
def test_paused_project_gives_nothing_and_says_paused():
    project = ProjectFactory(status=ProjectStatus.PAUSED)
    PromptFactory(project=project)
    labeler = UserFactory()
    for task in (next_task(labeler), next_task(labeler, project)):
        assert not task.found
        assert task.reason == "project_paused"
        assert "paused" in task.message


@pytest.mark.django_db
def test_lease_expiry_frees_the_slot_for_someone_else():
    prompt = PromptFactory()
    ana, ben = UserFactory(), UserFactory()
    lease = _lease(ana)
    assert next_task(ben).reason == "all_done"

    Assignment.objects.filter(pk=lease.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    # Freed at selection time, without waiting for the periodic task.
    assert _lease(ben).prompt == prompt
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.EXPIRED
    prompt.refresh_from_db()
    assert prompt.slots_taken == 1


@pytest.mark.django_db
def test_periodic_expiry_gives_slots_back():
    prompt = PromptFactory()
    lease = _lease(UserFactory())
    assert leases_expire(now=lease.lease_expires_at + timedelta(seconds=1)) == 1
    prompt.refresh_from_db()
    assert prompt.slots_taken == 0


@pytest.mark.django_db
def test_skip_frees_the_slot_and_the_prompt_never_comes_back():
    prompt = PromptFactory()
    ana, ben = UserFactory(), UserFactory()
    lease = _lease(ana)
    skipped = task_skip(user=ana, assignment_id=lease.pk, reason="Needs chemistry knowledge")
    assert skipped.status == Assignment.Status.SKIPPED
    assert skipped.skip_reason == "Needs chemistry knowledge"
    assert not Conversation.objects.filter(assignment=lease).exists()
    assert next_task(ana).reason == "all_done"
    assert _lease(ben).prompt == prompt


@pytest.mark.django_db
def test_skip_needs_a_reason_and_only_your_own_task():
    PromptFactory()
    ana, ben = UserFactory(), UserFactory()
    lease = _lease(ana)
    with pytest.raises(TaskError, match="reason"):
        task_skip(user=ana, assignment_id=lease.pk, reason="  ")
    with pytest.raises(Assignment.DoesNotExist):
        task_skip(user=ben, assignment_id=lease.pk, reason="not mine")


@pytest.mark.django_db
def test_an_expired_lease_of_yours_comes_back_with_your_draft():
    PromptFactory()
    ana = UserFactory()
    first = next_task(ana)
    Assignment.objects.filter(pk=first.assignment.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    again = next_task(ana)
    assert again.found and again.assignment.pk == first.assignment.pk
    assert again.conversation_id == first.conversation_id
    assert again.assignment.status == Assignment.Status.LEASED


@pytest.mark.django_db(transaction=True)
def test_twenty_labelers_racing_never_overfill_a_prompt():
    """200 concurrent next-task calls from real threads, each with its own connection."""
    project = ProjectFactory(replications=2)
    prompts = PromptFactory.create_batch(30, project=project)
    labelers = [UserFactory(username=f"racer-{i}") for i in range(20)]
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def work(labeler):
        try:
            barrier.wait()
            for _ in range(10):
                task = next_task(labeler)
                if task.found:
                    # Hand the task in so the next call leases a new prompt.
                    Assignment.objects.filter(pk=task.assignment.pk).update(
                        status=Assignment.Status.SUBMITTED
                    )
        except BaseException as error:  # noqa: BLE001 - reported to the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(labeler,)) for labeler in labelers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors

    pairs = list(Assignment.objects.values_list("prompt_id", "labeler_id"))
    per_prompt = Counter(prompt_id for prompt_id, _ in pairs)
    assert max(per_prompt.values()) <= 2
    assert len(pairs) == len(set(pairs)), "someone got the same prompt twice"
    assert sorted(per_prompt) == sorted(p.pk for p in prompts)
    assert sum(per_prompt.values()) == 60, "every slot is used"
    assert set(Prompt.objects.values_list("slots_taken", flat=True)) == {2}
    assert connection.vendor in ("postgresql", "sqlite")


@pytest.mark.django_db
def test_completing_a_task_keeps_the_slot_count_right():
    prompt = PromptFactory()
    on_time, late = UserFactory(), UserFactory()
    project = prompt.project
    project.replications = 2
    project.save()
    first = _lease(on_time)
    second = _lease(late)
    Assignment.objects.filter(pk=second.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert leases_expire() == 1
    task_complete(assignment_id=first.pk)
    task_complete(assignment_id=second.pk)
    task_complete(assignment_id=second.pk)
    prompt.refresh_from_db()
    assert prompt.slots_taken == 2
    assert set(prompt.assignments.values_list("status", flat=True)) == {"submitted"}


def _lease_statements(captured) -> list[str]:
    """The statements a next-task request makes for its lease: without the transaction's
    own (BEGIN, COMMIT) and the authentication every API call makes (lockout check, token)."""
    skipped = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT")
    return [
        query["sql"]
        for query in captured
        if not query["sql"].startswith(skipped)
        and "axes_accessattempt" not in query["sql"]
        and "authtoken_token" not in query["sql"]
    ]


@pytest.mark.django_db
def test_a_new_lease_takes_the_same_few_statements_with_10_or_2000_prompts():
    counts = []
    for size in (10, 2000):
        project = ProjectFactory(domains=["python"])
        guidelines_save(project=project, body="Be precise.", user=None)
        prompts_imported(
            project,
            (
                {"prompt": f"Question {n}?", "domain": "python" if n % 3 else None}
                for n in range(size)
            ),
        )
        labeler = UserFactory(labeler_domains=["python", "law"])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {member_token(user=labeler)}")
        with CaptureQueriesContext(connection) as captured:
            response = client.post("/api/tasks/next/", {}, format="json")
        assert response.status_code == 200 and not response.json()["resumed"]
        assert response.json()["prompt"]["domain"] is None  # "Question 0?", the oldest
        conversation = Conversation.objects.get(pk=response.json()["conversation"])
        assert conversation.guideline_version is not None
        counts.append(len(_lease_statements(captured)))
        project.status = ProjectStatus.ARCHIVED
        project.save(update_fields=["status"])
    assert counts[0] == counts[1] <= 8, counts
