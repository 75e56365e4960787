"""What the queues page reads: the broker's queues, the workers that answer, the jobs in flight.

The broker is asked through kombu (a passive `queue_declare` gives a queue's waiting
messages on every transport: `LLEN` of the list on Redis, the files of the folder on the
embedded filesystem broker) and the workers through Celery's remote control (`inspect`),
with a short timeout: a worker that does not answer within it is not listed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from amqp.exceptions import ChannelError
from django.conf import settings
from django.urls import reverse
from kombu.exceptions import OperationalError

from config.celery import app
from exports.models import ExportJob, ExportShard
from labeling.models import ImportBatch

#: How long the page waits for the workers' answers (each of two broadcasts).
INSPECT_TIMEOUT_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 2
# Errors of an unreachable broker or a transport without broadcast; the page says so
# instead of failing.
_BROKER_ERRORS = (OperationalError, OSError, NotImplementedError)


@dataclass(frozen=True)
class QueueDepth:
    name: str
    waiting: int


@dataclass(frozen=True)
class ActiveTask:
    id: str
    name: str
    args: str
    started_at: dt.datetime | None


@dataclass(frozen=True)
class WorkerState:
    name: str
    queues: list[str]
    active: list[ActiveTask]


@dataclass
class BrokerOverview:
    """The broker's view; `error` says why a part is missing (broker down, no broadcast)."""

    broker: str
    queues: list[QueueDepth] = field(default_factory=list)
    workers: list[WorkerState] = field(default_factory=list)
    error: str = ""


def _broker_label(url: str) -> str:
    """The broker URL without its password."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}" if rest else url


def _active_task(task: Mapping[str, Any]) -> ActiveTask:
    started = task.get("time_start")
    return ActiveTask(
        id=str(task.get("id", "")),
        name=str(task.get("name", "")),
        args=str(task.get("args", ""))[:200],
        started_at=dt.datetime.fromtimestamp(started, tz=dt.UTC) if started else None,
    )


def broker_overview(*, timeout: float = INSPECT_TIMEOUT_SECONDS) -> BrokerOverview:
    """Every known queue with its waiting messages, and the workers that answer in time."""
    overview = BrokerOverview(broker=_broker_label(settings.CELERY_BROKER_URL))
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT_SECONDS)
            inspect = app.control.inspect(timeout=timeout, connection=connection)
            active = inspect.active() or {}
            consuming = inspect.active_queues() or {}
            names = {settings.CELERY_TASK_DEFAULT_QUEUE}
            names |= {q["name"] for queues in consuming.values() for q in queues}
            channel: Any = connection.default_channel  # kombu's stubs lack queue_declare
            for name in sorted(names):
                try:
                    _, waiting, _ = channel.queue_declare(queue=name, passive=True)
                except ChannelError:
                    waiting = 0  # never declared (no worker has read it yet): nothing waits
                overview.queues.append(QueueDepth(name, waiting))
    except _BROKER_ERRORS as error:
        overview.error = f"The broker did not answer: {error}"
        return overview
    for worker in sorted(set(active) | set(consuming)):
        overview.workers.append(
            WorkerState(
                name=worker,
                queues=sorted(q["name"] for q in consuming.get(worker, [])),
                active=[_active_task(task) for task in active.get(worker, [])],
            )
        )
    return overview


@dataclass(frozen=True)
class JobInFlight:
    """An export or import that is queued or running."""

    kind: str
    id: int
    label: str
    status: str
    created_at: dt.datetime
    progress: str
    #: Seconds since the job's last heartbeat; None when it has none (not started).
    heartbeat_age: float | None
    stale: bool
    #: The job's own page.
    url: str


def jobs_in_flight(*, now: dt.datetime) -> list[JobInFlight]:
    """Exports and imports queued or running, oldest first; three queries."""
    stale_after = settings.JOB_STALE_AFTER_SECONDS
    exports = list(
        ExportJob.objects.filter(status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING])
        .order_by("created_at")
        .prefetch_related("projects")
    )
    shards_done: dict[int, tuple[int, int]] = {}
    for job_id, status in ExportShard.objects.filter(job__in=exports).values_list(
        "job_id", "status"
    ):
        done, total = shards_done.get(job_id, (0, 0))
        shards_done[job_id] = (done + (status == ExportShard.Status.DONE), total + 1)
    jobs = []
    for job in exports:
        age = (now - job.heartbeat_at).total_seconds() if job.heartbeat_at else None
        progress = f"{job.rows_done:,} of {job.rows_total:,} conversations"
        if job.id in shards_done:
            done, total = shards_done[job.id]
            progress += f", {done} of {total} shards done"
        jobs.append(
            JobInFlight(
                kind="export",
                id=job.id,
                label=", ".join(project.slug for project in job.projects.all()),
                status=job.status,
                created_at=job.created_at,
                progress=progress,
                heartbeat_age=age,
                stale=job.status == ExportJob.Status.RUNNING and (age is None or age > stale_after),
                url=reverse("exports:export-detail", kwargs={"job_id": job.id}),
            )
        )
    imports = ImportBatch.objects.filter(
        status__in=[ImportBatch.Status.QUEUED, ImportBatch.Status.RUNNING]
    ).select_related("project")
    for batch in imports.order_by("created_at"):
        rows_total = f"{batch.rows_total:,}" if batch.rows_total else "?"
        age = (now - batch.heartbeat_at).total_seconds() if batch.heartbeat_at else None
        jobs.append(
            JobInFlight(
                kind=f"{batch.kind} import",
                id=batch.id,
                label=f"{batch.project.slug}: {batch.file_name}",
                status=batch.status,
                created_at=batch.created_at,
                progress=f"{batch.rows_done:,} of {rows_total} rows",
                heartbeat_age=age,
                stale=batch.status == ImportBatch.Status.RUNNING
                and (age is None or age > stale_after),
                url=reverse(
                    "labeling:import-batch",
                    kwargs={"slug": batch.project.slug, "batch_id": batch.id},
                ),
            )
        )
    return sorted(jobs, key=lambda job: job.created_at)
