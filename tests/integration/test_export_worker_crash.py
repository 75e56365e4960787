"""Export jobs through real worker processes that this module starts, kills and restarts.

Each test has a worker of its own on a queue of its own (the session's shared worker keeps
its queue), with small chunks so that progress comes in many steps, a short staleness
limit for heartbeats and, on Redis, a short visibility timeout so that a message a killed
worker took comes back quickly.
"""

import hashlib
import json
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from config.celery import app
from exports.models import ExportJob
from exports.services import export_config_from_dict, export_job_create, export_job_folder
from exports.tasks import run_export_job
from labeling.services import member_token
from tests.conftest import start_celery_worker, wait_for
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CHUNK_SIZE = 2
STALE_AFTER_SECONDS = 2
VISIBILITY_TIMEOUT_SECONDS = 4
ON_REDIS = settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


class Worker:
    """One `celery worker` process reading `queue`, with the test database."""

    def __init__(self, queue: str, log_path: Path) -> None:
        self.queue = queue
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.log_start = 0

    def start(self) -> "Worker":
        self.process = start_celery_worker(
            self.queue,
            self.log_path,
            {
                "EXPORT_CHUNK_SIZE": str(CHUNK_SIZE),
                "JOB_STALE_AFTER_SECONDS": str(STALE_AFTER_SECONDS),
                "CELERY_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_SECONDS),
            },
        )
        self.log_start = self.process.log_start
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgement, no message given back."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """At the end of a test: SIGKILL too, as a warm shutdown takes seconds and
        nothing the worker holds matters any more (its queue is the test's own)."""
        if self.process and self.process.poll() is None:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text()[-4000:]

    def received(self) -> list[str]:
        """Ids of the tasks this worker received, in order."""
        own = self.log_path.read_text()[self.log_start :]
        return re.findall(r"run_export_job\[([0-9a-f-]+)\] received", own)


@pytest.fixture
def own_queue():
    """A queue of this test's own: export jobs are sent there, not to the shared worker."""
    queue = f"sft-export-crash-{uuid.uuid4().hex[:8]}"
    app.conf.update(task_routes={"exports.tasks.run_export_job": {"queue": queue}})
    yield queue
    app.conf.update(task_routes=None)


@pytest.fixture
def workers(own_queue, tmp_path):
    """Start workers on the test's queue with `workers()`; all are stopped at the end."""
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(own_queue, tmp_path / "workers.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def conversations():
    """Enough approved conversations that, two per chunk, an export takes many steps."""
    reviewer = UserFactory(roles=["reviewer"])
    project = ProjectFactory(slug="crash-export")
    for index in range(200):
        approved_conversation(
            project,
            chat(f"Question {index}: what is 3×{index}?", f"It is {3 * index}. ✅ 日本語 مرحبا"),
            reviewer=reviewer,
        )
    return project


def export_config():
    return export_config_from_dict(
        {"projects": ["crash-export"], "val_fraction": 0.1, "seed": 3, "pack_length": 64}
    )


def job_state(job: ExportJob) -> ExportJob:
    job.refresh_from_db()
    return job


def published_names(job: ExportJob) -> list[str]:
    """What a reader of EXPORT_ROOT sees of this job (hidden staging folders are not it)."""
    root = Path(settings.EXPORT_ROOT)
    prefix = export_job_folder(job).name
    return sorted(p.name for p in root.iterdir() if p.name.startswith(prefix))


def sha256s(job: ExportJob) -> dict[str, str]:
    """The job's published files, hashed from disk, checked against its artifact rows."""
    folder = Path(job.output_dir)
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}
    assert on_disk == dict(job.artifacts.values_list("name", "sha256"))
    return on_disk


def without_time(manifest: dict) -> dict:
    return {key: value for key, value in manifest.items() if key != "created_at"}


def test_a_killed_worker_publishes_nothing_and_the_redelivered_task_completes(
    conversations, workers
):
    """SIGKILL the worker mid-export; the task comes back and a new worker finishes it.

    On Redis the unacknowledged message comes back by itself once the broker's visibility
    timeout has passed. The embedded filesystem broker hands a message out only once and
    has no redelivery: there this test sends the task again itself, as a retry would.
    """
    admin = UserFactory(roles=["admin"])
    first = workers()
    job = export_job_create(config=export_config(), created_by=admin)
    sent_at = time.monotonic()
    wait_for(
        lambda: job_state(job).status == "running" and job.rows_done > 0,
        timeout=20,
        interval=0.02,
        message="the export to make progress",
    )
    first.kill()
    killed_at = job_state(job).rows_done

    assert job.status == "running" and 0 < killed_at < job.rows_total == 200, first.log()
    assert published_names(job) == []
    assert job.artifacts.count() == 0 and job.output_dir == ""
    attempt = job.attempt

    if ON_REDIS:
        # A worker restores messages older than the visibility timeout when it starts (and
        # then only every few minutes), so start it with a clear margin past that timeout.
        time.sleep(max(0.0, sent_at + VISIBILITY_TIMEOUT_SECONDS + 3 - time.monotonic()))
    else:
        run_export_job.delay(job.id)
    second = workers()
    wait_for(lambda: not job_state(job).is_active, timeout=25, message="the retried export")

    assert job.status == "succeeded", job.error or second.log()
    if ON_REDIS:
        # The very message the killed worker took, handed out again by the broker.
        assert second.received()[0] == first.received()[0]
    assert job.attempt == attempt + 1  # taken over once, not run twice
    assert job.rows_done == job.rows_total == 200
    assert published_names(job) == [export_job_folder(job).name]
    retried = sha256s(job)

    clean = export_job_create(config=export_config(), created_by=admin)
    wait_for(lambda: not job_state(clean).is_active, timeout=25, message="the clean export")
    assert clean.status == "succeeded", clean.error
    expected = sha256s(clean)
    assert {k: v for k, v in retried.items() if k != "manifest.json"} == {
        k: v for k, v in expected.items() if k != "manifest.json"
    }
    assert set(retried) >= {"train.jsonl", "train.parquet", "validation.packed.parquet"}
    assert without_time(json.loads((Path(job.output_dir) / "manifest.json").read_text())) == (
        without_time(json.loads((Path(clean.output_dir) / "manifest.json").read_text()))
    )


def test_cancel_through_the_api_stops_the_running_export_and_publishes_nothing(
    conversations, workers
):
    admin = UserFactory(roles=["admin"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {member_token(user=admin)}")
    workers()
    response = api.post("/api/exports/", export_config().to_dict(), format="json")
    assert response.status_code == 201, response.json()
    job = ExportJob.objects.get(id=response.json()["id"])
    wait_for(
        lambda: job_state(job).status == "running" and job.rows_done > 0,
        timeout=20,
        interval=0.02,
        message="the export to make progress",
    )

    response = api.post(f"/api/exports/{job.id}/cancel/")
    assert response.status_code == 200
    assert response.json()["cancel_requested"] is True
    wait_for(lambda: not job_state(job).is_active, timeout=20, message="the export to stop")

    assert job.status == "cancelled"
    assert job.rows_done < job.rows_total == 200
    assert api.get(f"/api/exports/{job.id}/").json()["status"] == "cancelled"
    assert published_names(job) == []
    assert job.artifacts.count() == 0 and job.output_dir == ""


def test_a_second_run_that_takes_over_a_live_job_is_the_only_one_that_publishes(
    conversations, workers, settings
):
    """A run that was taken over while still alive stops at its next chunk, writes nothing.

    The worker runs the job; this process plays a second delivery that judged it abandoned
    (a staleness limit of zero) and runs the job itself to the end.
    """
    from exports.services import export_job_execute

    admin = UserFactory(roles=["admin"])
    worker = workers()
    job = export_job_create(config=export_config(), created_by=admin)
    wait_for(
        lambda: job_state(job).status == "running" and job.rows_done > 0,
        timeout=20,
        interval=0.02,
        message="the export to make progress",
    )
    settings.JOB_STALE_AFTER_SECONDS = 0

    assert export_job_execute(job_id=job.id) == "succeeded"

    job = job_state(job)
    assert job.status == "succeeded" and job.attempt == 2
    wait_for(
        lambda: "was taken over by another worker" in worker.log_path.read_text(),
        timeout=20,
        message="the worker to notice it lost the job",
    )
    job = job_state(job)
    assert job.status == "succeeded" and job.attempt == 2 and job.error == ""
    assert published_names(job) == [export_job_folder(job).name]
    sha256s(job)
