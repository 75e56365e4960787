"""The project's maintained counts: always equal to the rows after every change the services
make, and what the dashboard and the project list read in the same queries at any size."""

import importlib
import io
import json
import re

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conversations.models import Conversation
from conversations.services import (
    conversation_save,
    conversation_submit,
    conversations_import,
    next_task,
    review_submit,
    task_skip,
)
from conversations.services.ranking import ranking_save, ranking_submit
from labeling.models import Assignment, ProjectCount, ProjectStatus, Prompt
from labeling.services import domain_get_or_create
from labeling.services.counters import PROMPTS, RETIRED, WRITTEN
from labeling.services.prompts import prompt_retire, prompt_update
from tests.conversations.factories import CANDIDATE_TEXTS, candidate_ids, ranking_project
from tests.factories import ProjectFactory, PromptFactory, UserFactory, prompts_imported

SCORES = {"helpfulness": 5, "correctness": 4, "harmlessness": 5, "style": 4}


def _real_counts(project) -> dict[tuple[int, str], int]:
    """What the counts must say, counted from the rows themselves."""
    counted = [
        (Prompt.objects.filter(project=project), "domain_id", PROMPTS),
        (
            Prompt.objects.filter(project=project, retired_at__isnull=False),
            "domain_id",
            RETIRED,
        ),
        (
            Assignment.objects.filter(project=project, status=Assignment.Status.SUBMITTED),
            "prompt__domain_id",
            WRITTEN,
        ),
    ]
    real: dict[tuple[int, str], int] = {}
    for queryset, domain, name in counted:
        for row in queryset.values(domain).annotate(n=Count("id")).order_by():
            real[(row[domain] or 0, name)] = row["n"]
    states = (
        Conversation.objects.filter(project=project)
        .values("prompt__domain_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in states:
        real[(row["prompt__domain_id"] or 0, row["state"])] = row["n"]
    return real


def _kept_counts(project) -> dict[tuple[int, str], int]:
    kept: dict[tuple[int, str], int] = {}
    for count in ProjectCount.objects.filter(project=project):
        key = (count.domain_key, count.name)
        kept[key] = kept.get(key, 0) + count.value
    return {key: value for key, value in kept.items() if value}


def _assert_counts_match(project) -> None:
    assert _kept_counts(project) == _real_counts(project)


def _answer(conversation_id: int, user, text: str) -> Conversation:
    conversation = Conversation.objects.get(pk=conversation_id)
    messages = [
        {"role": m.role, "content": m.content} for m in conversation.messages.order_by("position")
    ]
    messages[-1]["content"] = text
    return conversation_save(
        conversation_id=conversation_id,
        user=user,
        expected_version=conversation.version,
        messages=messages,
    )


def _submit(conversation: Conversation, user) -> Conversation:
    return conversation_submit(
        conversation_id=conversation.pk, user=user, expected_version=conversation.version
    )


def _review(conversation: Conversation, reviewer, decision: str, **extra) -> None:
    review_submit(conversation_id=conversation.pk, reviewer=reviewer, decision=decision, **extra)


@pytest.mark.django_db
def test_counts_equal_the_rows_after_every_change_the_services_make():
    project = ProjectFactory(replications=2, domains=["python", "biology"])
    reviewer = UserFactory(roles=["reviewer"], reviewer_domains=["python", "biology"])
    ana, ben = (UserFactory(labeler_domains=["python", "biology"]) for _ in range(2))

    prompts = prompts_imported(
        project,
        [
            {"prompt": "What is a closure?", "domain": "python"},
            {"prompt": "What is a cell?", "domain": "biology"},
            "What is the weather like?",
        ],
    )
    _assert_counts_match(project)

    started = [next_task(ana), next_task(ben)]  # start: two drafts
    _assert_counts_match(project)

    # Skip an untouched draft (deleted), then one with writing in it (kept as abandoned).
    task_skip(user=ana, assignment_id=started[0].assignment.pk, reason="Not my field")
    _assert_counts_match(project)
    _answer(started[1].conversation_id, ben, "Something I began.")
    task_skip(user=ben, assignment_id=started[1].assignment.pk, reason="Changed my mind")
    _assert_counts_match(project)

    written = []
    for labeler in (ana, ben, ana):  # submit
        task = next_task(labeler)
        conversation = _answer(task.conversation_id, labeler, "A full and careful answer.")
        written.append((_submit(conversation, labeler), labeler))
        _assert_counts_match(project)

    first, second, third = written
    _review(first[0], reviewer, "approve", scores=SCORES)  # approve
    _assert_counts_match(project)
    _review(second[0], reviewer, "reject", comment="Off topic.")  # reject
    _assert_counts_match(project)
    _review(third[0], reviewer, "request_changes", comment="Say why.")  # request changes
    _assert_counts_match(project)
    fixed = _answer(third[0].pk, third[1], "A full and careful answer, with the reason why.")
    _submit(fixed, third[1])  # submit again: the task was already written
    _assert_counts_match(project)

    prompt_retire(prompt=prompts[0])  # retire (twice: counted once)
    prompt_retire(prompt=prompts[0])
    _assert_counts_match(project)
    (untouched,) = prompts_imported(project, [{"prompt": "What is a gene?", "domain": "biology"}])
    prompt_update(prompt=untouched, text=untouched.text, domain=domain_get_or_create(name="law"))
    _assert_counts_match(project)

    lines = "\n".join(
        json.dumps(
            {
                "id": f"c{n}",
                "messages": [
                    {"role": "user", "content": f"Hi {n}"},
                    {"role": "assistant", "content": "Hello!"},
                ],
            }
        )
        for n in range(3)
    )
    conversations_import(  # import
        project=project, stream=io.BytesIO(lines.encode()), file_name="c.jsonl", state="approved"
    )
    _assert_counts_match(project)
    assert _kept_counts(project)[(0, "approved")] == 3


def _project_of_size(size: int):
    project = ProjectFactory(replications=2, domains=["python", "biology"])
    prompts_imported(
        project,
        (
            {"prompt": f"Question {n}?", "domain": "python" if n % 2 else "biology"}
            for n in range(size)
        ),
    )
    labelers = [UserFactory(labeler_domains=["python", "biology"]) for _ in range(3)]
    for labeler in labelers:
        task = next_task(labeler)
        conversation = _answer(task.conversation_id, labeler, "A full and careful answer.")
        _submit(conversation, labeler)
        next_task(labeler)
    return project


@pytest.mark.django_db
def test_dashboard_and_project_list_take_the_same_queries_at_any_size(admin_client):
    queries, bodies = [], []
    for size in (10, 2000):
        project = _project_of_size(size)
        # Each count is read before the next request: a request's start empties the log.
        with CaptureQueriesContext(connection) as dashboard:
            response = admin_client.get(
                reverse("conversations:project-detail", args=[project.slug])
            )
        dashboard_queries = len(dashboard)
        assert response.status_code == 200
        bodies.append(response.content.decode())
        with CaptureQueriesContext(connection) as listing:
            assert admin_client.get(reverse("conversations:project-list")).status_code == 200
        queries.append((dashboard_queries, len(listing)))
        # Out of the pool, so that the next size's labelers work on the next project.
        project.status = ProjectStatus.ARCHIVED
        project.save(update_fields=["status"])
    assert queries[0] == queries[1], queries
    assert 0 < queries[0][0] <= 14 and 0 < queries[0][1] <= 6, queries
    # Totals row: prompts, retired, open slots (2 per prompt, 3 written, 3 held), leased,
    # then the states (3 drafts, 3 submitted).
    for size, body in zip((10, 2000), bodies, strict=True):
        expected = [size, 0, 2 * size - 6, 3, 3, 0, 3, 0, 0]
        totals = body.split("<tfoot>")[1].split("</tfoot>")[0]
        assert [int(n) for n in re.findall(r"<strong>(-?\d+)</strong>", totals)] == expected


@pytest.mark.django_db
def test_the_data_migration_fills_the_counts_from_existing_rows():
    from django.apps import apps

    fill = importlib.import_module("conversations.migrations.0009_project_counts_fill").fill
    project = _project_of_size(30)
    PromptFactory(project=project)  # made behind the services' back: only a recount sees it
    fill(apps, None)
    _assert_counts_match(project)


@pytest.mark.django_db
def test_counts_follow_a_ranking_through_start_skip_submit_and_review():
    project = ranking_project()
    candidates = [{"content": text} for text in CANDIDATE_TEXTS]
    prompts_imported(
        project,
        [
            {"prompt": f"Sort question {n}?", "domain": "python", "candidates": candidates}
            for n in range(3)
        ],
    )
    labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    reviewer = UserFactory(roles=["reviewer"], reviewer_domains=["python"])

    untouched = next_task(labeler, project)
    _assert_counts_match(project)
    task_skip(user=labeler, assignment_id=untouched.assignment.pk, reason="no time")
    _assert_counts_match(project)  # an untouched ranking is deleted

    worked = next_task(labeler, project)
    conversation = Conversation.objects.get(pk=worked.conversation_id)
    ranking_save(
        conversation_id=conversation.pk,
        user=labeler,
        expected_version=conversation.version,
        comment="Half done",
    )
    task_skip(user=labeler, assignment_id=worked.assignment.pk, reason="unsure")
    _assert_counts_match(project)  # kept, abandoned

    task = next_task(labeler, project)
    conversation = Conversation.objects.get(pk=task.conversation_id)
    ranking_save(
        conversation_id=conversation.pk,
        user=labeler,
        expected_version=conversation.version,
        order=[[pk] for pk in candidate_ids(conversation)],
    )
    ranking_submit(
        conversation_id=conversation.pk, user=labeler, expected_version=conversation.version + 1
    )
    _assert_counts_match(project)
    review_submit(
        conversation_id=conversation.pk, reviewer=reviewer, decision="approve", scores=SCORES
    )
    _assert_counts_match(project)
