"""A labeler's tasks: the next lease with its conversation, and giving a task back.

The lease rules live in `labeling.services.assignment`; these add the conversation side.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from labeling.models import Assignment, Project, User
from labeling.services.assignment import assignment_next, assignment_skip, task_lock

from .authoring import conversation_set_aside, conversation_start, conversation_submit
from .ranking import ranking_set_aside, ranking_start


@dataclass(frozen=True)
class NextTask:
    """What `next_task` found: a lease (new or resumed) with its conversation, or the
    specific reason there is none (see `labeling.services.assignment.NextLease`)."""

    assignment: Assignment | None = None
    conversation_id: int | None = None
    resumed: bool = False
    reason: str = ""
    message: str = ""

    @property
    def found(self) -> bool:
        return self.assignment is not None


@transaction.atomic
def next_task(user: User, project: Project | None = None) -> NextTask:
    """The person's next task: `assignment_next`'s lease, and its conversation started
    (created with the prompt and any AI draft on first call; in a ranking project with the
    prompt and its shuffled candidates) in the same transaction."""
    lease = assignment_next(user=user, project=project)
    if lease.assignment is None:
        return NextTask(reason=lease.reason, message=lease.message)
    if lease.assignment.project.is_ranking:
        conversation = ranking_start(assignment=lease.assignment)
    else:
        conversation = conversation_start(
            assignment=lease.assignment,
            new_lease=lease.created,
            guideline_version_id=lease.guideline_version_id,
        )
    return NextTask(
        assignment=lease.assignment, conversation_id=conversation.pk, resumed=lease.resumed
    )


def task_submit(*, conversation_id: int, user: User, expected_version: int) -> NextTask:
    """Submit the labeler's conversation (`conversation_submit`, which raises what it refuses),
    then lease their next task: in the same project first, else in any project.

    Not one transaction on purpose: the submission stands whatever the next lease finds.
    """
    conversation = conversation_submit(
        conversation_id=conversation_id, user=user, expected_version=expected_version
    )
    task = next_task(user, conversation.project)
    return task if task.found else next_task(user)


@transaction.atomic
def task_skip(*, user: User, assignment_id: int, reason: str) -> Assignment:
    """Give a task back with a reason (`assignment_skip`). A draft holding the labeler's
    writing is kept as abandoned (nothing they wrote is lost); an untouched seeded draft is
    removed.

    Lock order (labeling.services.assignment): the person and the assignment, then the
    draft, then the prompt inside `assignment_skip` (which finds the first two held), then
    the project's counts. A refused skip rolls the set-aside back with everything else.
    """
    assignment = task_lock(user=user, assignment_id=assignment_id)
    set_aside = None
    if assignment is not None:
        set_aside_draft = (
            ranking_set_aside if assignment.project.is_ranking else conversation_set_aside
        )
        set_aside = set_aside_draft(assignment=assignment)
    skipped = assignment_skip(user=user, assignment_id=assignment_id, reason=reason)
    if set_aside is not None:
        set_aside.count_move(shard_by=user.pk)  # last: the counts' rows follow the prompt's
    return skipped
