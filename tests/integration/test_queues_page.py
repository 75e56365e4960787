"""The queues page against a real worker on the real broker: the worker, what it runs, the
messages waiting in a queue nobody reads, and the job in flight."""

import json
import subprocess
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from config.celery import app
from labeling.models import ImportBatch
from labeling.tasks import expire_leases
from tests.conftest import start_celery_worker, wait_for
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

URL = reverse("operations:queues")


def _row(page: str, marker: str) -> str:
    return page[page.index(marker) :].split("</tr>")[0]


def test_shows_the_worker_and_counts_the_messages_waiting_in_a_queue(
    celery_worker_process, client, admin_user, settings
):
    worker_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    unread = f"nobody-reads-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        expire_leases.apply_async(queue=unread)
    settings.CELERY_TASK_DEFAULT_QUEUE = unread  # the page lists the app's default queue
    client.force_login(admin_user)
    pages = []

    def worker_answered() -> bool:
        pages.append(client.get(URL).content.decode())
        return "data-worker=" in pages[-1]

    try:
        # A worker that has just started (on a busy machine) may miss the first broadcast.
        wait_for(worker_answered, timeout=30, message="the worker to answer the page")
        page = pages[-1]
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(unread)
    assert '<td data-testid="waiting">3</td>' in _row(page, f'data-queue="{unread}"')
    assert f'data-queue="{worker_queue}"' in page  # the queue the worker reads
    assert f'data-worker="{worker_queue}-' in page
    assert 'data-testid="no-workers"' not in page
    assert '<td data-testid="waiting">3</td>' not in _row(page, f'data-queue="{worker_queue}"')


@pytest.fixture
def prefork_worker(settings, tmp_path):
    """A prefork worker alone on the app's queue: a solo worker answers `inspect` only
    between tasks, so the other workers stop reading the queue for this test."""
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    process = start_celery_worker(queue, tmp_path / "prefork.log", pool="prefork")
    others = [
        name
        for name, queues in (app.control.inspect(timeout=2).active_queues() or {}).items()
        if any(q["name"] == queue for q in queues) and "@" in name
    ]
    mine = [name for name in others if name in (tmp_path / "prefork.log").read_text()]
    others = [name for name in others if name not in mine]
    if others:
        app.control.cancel_consumer(queue, destination=others, reply=True, timeout=5)
    yield process
    if others:
        app.control.add_consumer(queue, destination=others, reply=True, timeout=5)
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def test_shows_the_task_a_worker_runs_and_its_job_in_flight(prefork_worker, client, admin_user):
    project = ProjectFactory(slug="many")
    rows = "".join(json.dumps(f"Question number {n}?") + "\n" for n in range(40_000))
    client.force_login(admin_user)
    preview = client.post(
        reverse("labeling:prompt-upload", args=["many"]),
        {"file": SimpleUploadedFile("many.jsonl", rows.encode()), "on_duplicate": "skip"},
    )
    client.post(
        reverse("labeling:prompt-import-confirm", args=["many"]),
        {"token": preview.context["token"]},
    )
    batch = ImportBatch.objects.get(project=project)
    pages = []

    def running_on_a_worker() -> bool:
        page = client.get(URL, HTTP_HX_REQUEST="true").content.decode()
        pages.append(page)
        return (
            "labeling.tasks.run_prompt_import" in page
            or not ImportBatch.objects.get(id=batch.id).is_active
        )

    wait_for(running_on_a_worker, timeout=120, interval=0.1, message="the import to run")
    page = pages[-1]
    assert "labeling.tasks.run_prompt_import" in page, "the import ended before a page saw it"
    articles = page.split("<article")[1:]
    running = [a for a in articles if "labeling.tasks.run_prompt_import" in a]
    assert len(running) == 1 and f"[{batch.id}]" in running[0]
    assert "Reads <code>" in running[0]
    job = _row(page, f'data-job="prompts import-{batch.id}"')
    assert "running" in job and "many: many.jsonl" in job
    wait_for(lambda: not ImportBatch.objects.get(id=batch.id).is_active, timeout=180)
    assert f'data-job="prompts import-{batch.id}"' not in client.get(URL).content.decode()
