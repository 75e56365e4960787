"""The assignment engine: the right prompt to the right expert, never twice, never lost.

Slot accounting: `Prompt.slots_taken` counts the labelers holding an unexpired lease on
the prompt plus those who submitted for it. It only changes while the prompt's row is
locked (PostgreSQL: `select_for_update`; SQLite: the whole transaction is serialized by
`BEGIN IMMEDIATE`), so it never goes past the project's `replications`.

Lock order, the same in every task action so that two tabs of one person never deadlock
(`task_lock` takes the first two): the person's row, their assignment, its conversation,
then the prompt, and last the project's counts (`counters.counts_add`, whose rows every
service writes after the rows it changes). The conversation side lives in `conversations.services` (`task_skip`,
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
from django.db.models import CharField, Exists, F, Func, OuterRef, Q, Subquery, Value
from django.utils import timezone

from core.exceptions import ApplicationError
from labeling.models import (
    Assignment,
    Candidate,
    GuidelineVersion,
    Project,
    ProjectKind,
    ProjectStatus,
    Prompt,
    User,
)
from labeling.permissions import LABELER, domains_meet, domains_meet_q, has_role
from labeling.services.counters import WRITTEN, counts_add

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
    # A lease row created just now: it has no conversation yet, which starts under
    # `guideline_version_id` (the project's current guidelines, read with the prompt).
    created: bool = False
    guideline_version_id: int | None = None
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


@dataclass(frozen=True)
class _Surroundings:
    """What one statement after the person's lock tells `assignment_next`."""

    open_projects: list[dict[str, Any]]  # active projects open to the person
    reachable: list[dict[str, Any]]  # active or paused ones: the reason there are none
    current_lease_id: int | None  # their unexpired lease (in `project` when given)
    overdue: bool  # some lease anywhere ran out and still holds its slot


def _surroundings(
    user: User, domain_ids: set[int], project: Project | None, now: datetime
) -> _Surroundings:
    """The projects open to the person, their current lease and whether any lease is overdue.

    One statement, run after the person's lock so that it sees a lease their other tab
    just committed (a statement's snapshot starts with the statement). The two subqueries
    do not depend on the project row: PostgreSQL evaluates each once.
    """
    current = Assignment.objects.filter(
        labeler=user, status=Assignment.Status.LEASED, lease_expires_at__gt=now
    )
    if project is not None:
        current = current.filter(project=project)
    current = current.order_by("lease_expires_at")
    overdue = Assignment.objects.filter(status=Assignment.Status.LEASED, lease_expires_at__lte=now)
    rows = Project.objects.annotate(
        current_lease_id=Subquery(current.values("id")[:1]), overdue=Exists(overdue)
    ).values_list(
        "id", "status", "priority", "replications", "domains", "current_lease_id", "overdue"
    )
    if project is not None:
        rows = rows.filter(pk=project.pk)
    else:
        rows = rows.filter(status__in=[ProjectStatus.ACTIVE, ProjectStatus.PAUSED])
    by_project: dict[int, dict] = {}
    current_lease_id, any_overdue = None, False
    for pk, status, priority, replications, domain_id, lease_id, is_overdue in rows:
        current_lease_id, any_overdue = lease_id, is_overdue
        entry = by_project.setdefault(
            pk,
            {"id": pk, "status": status, "priority": priority, "replications": replications},
        )
        entry.setdefault("domains", set())
        if domain_id is not None:
            entry["domains"].add(domain_id)
    if not by_project:
        # No project to carry the subqueries' answers: ask them on their own (a lease in
        # an archived project still resumes).
        current_lease_id = current.values_list("id", flat=True).first()
    reachable = [p for p in by_project.values() if domains_meet(domain_ids, p["domains"])]
    return _Surroundings(
        open_projects=[p for p in reachable if p["status"] == ProjectStatus.ACTIVE],
        reachable=reachable,
        current_lease_id=current_lease_id,
        overdue=any_overdue,
    )


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


class _CandidateExtras(TypedDict):
    # The id of the person's own expired lease on the prompt, taken again instead of a new row.
    own_expired_id: int | None
    # The project's current guidelines, which the lease's conversation starts under.
    latest_guideline_id: int | None


def _lock_candidate(
    user: User, domain_ids: set[int], level: list[dict]
) -> WithAnnotations[Prompt, _CandidateExtras] | None:
    """Lock the best prompt of one priority level that still needs this person, or None.

    Order: fewest conversations so far (written + leased), then oldest. The prompt comes
    with its project, its domain and what starting its conversation needs: one statement.
    """
    needs_work = Q()
    for project in level:
        needs_work |= Q(project_id=project["id"], slots_taken__lt=project["replications"])
    own = Assignment.objects.filter(prompt=OuterRef("pk"), labeler=user)
    guidelines = GuidelineVersion.objects.filter(project=OuterRef("project_id"))
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
        .annotate(
            own_expired_id=Subquery(own.values("id")[:1]),
            latest_guideline_id=Subquery(guidelines.order_by("-version").values("id")[:1]),
        )
        .order_by("slots_taken", "id")
    )
    if connection.features.has_select_for_update_skip_locked:
        candidates = candidates.select_for_update(skip_locked=True, no_key=True, of=("self",))
    return candidates.select_related("project", "domain").first()


# A savepoint costs two round trips; a failure inside rolls the caller's transaction back
# with it, which is what every caller wants.
@transaction.atomic(savepoint=False)
def assignment_next(*, user: User, project: Project | None = None) -> NextLease:
    """The person's next lease: their unexpired lease if any, else a new lease on a fitting prompt.

    Picks from active projects open to the person (their labeler domains meet the
    project's, or the project has none), prompts in their domains (or without one) that
    still need work and that they have not leased, written or skipped. Order: project
    priority, fewest conversations so far, oldest. Never returns a prompt whose slots are
    all taken, even when many labelers race. Returns a `NextLease` with the lease, or the
    specific reason there is none. Labelers get theirs through `conversations.services.next_task`,
    which also starts the lease's conversation.

    A new lease costs six statements whatever the number of prompts: the person's lock
    (with their domains), the projects (with their current lease), the candidate's lock,
    its slot, the lease row; expiring overdue leases adds some only when there are any.
    """
    if not has_role(user, LABELER):
        return _no_task("not_labeler", "Only labelers take tasks.")
    now = timezone.now()
    # One next-task at a time per person: a double click never leases two prompts. The
    # lease lookup comes after the lock, in its own statement, to see a lease just committed.
    domain_ids = _lock_person(user, with_domains=True)
    around = _surroundings(user, domain_ids, project, now)
    if around.current_lease_id is not None:
        lease = Assignment.objects.select_related("prompt__domain", "project").get(
            pk=around.current_lease_id
        )
        return NextLease(assignment=lease, resumed=True)
    if around.overdue:
        _expire_overdue(now=now)

    levels: dict[int, list[dict]] = defaultdict(list)
    for entry in around.open_projects:
        levels[entry["priority"]].append(entry)
    for priority in sorted(levels, reverse=True):
        prompt = _lock_candidate(user, domain_ids, levels[priority])
        if prompt is not None:
            return NextLease(
                assignment=_lease(user, prompt, now),
                created=prompt.own_expired_id is None,
                guideline_version_id=prompt.latest_guideline_id,
            )
    return _why_nothing(project, domain_ids, around.reachable)


def _lease(
    user: User, prompt: WithAnnotations[Prompt, _CandidateExtras], now: datetime
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


def _lock_person(user: User, *, with_domains: bool = False) -> set[int]:
    """Lock the person's row; with `with_domains`, read their labeler domain ids in the
    same statement (one row per domain, the person's row locked only)."""
    rows = User.objects.select_for_update(no_key=True, of=("self",)).filter(pk=user.pk)
    if not with_domains:
        rows.values_list("pk").first()
        return set()
    # Model rows, not values(): Django keeps `OF` (lock only the person's row, not the
    # outer-joined domains) only for those.
    rows = rows.annotate(domain_id=F("labeler_domains")).only("pk")
    if connection.vendor == "postgresql":
        # A lease is cheap to lose in a crash (the prompt simply stays free), so this
        # transaction does not wait for its WAL flush; set in the lock's round trip.
        rows = rows.annotate(
            synchronous_commit=Func(
                Value("synchronous_commit"),
                Value("off"),
                Value(True),
                function="set_config",
                output_field=CharField(),
            )
        )
    return {row.domain_id for row in rows if row.domain_id is not None}


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
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("prompt")
        .get(pk=assignment_id)
    )
    if assignment.status == Assignment.Status.SUBMITTED:
        return assignment
    if assignment.status in (Assignment.Status.EXPIRED, Assignment.Status.SKIPPED):
        Prompt.objects.filter(pk=assignment.prompt_id).update(slots_taken=F("slots_taken") + 1)
    counts_add(
        project_id=assignment.project_id,
        changes=[(assignment.prompt.domain_id, WRITTEN, 1)],
        shard_by=assignment.labeler_id,
    )
    assignment.status = Assignment.Status.SUBMITTED
    assignment.completed_at = now or timezone.now()
    assignment.save(update_fields=["status", "completed_at"])
    return assignment
