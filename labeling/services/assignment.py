"""The assignment engine: the right prompt to the right expert, never twice, never lost.

Slot accounting: `Prompt.slots_taken` counts the labelers holding an unexpired lease on
the prompt plus those who submitted for it. It only changes while the prompt's row is
locked (PostgreSQL: `select_for_update`; SQLite: the whole transaction is serialized by
`BEGIN IMMEDIATE`), so it never goes past the project's `replications`.

Lock order, the same in every task action so that two tabs of one person never deadlock
(`task_lock` takes the first two): the person's row, their assignment, its conversation,
then the prompt. The conversation side lives in `conversations.services` (`task_skip`,
`conversation_submit`), which calls `task_lock` before touching the conversation and this
module's services after. `assignment_next` holds the person's row before it locks a
candidate prompt and re-leases an expired assignment of theirs, so no skip or submit of
that person's can sit between those two locks.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from core.exceptions import ApplicationError
from labeling.models import (
    Assignment,
    Candidate,
    Project,
    ProjectKind,
    ProjectStatus,
    Prompt,
    User,
)
from labeling.permissions import LABELER, domains_meet, domains_meet_q, has_role

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class TaskError(ApplicationError):
    """A task action the rules do not allow; the message says why."""


@dataclass(frozen=True)
class NextLease:
    """What `assignment_next` found: a lease (new or resumed) or the specific reason there is
    none. The conversations app turns it into a task with its conversation."""

    assignment: Assignment | None = None
    resumed: bool = False
    reason: str = (
        ""  # not_labeler | no_domains | no_projects | project_paused | project_closed | all_done
    )
    message: str = ""

    @property
    def found(self) -> bool:
        return self.assignment is not None


def _no_task(reason: str, message: str) -> NextLease:
    return NextLease(reason=reason, message=message)


def _expire_overdue(*, now: datetime, prompt_ids: Iterable[int] | None = None) -> int:
    """Expire overdue leases and give their slots back. Caller runs inside a transaction.

    Rows another transaction is already expiring are skipped rather than waited for.
    Prompt rows are updated in id order so that concurrent callers never deadlock.
    """
    overdue = Assignment.objects.filter(
        status=Assignment.Status.LEASED, lease_expires_at__lte=now
    ).order_by("id")
    if prompt_ids is not None:
        overdue = overdue.filter(prompt_id__in=prompt_ids)
    if connection.features.has_select_for_update_skip_locked:
        overdue = overdue.select_for_update(skip_locked=True)
    rows = list(overdue.values_list("id", "prompt_id"))
    if not rows:
        return 0
    Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(
        status=Assignment.Status.EXPIRED
    )
    for prompt_id, count in sorted(Counter(prompt_id for _, prompt_id in rows).items()):
        Prompt.objects.filter(pk=prompt_id).update(slots_taken=F("slots_taken") - count)
    return len(rows)


@transaction.atomic
def leases_expire(*, now: datetime | None = None) -> int:
    """Mark overdue leases expired and give their slots back. Returns how many expired."""
    return _expire_overdue(now=now or timezone.now())


def _projects_open_to(
    user: User, domain_ids: set[int], project: Project | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(open active projects, the reason there are none). One query."""
    rows = Project.objects.values_list("id", "status", "priority", "replications", "domains")
    if project is not None:
        rows = rows.filter(pk=project.pk)
    else:
        rows = rows.filter(status__in=[ProjectStatus.ACTIVE, ProjectStatus.PAUSED])
    by_project: dict[int, dict] = {}
    for pk, status, priority, replications, domain_id in rows:
        entry = by_project.setdefault(
            pk,
            {"id": pk, "status": status, "priority": priority, "replications": replications},
        )
        entry.setdefault("domains", set())
        if domain_id is not None:
            entry["domains"].add(domain_id)
    reachable = [p for p in by_project.values() if domains_meet(domain_ids, p["domains"])]
    open_projects = [p for p in reachable if p["status"] == ProjectStatus.ACTIVE]
    return open_projects, reachable


def _why_nothing(project: Project | None, domain_ids: set[int], reachable: list) -> NextLease:
    if project is not None:
        if project.status == ProjectStatus.PAUSED:
            return _no_task("project_paused", f"{project.name} is paused. Check back later.")
        if project.status != ProjectStatus.ACTIVE:
            return _no_task("project_closed", f"{project.name} is not open for work.")
        if not reachable:
            if not domain_ids:
                return _no_task(
                    "no_domains",
                    f"{project.name} needs domain experts and you have no domains set yet. "
                    "Ask an admin to add your domains.",
                )
            return _no_task("project_closed", f"{project.name} is for other domains than yours.")
        return _no_task("all_done", f"Everything in {project.name} is done for you. Thank you!")
    if not reachable:
        if not domain_ids:
            return _no_task(
                "no_domains",
                "You have no domains set yet, and every project needs domain experts. "
                "Ask an admin to add your domains.",
            )
        return _no_task("no_projects", "No project in your domains is open right now.")
    if all(p["status"] == ProjectStatus.PAUSED for p in reachable):
        return _no_task(
            "project_paused", "Your projects are paused at the moment. Check back later."
        )
    return _no_task(
        "all_done", "Everything is done: no prompt in your domains needs work right now. Thank you!"
    )


class _OwnExpiredLease(TypedDict):
    # The id of the person's own expired lease on the prompt, taken again instead of a new row.
    own_expired_id: int | None


def _lock_candidate(
    user: User, domain_ids: set[int], level: list[dict]
) -> WithAnnotations[Prompt, _OwnExpiredLease] | None:
    """Lock the best prompt of one priority level that still needs this person, or None.

    Order: fewest conversations so far (written + leased), then oldest.
    """
    needs_work = Q()
    for project in level:
        needs_work |= Q(project_id=project["id"], slots_taken__lt=project["replications"])
    own = Assignment.objects.filter(prompt=OuterRef("pk"), labeler=user)
    # A ranking prompt waits until it has two candidates to rank (AI ones may be on the way).
    rankable = Q(project__kind=ProjectKind.CONVERSATION) | Exists(
        Candidate.objects.filter(prompt=OuterRef("pk"), position=1)
    )
    candidates = (
        Prompt.objects.filter(needs_work, rankable, retired_at__isnull=True)
        .filter(domains_meet_q(domain_ids, "domain"))
        # An expired lease of theirs may be taken again; anything else (leased,
        # submitted, skipped) means never again.
        .filter(~Exists(own.exclude(status=Assignment.Status.EXPIRED)))
        .annotate(own_expired_id=Subquery(own.values("id")[:1]))
        .order_by("slots_taken", "id")
    )
    if connection.features.has_select_for_update_skip_locked:
        candidates = candidates.select_for_update(skip_locked=True, no_key=True, of=("self",))
    return candidates.select_related("project").first()


@transaction.atomic
def assignment_next(*, user: User, project: Project | None = None) -> NextLease:
    """The person's next lease: their unexpired lease if any, else a new lease on a fitting prompt.

    Picks from active projects open to the person (their labeler domains meet the
    project's, or the project has none), prompts in their domains (or without one) that
    still need work and that they have not leased, written or skipped. Order: project
    priority, fewest conversations so far, oldest. Never returns a prompt whose slots are
    all taken, even when many labelers race. Returns a `NextLease` with the lease, or the
    specific reason there is none. Labelers get theirs through `conversations.services.next_task`,
    which also starts the lease's conversation.
    """
    if not has_role(user, LABELER):
        return _no_task("not_labeler", "Only labelers take tasks.")
    now = timezone.now()
    if connection.vendor == "postgresql":
        # A lease is cheap to lose in a crash (the prompt simply stays free), so this
        # transaction does not wait for its WAL flush.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")

    # One next-task at a time per person: a double click never leases two prompts. The
    # lease lookup comes after the lock, in its own statement, to see a lease just committed.
    _lock_person(user)
    current = Assignment.objects.filter(
        labeler=user, status=Assignment.Status.LEASED, lease_expires_at__gt=now
    ).select_related("prompt", "project")
    if project is not None:
        current = current.filter(project=project)
    lease = current.order_by("lease_expires_at").first()
    if lease is not None:
        return NextLease(assignment=lease, resumed=True)

    _expire_overdue(now=now)
    domain_ids = set(user.labeler_domains.values_list("id", flat=True))
    open_projects, reachable = _projects_open_to(user, domain_ids, project)

    levels: dict[int, list[dict]] = defaultdict(list)
    for entry in open_projects:
        levels[entry["priority"]].append(entry)
    for priority in sorted(levels, reverse=True):
        prompt = _lock_candidate(user, domain_ids, levels[priority])
        if prompt is not None:
            lease = _lease(user, prompt, now)
            return NextLease(assignment=lease)
    return _why_nothing(project, domain_ids, reachable)


def _lease(
    user: User, prompt: WithAnnotations[Prompt, _OwnExpiredLease], now: datetime
) -> Assignment:
    """Caller holds the prompt's row lock."""
    expires = now + prompt.project.lease_length
    Prompt.objects.filter(pk=prompt.pk).update(slots_taken=F("slots_taken") + 1)
    if prompt.own_expired_id:
        Assignment.objects.filter(pk=prompt.own_expired_id).update(
            status=Assignment.Status.LEASED, leased_at=now, lease_expires_at=expires
        )
        lease = Assignment.objects.get(pk=prompt.own_expired_id)
    else:
        lease = Assignment.objects.create(
            prompt=prompt,
            project=prompt.project,
            labeler=user,
            leased_at=now,
            lease_expires_at=expires,
        )
    lease.prompt = prompt
    lease.project = prompt.project
    return lease


def _lock_person(user: User) -> None:
    User.objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk").first()


def task_lock(*, user: User, assignment_id: int | None) -> Assignment | None:
    """Lock the person's row, then their assignment (if any): the start of every task
    action, in the module's lock order. Caller runs inside a transaction."""
    _lock_person(user)
    if assignment_id is None:
        return None
    return Assignment.objects.select_for_update().filter(pk=assignment_id, labeler=user).first()


@transaction.atomic
def assignment_skip(*, user: User, assignment_id: int, reason: str) -> Assignment:
    """Give a lease back with a reason the admins see; its slot frees and the person never
    gets that prompt again. Labelers skip through `conversations.services.task_skip`, which
    first sets their draft aside (kept when they wrote in it), in the module's lock order."""
    reason = (reason or "").strip()
    if not reason:
        raise TaskError("say why you skip this task, so the admins can improve it.", field="reason")
    assignment = task_lock(user=user, assignment_id=assignment_id)
    if assignment is None:
        raise Assignment.DoesNotExist(f"No task {assignment_id} of yours.")
    if assignment.status not in (Assignment.Status.LEASED, Assignment.Status.EXPIRED):
        raise TaskError(f"A {assignment.get_status_display().lower()} task cannot be skipped.")
    if assignment.status == Assignment.Status.LEASED:
        Prompt.objects.filter(pk=assignment.prompt_id).update(slots_taken=F("slots_taken") - 1)
    assignment.status = Assignment.Status.SKIPPED
    assignment.skip_reason = reason[:2000]
    assignment.completed_at = timezone.now()
    assignment.save(update_fields=["status", "skip_reason", "completed_at"])
    return assignment


def lease_is_active(assignment: Assignment, now: datetime | None = None) -> bool:
    """True while the lease holds the slot (the editor can use it to warn before submit)."""
    return assignment.status == Assignment.Status.LEASED and assignment.lease_expires_at > (
        now or timezone.now()
    )


@transaction.atomic
def task_complete(*, assignment_id: int, now: datetime | None = None) -> Assignment:
    """Mark a task submitted, keeping the slot count right: a lease that had already
    expired gave its slot back, so submitting it takes a slot again (the work exists).
    Call it from the submit service instead of updating the status directly."""
    assignment = Assignment.objects.select_for_update().get(pk=assignment_id)
    if assignment.status == Assignment.Status.SUBMITTED:
        return assignment
    if assignment.status in (Assignment.Status.EXPIRED, Assignment.Status.SKIPPED):
        Prompt.objects.filter(pk=assignment.prompt_id).update(slots_taken=F("slots_taken") + 1)
    assignment.status = Assignment.Status.SUBMITTED
    assignment.completed_at = now or timezone.now()
    assignment.save(update_fields=["status", "completed_at"])
    return assignment
