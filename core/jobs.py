"""One job engine for every background job: exports, prompt and conversation imports, AI
drafts and AI candidates.

A job is a row (status, attempt, heartbeat, lost runs, when its task was last sent) and
a Celery task that takes the row's id. Every kind of job goes through the same steps:

- **Send** (`job_enqueue`): once the row is committed its task is sent. A broker that is
  down raises `QueueUnavailable` (503, "the job is saved and will start when the queue
  is back"); the row stays `queued`, and `jobs_recover` (celery beat) sends it later.
- **Claim** (`job_claim`): one delivery owns the job; `attempt` is that run's number and
  every later write of the run is conditional on it, so a run that was taken over
  changes nothing. A running job whose heartbeat is fresh is left to its run
  (`JobBusy`); one whose heartbeat is stale lost its worker and is taken over, which
  counts a lost run. At `JOB_MAX_ATTEMPTS` starts that all died (a poison job that kills
  its worker every time) the job ends failed with a message a person can read, and is
  never redelivered again.
- **Heartbeat** (`JobHeartbeat`): a thread touches the run's heartbeat while the run goes
  on, through long steps that write no progress (closing writers, hashing, fsync,
  uploading), so that only a dead run ever looks stale.
- **Recover** (`jobs_recover`, beat every JOB_RECOVER_INTERVAL_SECONDS): sends again the
  jobs left `queued` and those whose heartbeat went stale; the claim decides.

The apps register their kinds (`job_kind_register`) when Django starts: this module is a
library and imports no app.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

QUEUE_DOWN = "the job is saved and will start when the queue is back"


class QueueUnavailable(ApplicationError):
    """The broker did not take the job's task. The job itself is saved (queued)."""

    status = 503
    code = "queue_unavailable"


class JobBusy(Exception):
    """Another run owns the job and its heartbeat is fresh: this delivery does nothing."""


class JobLost(Exception):
    """This run no longer owns its job: another delivery took it over, or it was stopped."""


@dataclass(frozen=True)
class JobKind:
    """How one model is a job: its statuses, its task and where a failure's message goes.

    `lost_run(job)` says whether a stale running job means that a run of the job's own
    task died (the default); `waiting(job)` whether it is work waiting in the queue (an
    export's shards not started yet), which beat sends again only as seldom as a queued
    job, not at every staleness period."""

    name: str
    model: type[models.Model]
    task: str
    queued: str
    running: str
    failed: str
    cancelled: str | None
    failure_fields: Callable[[str], dict[str, Any]]
    lost_run: Callable[[Any], bool] = field(default=lambda job: True)
    waiting: Callable[[Any], bool] = field(default=lambda job: False)
    #: Field lookups that pick this kind's rows when several kinds share one model.
    scope: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> tuple[str, str]:
        return (self.queued, self.running)

    def rows(self) -> QuerySet:
        return self.model._default_manager.filter(**self.scope)

    def mine(self, job_id: int, attempt: int) -> QuerySet:
        """The job's row while this run (`attempt`) still owns it."""
        return self.rows().filter(pk=job_id, attempt=attempt, status=self.running)


KINDS: dict[str, JobKind] = {}


def job_kind_register(kind: JobKind) -> JobKind:
    """Make `kind` known to `jobs_recover` (an app's `ready()` calls this)."""
    KINDS[kind.task] = kind
    return kind


def job_kind_of(job: models.Model) -> JobKind:
    """The registered kind `job` (a row) belongs to: its model's, within the kind's scope
    (several kinds may share a model, e.g. prompt imports and AI candidates)."""
    for kind in KINDS.values():
        if isinstance(job, kind.model) and all(
            getattr(job, name) == value for name, value in kind.scope.items()
        ):
            return kind
    raise LookupError(f"no job kind for {type(job).__name__} {job.pk}")


def stale_before() -> dt.datetime:
    """A running job whose heartbeat is older than this has lost its worker."""
    return timezone.now() - dt.timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)


def heartbeat_stale(heartbeat_at: dt.datetime | None, stale: dt.datetime | None = None) -> bool:
    return heartbeat_at is None or heartbeat_at < (stale or stale_before())


def poison_message(name: str, runs: int) -> str:
    """What a person reads when a job killed its worker at every try."""
    return (
        f"The {name} was started {runs} times and its worker process died each time "
        "(killed, out of memory, or crashed) before it could finish, so it is not tried "
        "again. Nothing was saved; look at the worker's log, then start it anew."
    )


# Send ------------------------------------------------------------------------------


def job_send(kind: JobKind, job_id: int) -> None:
    """Send the job's task now and note when. QueueUnavailable when the broker cannot take
    it: the job stays as it is and `jobs_recover` sends it once the broker is back."""
    try:
        current_app.send_task(kind.task, args=[job_id])
    except BrokerError as error:
        logger.warning("%s %s: the broker is down (%s); it stays queued", kind.name, job_id, error)
        raise QueueUnavailable(
            f"The task queue cannot be reached: {QUEUE_DOWN} ({kind.name} #{job_id}).",
            extra={"job": job_id},
        ) from error
    kind.rows().filter(pk=job_id).update(sent_at=timezone.now())


def job_enqueue(kind: JobKind, job_id: int) -> None:
    """Send the job's task once the caller's transaction commits. QueueUnavailable comes
    out of the outermost atomic block, after the job is committed."""
    transaction.on_commit(lambda: job_send(kind, job_id))


# Claim -----------------------------------------------------------------------------


def job_claim(kind: JobKind, job_id: int, **fields: Any) -> Any | None:
    """Own the job for one run: its row, with `attempt` this run's number; `fields` are
    written with the claim (a run's fresh progress).

    None when there is nothing to run: the job is gone or finished, it was cancelled
    before a run started or after its run died, or its runs died too often (then it is
    failed here). JobBusy when a live run owns it. Staleness is judged with the row
    locked, so a heartbeat written just before counts and one written after waits.
    """
    cancellable = kind.cancelled is not None
    with transaction.atomic():
        job = kind.rows().select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in kind.active:
            return None
        if job.status == kind.running and not heartbeat_stale(job.heartbeat_at):
            raise JobBusy(f"{kind.name} {job_id} is running in another worker")
        # Every write below is conditional on the row as read: where the lock above is a
        # no-op (SQLite), of two deliveries racing for the job only one can win.
        as_read = kind.rows().filter(pk=job_id, status=job.status, attempt=job.attempt)
        now = timezone.now()
        if cancellable and job.cancel_requested:
            as_read.update(status=kind.cancelled, finished_at=now)
            return None
        lost_runs = job.lost_runs
        if job.status == kind.running and kind.lost_run(job):
            lost_runs += 1
            if lost_runs >= settings.JOB_MAX_ATTEMPTS:
                logger.error("%s %s: its runs died %s times; failed", kind.name, job_id, lost_runs)
                as_read.update(
                    status=kind.failed,
                    lost_runs=lost_runs,
                    finished_at=now,
                    **kind.failure_fields(poison_message(kind.name, lost_runs)),
                )
                return None
        claimed = as_read.update(
            status=kind.running,
            attempt=job.attempt + 1,
            lost_runs=lost_runs,
            heartbeat_at=now,
            started_at=now,
            **fields,
        )
        if not claimed:
            raise JobBusy(f"{kind.name} {job_id} was claimed by another delivery")
        return kind.rows().get(pk=job_id)


def job_finish(kind: JobKind, job_id: int, attempt: int, status: str, **fields: Any) -> bool:
    """Record the run's outcome, only while the run still owns the job. False when it
    does not (it was taken over: the run that owns it records the outcome)."""
    return bool(
        kind.mine(job_id, attempt).update(status=status, finished_at=timezone.now(), **fields)
    )


def job_cancel(kind: JobKind, job_id: int) -> Any:
    """Ask a queued or running job to stop. A queued one stops at once, and so does one
    whose run died (stale heartbeat); a live run stops at its next step. A finished job
    is left as it is. Returns the job."""
    assert kind.cancelled is not None, f"{kind.name} cannot be cancelled"
    with transaction.atomic():
        job = kind.rows().select_for_update().get(pk=job_id)
        if job.status not in kind.active:
            return job
        job.cancel_requested = True
        fields = ["cancel_requested"]
        if job.status == kind.queued or heartbeat_stale(job.heartbeat_at):
            job.status, job.finished_at = kind.cancelled, timezone.now()
            fields += ["status", "finished_at"]
        job.save(update_fields=fields)
    return job


# Heartbeat -------------------------------------------------------------------------


def heartbeat_interval() -> float:
    """Several beats fit in the staleness limit, so one late beat never looks like death."""
    return min(15.0, max(0.2, settings.JOB_STALE_AFTER_SECONDS / 4))


class JobHeartbeat:
    """Touch `heartbeat_at` on `rows` (querysets of the run's own rows) from a thread,
    every `heartbeat_interval()` seconds while the block runs.

    The run still checks ownership at its own steps (its conditional writes); this only
    keeps a live run from looking dead during a long step. The thread uses a connection
    of its own, so it starts only outside a transaction: inside one (a caller's, or a
    test's) another connection could not see the rows. Leave the block after any
    transaction that locks these rows has ended: the thread may be waiting for it.
    """

    def __init__(self, *rows: QuerySet) -> None:
        self.rows = rows
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> JobHeartbeat:
        if not connection.in_atomic_block:
            self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        from django.db import connection as own_connection

        try:
            while not self._stop.wait(heartbeat_interval()):
                try:
                    now = timezone.now()
                    for rows in self.rows:
                        rows.update(heartbeat_at=now)
                except DatabaseError:
                    # A missed beat is not fatal: the next one, or the run's own, follows.
                    logger.warning("job heartbeat: could not write", exc_info=True)
        finally:
            own_connection.close()


# Recover (celery beat) -------------------------------------------------------------


def jobs_recover(*, limit: int = 200) -> int:
    """Send again the jobs nobody is running: those left `queued` with no task sent (the
    broker was down) or sent long ago (JOB_RESEND_QUEUED_AFTER_SECONDS: a message the
    broker lost), and `running` ones whose heartbeat went stale (their worker died) and
    that were not sent again within the staleness limit (work waiting in the queue: not
    within JOB_RESEND_QUEUED_AFTER_SECONDS). The claim decides what each delivery does.
    Stops at the first send the broker refuses. Returns how many it sent."""
    stale = stale_before()
    resend_queued = timezone.now() - dt.timedelta(seconds=settings.JOB_RESEND_QUEUED_AFTER_SECONDS)
    sent = 0
    for kind in KINDS.values():
        rows = kind.rows()
        waiting = rows.filter(status=kind.queued).filter(
            Q(sent_at__isnull=True) | Q(sent_at__lt=resend_queued)
        )
        abandoned = (
            rows.filter(status=kind.running)
            .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale))
            .filter(Q(sent_at__isnull=True) | Q(sent_at__lt=stale))
        )
        ids = list(waiting.order_by("pk").values_list("pk", flat=True)[:limit])
        ids += [
            job.pk
            for job in abandoned.order_by("pk")[:limit]
            if not (kind.waiting(job) and job.sent_at and job.sent_at >= resend_queued)
        ]
        for job_id in ids:
            try:
                job_send(kind, job_id)
            except QueueUnavailable:
                return sent
            logger.info("%s %s sent again by the job engine", kind.name, job_id)
            sent += 1
    return sent
