"""Sharded exports through real worker processes: a chord over several workers, a worker
killed in the middle of a shard, and an S3-compatible bucket served on loopback.

Each test starts its own workers on a queue of its own, with small shards and chunks.
"""

import hashlib
import io
import json
import signal
import socket
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from moto.server import ThreadedMotoServer
from rest_framework.test import APIClient

from config.celery import app
from exports.models import ExportJob
from exports.services import export_config_from_dict, export_job_create, export_run
from exports.storage import _s3_client
from exports.tasks import run_export_job
from labeling.services import member_token
from tests.conftest import start_celery_worker, wait_for
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SHARD_SIZE = 10
ON_REDIS = settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
TASKS = (
    "exports.tasks.run_export_job",
    "exports.tasks.run_export_shard",
    "exports.tasks.finish_export_job",
    "celery.chord_unlock",
)


@pytest.fixture
def queue():
    name = f"sft-shards-{uuid.uuid4().hex[:8]}"
    app.conf.update(task_routes={task: {"queue": name} for task in TASKS})
    yield name
    app.conf.update(task_routes=None)


@pytest.fixture
def workers(queue, tmp_path):
    """`workers(n, **env)` starts n worker processes on the test's queue."""
    started = []

    def start(count: int, **env: str) -> list:
        environment = {
            # The worker sends the shards and the final step: to the test's queue too.
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "EXPORT_SHARD_SIZE": str(SHARD_SIZE),
            "EXPORT_CHUNK_SIZE": "2",
            **env,
        }
        for _ in range(count):
            started.append(start_celery_worker(queue, tmp_path / "workers.log", environment))
        return started[-count:]

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)


def make_conversations(count: int) -> None:
    reviewer = UserFactory(roles=["reviewer"])
    project = ProjectFactory(slug="sharded")
    for index in range(count):
        approved_conversation(
            project,
            chat(f"Question {index}: 9×{index}?", f"It is {9 * index}. ✅ 日本語"),
            reviewer=reviewer,
        )
    # A duplicate of conversation 0, decided across shards by the stored content hash.
    approved_conversation(
        project, chat("Question 0: 9×0?", "It is 0. ✅ 日本語"), reviewer=reviewer
    )


def config():
    return export_config_from_dict(
        {"projects": ["sharded"], "val_fraction": 0.2, "seed": 4, "pack_length": 128}
    )


def finished(job: ExportJob, timeout: float = 90) -> ExportJob:
    def done():
        job.refresh_from_db()
        return not job.is_active

    wait_for(done, timeout=timeout, message=f"export job {job.id} to finish")
    return job


def folder_hashes(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.name != "manifest.json"
    }


def without_time(manifest: dict) -> dict:
    return {key: value for key, value in manifest.items() if key != "created_at"}


def test_a_chord_over_five_shards_gives_the_same_bytes_with_one_or_two_workers(workers, tmp_path):
    make_conversations(49)  # 50 conversations: 5 shards of 10
    admin = UserFactory(roles=["admin"])
    [alone] = workers(1)
    one = finished(export_job_create(config=config(), created_by=admin))
    assert one.status == "succeeded", one.error
    alone.send_signal(signal.SIGKILL)
    alone.wait(timeout=10)

    pair = workers(2)
    two = finished(export_job_create(config=config(), created_by=admin))
    assert two.status == "succeeded", two.error

    assert one.shards.count() == two.shards.count() == 5
    published = folder_hashes(Path(two.output_dir))
    assert folder_hashes(Path(one.output_dir)) == published
    assert "train-00004-of-00005.parquet" in published
    manifests = [json.loads((Path(j.output_dir) / "manifest.json").read_text()) for j in (one, two)]
    assert without_time(manifests[0]) == without_time(manifests[1])
    assert manifests[1]["counts"]["left_out"]["duplicates"] == 1
    assert two.rows_done == two.rows_total == 50
    # Both workers ran shards of the second job.
    logs = Path(pair[0].log_path).read_text()
    assert logs.count("run_export_shard[") >= 10
    export_run(config=config(), destination=tmp_path / "cli", shard_size=SHARD_SIZE)
    assert folder_hashes(tmp_path / "cli") == published


def test_a_worker_killed_in_a_shard_reruns_only_that_shard(workers, tmp_path):
    make_conversations(99)  # 100 conversations: 10 shards, 5 chunks each
    admin = UserFactory(roles=["admin"])
    env = {"JOB_STALE_AFTER_SECONDS": "2", "CELERY_BROKER_VISIBILITY_TIMEOUT": "4"}
    [first] = workers(1, **env)
    job = export_job_create(config=config(), created_by=admin)
    sent_at = time.monotonic()

    def a_shard_midway():
        return job.shards.filter(index__gte=1, status="running", rows_done__gt=0).first()

    killed = wait_for(a_shard_midway, timeout=60, interval=0.02, message="a shard in progress")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    done_before = dict(job.shards.filter(status="done").values_list("index", "finished_at"))
    assert killed.index not in done_before and len(done_before) >= 1

    if ON_REDIS:
        # The killed worker's message comes back once the visibility timeout has passed.
        time.sleep(max(0.0, sent_at + 4 + 3 - time.monotonic()))
    else:
        # The filesystem broker never hands a message out twice: send the job again, as
        # a periodic re-send would once its heartbeat is stale; it takes the job over.
        time.sleep(2.5)
        run_export_job.delay(job.id)
    workers(2, **env)
    job = finished(job, timeout=120)

    assert job.status == "succeeded", job.error
    shards = {s.index: s for s in job.shards.all()}
    assert shards[killed.index].attempt == 2
    for index, finished_at in done_before.items():
        assert (shards[index].attempt, shards[index].finished_at) == (1, finished_at)
    assert all(s.status == "done" for s in shards.values())
    root = Path(settings.EXPORT_ROOT)
    assert [p.name for p in root.iterdir() if p.name.startswith(f"export-{job.id}-")] == [
        Path(job.output_dir).name
    ]
    export_run(config=config(), destination=tmp_path / "cli", shard_size=SHARD_SIZE)
    assert folder_hashes(Path(job.output_dir)) == folder_hashes(tmp_path / "cli")
    assert dict(job.artifacts.exclude(name="manifest.json").values_list("name", "sha256")) == (
        folder_hashes(tmp_path / "cli")
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def bucket(monkeypatch, settings):
    """A real S3-compatible HTTP server on loopback (moto in server mode) with a bucket."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "EXPORT_STORAGE_URL": "s3://sft-datasets/team-a",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.EXPORT_STORAGE_URL = env["EXPORT_STORAGE_URL"]
    _s3_client.cache_clear()
    client = boto3.client("s3")
    client.create_bucket(Bucket="sft-datasets")
    yield client, env
    _s3_client.cache_clear()
    server.stop()


def test_an_export_to_an_s3_bucket_end_to_end(bucket, workers, tmp_path, settings):
    client, env = bucket
    make_conversations(24)  # 3 shards
    admin = UserFactory(roles=["admin"])
    workers(2, **env)

    job = finished(export_job_create(config=config(), created_by=admin))

    assert job.status == "succeeded", job.error
    prefix = f"team-a/{job.output_dir.rsplit('/', 1)[-1]}/"
    assert job.output_dir == f"s3://sft-datasets/{prefix.rstrip('/')}"
    listed = client.list_objects_v2(Bucket="sft-datasets", Prefix=prefix)["Contents"]
    stored = {
        item["Key"][len(prefix) :]: hashlib.sha256(
            client.get_object(Bucket="sft-datasets", Key=item["Key"])["Body"].read()
        ).hexdigest()
        for item in listed
    }
    assert stored == dict(job.artifacts.values_list("name", "sha256"))
    export_run(config=config(), destination=tmp_path / "cli", shard_size=SHARD_SIZE)
    assert {k: v for k, v in stored.items() if k != "manifest.json"} == folder_hashes(
        tmp_path / "cli"
    )

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {member_token(user=admin)}")
    streamed = api.get(f"/api/exports/{job.id}/files/train-00001-of-00003.jsonl")
    assert streamed.status_code == 200
    assert (
        hashlib.sha256(b"".join(streamed.streaming_content)).hexdigest()
        == (stored["train-00001-of-00003.jsonl"])
    )
    settings.EXPORT_S3_PRESIGNED_SECONDS = 60
    redirected = api.get(f"/api/exports/{job.id}/files/manifest.json")
    assert redirected.status_code == 302
    with urllib.request.urlopen(redirected["Location"], timeout=10) as response:
        body = response.read()
    assert hashlib.sha256(body).hexdigest() == stored["manifest.json"]
    assert api.get(f"/api/exports/{job.id}/files/../manifest.json").status_code == 404

    # The zip reads every file from the bucket itself, presigned URLs or not.
    browser = Client()
    browser.force_login(admin)
    response = browser.get(reverse("exports:export-zip", args=[job.id]))
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    zipped = {
        name.removeprefix(f"export-{job.id}/"): hashlib.sha256(archive.read(name)).hexdigest()
        for name in archive.namelist()
    }
    assert zipped == stored
