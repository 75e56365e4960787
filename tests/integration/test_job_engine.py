"""The job engine (core/jobs.py) with real worker processes: a broker that is down when a
job is created and comes back, a job that kills its worker at every try, an export whose
finishing outlasts the staleness limit, and imports cancelled or delivered twice.

Faults come from tests/integration/faults.py, which only the workers started here load.
"""

import contextlib
import json
import signal
import time
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from config.celery import app
from core.jobs import KINDS, QUEUE_DOWN
from core.tasks import recover_jobs
from exports.models import ExportJob
from exports.services import (
    ExportJobBusy,
    export_config_from_dict,
    export_job_create,
    export_job_execute,
)
from exports.services.sharding import ExportShardBusy, export_shard_execute
from labeling.models import ImportBatch
from labeling.services import prompts_import_execute
from labeling.tasks import run_prompt_import
from labeling.uploads import tmp_dir
from tests.conftest import start_celery_worker, wait_for
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

STALE_AFTER_SECONDS = 2
TASKS = (*KINDS, "exports.tasks.run_export_shard", "exports.tasks.finish_export_job")


@pytest.fixture
def queue():
    """A queue of the test's own: its jobs go to the workers it starts."""
    name = f"sft-engine-{uuid.uuid4().hex[:8]}"
    app.conf.update(task_routes={task: {"queue": name} for task in TASKS})
    yield name
    app.conf.update(task_routes=None)


@pytest.fixture
def workers(queue, tmp_path, settings):
    """`workers(**env)` starts a worker on the test's queue, with a short staleness limit
    (this process uses the same) and the fault hooks; all are killed at the end."""
    settings.JOB_STALE_AFTER_SECONDS = STALE_AFTER_SECONDS
    started = []

    def start(**env: str):
        environment = {
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "JOB_STALE_AFTER_SECONDS": str(STALE_AFTER_SECONDS),
            **env,
        }
        process = start_celery_worker(
            queue, tmp_path / "workers.log", environment, include="tests.integration.faults"
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def admin():
    return UserFactory(roles=["admin"])


@pytest.fixture
def api(admin):
    client = APIClient()
    client.force_authenticate(admin)
    return client


def conversations(count: int) -> None:
    reviewer = UserFactory(roles=["reviewer"])
    project = ProjectFactory(slug="engine")
    for index in range(count):
        approved_conversation(
            project, chat(f"Question {index}: 7×{index}?", f"It is {7 * index}."), reviewer=reviewer
        )


CONFIG = {"projects": ["engine"], "val_fraction": 0.2, "seed": 5, "formats": ["jsonl", "parquet"]}


def state(job):
    job.refresh_from_db()
    return job


def finished(job, timeout: float = 60):
    wait_for(lambda: not state(job).is_active, timeout=timeout, message=f"job {job.id} to finish")
    return job


def test_post_export_while_the_broker_is_down_answers_503_then_runs_once_it_is_back(
    workers, broker_down, api
):
    conversations(6)
    workers()

    response = api.post("/api/exports/", CONFIG, format="json")

    assert response.status_code == 503
    assert QUEUE_DOWN in response.json()["error"]["message"]
    job = ExportJob.objects.get(id=response.json()["job"])
    time.sleep(1)
    assert (state(job).status, job.sent_at) == ("queued", None), "nothing reached the worker"

    broker_down()  # the broker is back
    assert recover_jobs() == 1  # what celery beat runs every JOB_RECOVER_INTERVAL_SECONDS

    assert finished(job).status == "succeeded", job.error
    assert (job.attempt, job.rows_done) == (1, 6)
    assert recover_jobs() == 0


def test_an_import_that_kills_its_worker_every_time_fails_after_the_max_attempts(
    workers, api, settings
):
    ProjectFactory(slug="poison")
    response = api.post(
        "/api/projects/poison/prompts/import/?async=1",
        {"file": SimpleUploadedFile("poison.jsonl", b'"Fine?"\n"Also fine?"\n')},
        format="multipart",
    )
    assert response.status_code == 202
    batch = ImportBatch.objects.get(id=response.json()["id"])

    deaths = 0
    for _ in range(settings.JOB_MAX_ATTEMPTS + 1):
        worker = workers(SFT_TEST_CRASH_IMPORT="poison.jsonl")
        wait_for(
            lambda worker=worker: worker.poll() is not None or not state(batch).is_active,
            timeout=30,
            message="the worker to die or the import to end",
        )
        if not state(batch).is_active:
            break
        deaths += 1
        assert (batch.status, batch.attempt) == ("running", deaths), Path(
            worker.log_path
        ).read_text()[-3000:]
        time.sleep(STALE_AFTER_SECONDS + 0.5)  # the dead run's heartbeat goes stale
        assert recover_jobs() == 1

    assert deaths == settings.JOB_MAX_ATTEMPTS == 3
    assert worker.poll() is None, "the last delivery failed the job instead of running it"
    assert (batch.status, batch.attempt, batch.lost_runs) == ("failed", 3, 3)
    assert batch.errors == [
        "The prompt import was started 3 times and its worker process died each time "
        "(killed, out of memory, or crashed) before it could finish, so it is not tried "
        "again. Nothing was saved; look at the worker's log, then start it anew."
    ]
    assert not batch.project.prompts.exists()
    time.sleep(STALE_AFTER_SECONDS + 0.5)
    assert recover_jobs() == 0, "never sent again"


def test_an_export_whose_finishing_outlasts_the_staleness_limit_is_not_taken_over(workers, admin):
    """Every file's hash takes 1.5 s in the worker: the steps after the last chunk (hash
    four files, then the card and the manifest) take about 9 s, past a 2 s limit. Another
    delivery tries to take the job and its shard over all along; none may."""
    conversations(20)
    workers(SFT_TEST_SLOW_HASH_SECONDS="1.5", EXPORT_CHUNK_SIZE="2")
    job = export_job_create(config=export_config_from_dict(CONFIG), created_by=admin)
    wait_for(
        lambda: state(job).rows_total and job.rows_done == job.rows_total,
        timeout=60,
        interval=0.05,
        message="the export to read its last chunk",
    )
    read_all = time.monotonic()

    probes = 0
    while state(job).is_active:
        with contextlib.suppress(ExportJobBusy):
            # None: the job finished meanwhile (the claim waited for the publish's lock).
            assert export_job_execute(job_id=job.id) is None, "taken over"
        if state(job).is_active:
            with contextlib.suppress(ExportShardBusy):
                assert export_shard_execute(job_id=job.id, index=0) in ("done", None)
        probes += 1
        time.sleep(0.25)

    assert time.monotonic() - read_all > 2 * STALE_AFTER_SECONDS, "finishing outlasted it"
    assert probes > 10
    assert job.status == "succeeded", job.error
    assert (job.attempt, job.lost_runs) == (1, 0)
    assert list(job.shards.values_list("attempt", "lost_runs")) == [(1, 0)]
    assert {a.name for a in job.artifacts.all()} >= {"train.jsonl", "manifest.json"}


def big_import(api, slug: str, rows: int):
    ProjectFactory(slug=slug)
    content = "".join(json.dumps(f"Question number {n}?") + "\n" for n in range(rows))
    response = api.post(
        f"/api/projects/{slug}/prompts/import/?async=1",
        {"file": SimpleUploadedFile("many.jsonl", content.encode())},
        format="multipart",
    )
    assert response.status_code == 202
    return ImportBatch.objects.get(id=response.json()["id"])


def test_a_running_import_cancelled_through_the_api_stops_and_saves_nothing(
    celery_worker_process, api
):
    batch = big_import(api, "cancel-me", 60_000)
    wait_for(
        lambda: state(batch).status == "running" and batch.rows_done > 0,
        timeout=60,
        interval=0.02,
        message="the import to check rows",
    )
    upload = tmp_dir() / batch.upload_name

    response = api.post(f"/api/projects/cancel-me/imports/{batch.id}/cancel/")

    assert response.status_code == 200 and response.json()["cancel_requested"] is True
    assert finished(batch).status == "cancelled"
    assert batch.rows_done < 60_000 and batch.rows_imported == 0
    assert not batch.project.prompts.exists()
    assert not upload.exists() and batch.upload_name == ""


def test_an_import_delivered_twice_runs_once_and_records_the_right_count(
    celery_worker_process, api
):
    batch = big_import(api, "twice", 20_000)
    wait_for(
        lambda: state(batch).status == "running",
        timeout=60,
        interval=0.02,
        message="the worker to start the import",
    )

    # A second delivery while the first run is alive (a redelivered message), here in
    # this process, and a third message that the worker takes after the first run.
    assert prompts_import_execute(batch_id=batch.id) is None
    assert state(batch).status in ("running", "imported") and batch.attempt == 1
    third = run_prompt_import.delay(batch.id)

    assert finished(batch).status == "imported", batch.errors
    log = Path(celery_worker_process.log_path)
    wait_for(
        lambda: f"run_prompt_import[{third.id}] succeeded" in log.read_text(),
        timeout=30,
        message="the worker to take the third delivery",
    )
    assert (state(batch).status, batch.attempt, batch.rows_imported) == ("imported", 1, 20_000)
    assert batch.project.prompts.count() == 20_000
