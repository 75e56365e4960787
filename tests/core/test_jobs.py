"""The job engine (core/jobs.py) in one process: the 503 when the broker is down, what
celery beat sends again, the end of a poison job, import cancel and a measured time left.

Workers that really die, a broker that comes back and a finishing step that outlasts
the staleness limit are in tests/integration/test_job_engine.py.
"""

import datetime as dt
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from config.celery import app
from conversations.models import DraftRequest
from conversations.services.drafts import draft_request_run
from core.jobs import KINDS, QUEUE_DOWN, jobs_recover
from exports.models import ExportJob, ExportShard
from exports.services import export_config_from_dict, export_job_execute, export_job_folder
from exports.services.sharding import export_shard_execute
from labeling.models import ImportBatch, Project
from labeling.services import ImportSource, prompts_import, prompts_import_execute
from labeling.services.imports import ImportCancelled
from labeling.uploads import tmp_dir
from tests.conversations.factories import started_conversation
from tests.factories import ProjectFactory

CONFIG = {"projects": ["engine"], "val_fraction": 0}


@pytest.fixture
def project(db):
    return ProjectFactory(slug="engine")


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def export_job(admin_user, **fields) -> ExportJob:
    config = export_config_from_dict(CONFIG)
    return ExportJob.objects.create(config=config.to_dict(), created_by=admin_user, **fields)


def ago(seconds: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=seconds)


def kept_file(content: bytes) -> Path:
    path = tmp_dir() / f"prompts-{uuid.uuid4().hex}.jsonl"
    path.write_bytes(content)
    return path


def test_every_job_kind_is_registered_and_recovered_by_celery_beat(settings):
    assert set(KINDS) == {
        "exports.tasks.run_export_job",
        "labeling.tasks.run_prompt_import",
        "conversations.tasks.draft_generate",
        "conversations.tasks.candidates_generate",
        "conversations.tasks.run_conversation_import",
    }
    app.loader.import_default_modules()  # as a worker does when it starts
    entry = settings.CELERY_BEAT_SCHEDULE["recover-jobs"]
    assert entry["task"] in app.tasks and set(KINDS) <= set(app.tasks)
    # A dead run is picked up within two minutes: stale, then at the next beat.
    assert settings.JOB_STALE_AFTER_SECONDS + entry["schedule"] <= 120


# Broker down: 503, the job saved ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_api_export_answers_503_in_the_error_shape_and_keeps_the_job_queued(
    project, api, broker_down
):
    response = api.post("/api/exports/", CONFIG, format="json")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "queue_unavailable" and QUEUE_DOWN in error["message"]
    job = ExportJob.objects.get()
    assert response.json()["job"] == job.id
    assert (job.status, job.sent_at, job.attempt) == ("queued", None, 0)


@pytest.mark.django_db(transaction=True)
def test_the_export_form_answers_503_with_the_message(project, client, admin_user, broker_down):
    client.force_login(admin_user)
    response = client.post(
        reverse("exports:export-create"),
        {"projects": ["engine"], "template": "chatml-sep", "tokenizer": "cl100k_base",
         "val_fraction": "0", "seed": "1", "formats": ["jsonl"], "overflow": "drop",
         "date_field": "decided_at", "license": "cc-by-4.0"},
    )  # fmt: skip

    assert response.status_code == 503
    assert QUEUE_DOWN in response.content.decode()
    job = ExportJob.objects.get()
    assert job.status == "queued"
    page = client.get(reverse("exports:export-detail", args=[job.id])).content.decode()
    assert QUEUE_DOWN in page, "the job's own page says why it waits"


@pytest.mark.django_db(transaction=True)
def test_async_prompt_import_answers_503_and_keeps_the_batch_and_its_file(
    project, api, broker_down
):
    response = api.post(
        "/api/projects/engine/prompts/import/?async=1",
        {"file": SimpleUploadedFile("later.jsonl", b'"One?"\n"Two?"\n')},
        format="multipart",
    )

    assert response.status_code == 503
    assert QUEUE_DOWN in response.json()["error"]["message"]
    batch = ImportBatch.objects.get()
    assert (batch.status, batch.sent_at) == ("queued", None)
    assert (tmp_dir() / batch.upload_name).is_file(), "the worker needs the file later"


@pytest.mark.django_db(transaction=True)
def test_the_import_confirm_page_answers_503_and_shows_the_waiting_batch(
    project, client, admin_user, broker_down
):
    client.force_login(admin_user)
    preview = client.post(
        reverse("labeling:prompt-upload", args=["engine"]),
        {"file": SimpleUploadedFile("p.jsonl", b'"One?"\n'), "on_duplicate": "skip"},
    )
    response = client.post(
        reverse("labeling:prompt-import-confirm", args=["engine"]),
        {"token": preview.context["token"]},
    )

    assert response.status_code == 503
    page = response.content.decode()
    assert QUEUE_DOWN in page and "Waiting for a worker" in page
    assert ImportBatch.objects.get().status == "queued"


@pytest.mark.django_db(transaction=True)
def test_asking_for_an_ai_draft_answers_503_and_keeps_the_request_queued(broker_down):
    conversation = started_conversation()
    Project.objects.filter(pk=conversation.project_id).update(
        ai_drafts_enabled=True, ai_draft_base_url="http://127.0.0.1:9/v1", ai_draft_model="m"
    )
    labeler = APIClient()
    labeler.force_authenticate(conversation.labeler)

    response = labeler.post(
        f"/api/conversations/{conversation.pk}/drafts/", {"position": 1}, format="json"
    )

    assert response.status_code == 503
    assert QUEUE_DOWN in response.json()["error"]["message"]
    assert DraftRequest.objects.get(pk=response.json()["job"]).status == "queued"


# What celery beat sends again -----------------------------------------------------------


@pytest.fixture
def unread_queue():
    """Tasks go to a queue no worker reads: what was sent stays there, then is dropped."""
    queue = f"sft-unread-{uuid.uuid4().hex[:8]}"
    app.conf.update(task_routes={name: {"queue": queue} for name in KINDS})
    yield queue
    app.conf.update(task_routes=None)
    with app.connection_for_write() as connection:
        connection.default_channel.queue_delete(queue)


def test_beat_sends_queued_and_abandoned_jobs_again_but_not_live_or_recently_sent_ones(
    project, admin_user, settings, unread_queue
):
    settings.JOB_STALE_AFTER_SECONDS = 60
    never_sent = export_job(admin_user)
    sent_long_ago = export_job(admin_user, sent_at=ago(10_000))
    waiting = export_job(admin_user, sent_at=ago(5))
    dead = export_job(admin_user, status="running", heartbeat_at=ago(61), sent_at=ago(600))
    just_resent = export_job(admin_user, status="running", heartbeat_at=ago(61), sent_at=ago(5))
    live = export_job(admin_user, status="running", heartbeat_at=ago(5), sent_at=ago(600))
    finished = export_job(admin_user, status="succeeded", sent_at=ago(600))

    assert jobs_recover() == 3

    sent = set(ExportJob.objects.filter(sent_at__gt=ago(5)).values_list("id", flat=True))
    assert sent == {never_sent.id, sent_long_ago.id, dead.id}
    assert {waiting.id, just_resent.id, live.id, finished.id}.isdisjoint(sent)
    assert jobs_recover() == 0, "sent once per staleness period, not at every beat"


def test_beat_leaves_an_export_whose_shards_wait_in_the_queue_until_long_after(
    project, admin_user, settings, unread_queue
):
    settings.JOB_STALE_AFTER_SECONDS = 60

    def sharded(*statuses: str, sent_seconds_ago: float) -> ExportJob:
        job = export_job(
            admin_user, status="running", heartbeat_at=ago(120), sent_at=ago(sent_seconds_ago)
        )
        for index, status in enumerate(statuses):
            ExportShard.objects.create(
                job=job, index=index, id_from=index, id_to=index, conversations=1,
                status=status, heartbeat_at=ago(120) if status == "running" else None,
            )  # fmt: skip
        return job

    queued_shards = sharded("done", "pending", "pending", sent_seconds_ago=300)
    dead_shard = sharded("done", "running", "pending", sent_seconds_ago=300)
    lost_messages = sharded("done", "pending", sent_seconds_ago=10_000)

    assert jobs_recover() == 2

    sent = set(ExportJob.objects.filter(sent_at__gt=ago(5)).values_list("id", flat=True))
    assert sent == {dead_shard.id, lost_messages.id}
    assert queued_shards.id not in sent


def test_beat_stops_at_a_broker_that_is_still_down(project, admin_user, broker_down):
    job = export_job(admin_user)

    assert jobs_recover() == 0
    job.refresh_from_db()
    assert job.sent_at is None


# Poison jobs: they end, and leave nothing published --------------------------------------


def test_an_export_whose_runs_kept_dying_fails_readably_and_its_folder_goes(
    project, admin_user, settings
):
    settings.JOB_MAX_ATTEMPTS = 3
    job = export_job(admin_user, status="running", attempt=3, lost_runs=2, heartbeat_at=ago(600))
    # What a run killed between its rename and its record leaves: a published folder.
    folder = export_job_folder(job)
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")

    assert export_job_execute(job_id=job.id) is None

    job.refresh_from_db()
    assert (job.status, job.lost_runs, job.attempt) == ("failed", 3, 3)
    assert "started 3 times and its worker process died each time" in job.error
    assert not folder.exists(), "no dataset stays published under a failed job"
    assert export_job_execute(job_id=job.id) is None, "never run again"


def test_a_shard_whose_runs_kept_dying_fails_its_export(project, admin_user, settings):
    settings.JOB_MAX_ATTEMPTS = 3
    job = export_job(admin_user, status="running", attempt=1, heartbeat_at=timezone.now())
    for index in range(2):
        ExportShard.objects.create(
            job=job, index=index, id_from=index, id_to=index, conversations=1,
            status="running", attempt=2, lost_runs=2 - index, heartbeat_at=ago(600),
        )  # fmt: skip

    assert export_shard_execute(job_id=job.id, index=0) == "failed"

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error.startswith("The export's shard 1 was started 3 times")
    assert export_shard_execute(job_id=job.id, index=1) is None, "the export is over"


def test_an_import_whose_runs_kept_dying_fails_with_a_message_a_person_reads(
    project, admin_user, settings
):
    settings.JOB_MAX_ATTEMPTS = 3
    path = kept_file(b'"Q?"\n')
    batch = ImportBatch.objects.create(
        project=project, status="running", file_name="p.jsonl", upload_name=path.name,
        attempt=2, lost_runs=1, heartbeat_at=ago(600),
    )  # fmt: skip

    assert prompts_import_execute(batch_id=batch.id) == "imported", "the third start runs"
    batch.refresh_from_db()
    assert (batch.attempt, batch.lost_runs, batch.rows_imported) == (3, 2, 1)

    dying = ImportBatch.objects.create(
        project=project, status="running", file_name="p.jsonl", attempt=3, lost_runs=2,
        heartbeat_at=ago(600),
    )  # fmt: skip
    assert prompts_import_execute(batch_id=dying.id) is None
    dying.refresh_from_db()
    assert dying.status == "failed"
    assert dying.errors[0].startswith("The prompt import was started 3 times")


def test_a_draft_whose_runs_kept_dying_fails_instead_of_looping(settings, db):
    settings.JOB_MAX_ATTEMPTS = 2
    draft = DraftRequest.objects.create(
        conversation=started_conversation(), message_position=1, status="running", attempt=2,
        lost_runs=1, heartbeat_at=ago(600),
    )  # fmt: skip

    assert draft_request_run(draft_request_id=draft.id).status == "failed"
    draft.refresh_from_db()
    assert "started 2 times" in draft.error


# Import cancel ---------------------------------------------------------------------------


def test_cancelling_a_queued_import_through_the_api_stops_it_at_once(project, api):
    path = kept_file(b'"Q?"\n')
    batch = ImportBatch.objects.create(
        project=project, status="queued", file_name="p.jsonl", upload_name=path.name
    )

    response = api.post(f"/api/projects/engine/imports/{batch.id}/cancel/")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["cancel_requested"]) == ("cancelled", True)
    assert not path.exists()
    assert prompts_import_execute(batch_id=batch.id) is None
    assert not project.prompts.exists()


def test_cancelling_a_live_import_asks_it_to_stop_and_the_page_says_so(project, client, admin_user):
    batch = ImportBatch.objects.create(
        project=project, status="running", file_name="p.jsonl", attempt=1,
        heartbeat_at=timezone.now(),
    )  # fmt: skip
    client.force_login(admin_user)
    page = reverse("labeling:import-batch", args=["engine", batch.id])
    cancel = reverse("labeling:import-batch-cancel", args=["engine", batch.id])
    assert f'hx-post="{cancel}"' in client.get(page).content.decode()

    response = client.post(cancel)

    assert response.status_code == 302 and response["Location"] == page
    batch.refresh_from_db()
    assert (batch.status, batch.cancel_requested) == ("running", True)
    assert "Stopping… nothing of this import is saved." in client.get(page).content.decode()


def test_the_save_checks_for_a_cancel_under_the_lock_and_saves_nothing(project, tmp_path):
    """A cancel asked after the rows were checked, just before the save, still wins."""
    batch = ImportBatch.objects.create(
        project=project, status="running", file_name="p.jsonl", attempt=1,
        cancel_requested=True,
    )  # fmt: skip
    source = tmp_path / "p.jsonl"
    source.write_bytes(b'"One?"\n"Two?"\n')

    with pytest.raises(ImportCancelled):
        prompts_import(
            project=project, source=ImportSource(name="p.jsonl", path=source), user=None,
            batch=batch,
        )  # fmt: skip

    assert not project.prompts.exists()
    batch.refresh_from_db()
    assert (batch.status, batch.rows_imported) == ("running", 0)


# Time left ---------------------------------------------------------------------------------


def test_time_left_is_given_only_while_a_run_measures_it(project, admin_user, api):
    now = timezone.now()
    job = export_job(
        admin_user, status="running", started_at=now - dt.timedelta(seconds=10), rows_done=100,
        rows_total=300, heartbeat_at=now,
    )  # fmt: skip
    assert job.seconds_left(now) == 20

    ExportJob.objects.filter(id=job.id).update(heartbeat_at=ago(3600))
    assert api.get(f"/api/exports/{job.id}/").json()["seconds_left"] is None
    job.refresh_from_db()
    assert job.seconds_left(timezone.now()) is None
    ExportJob.objects.filter(id=job.id).update(heartbeat_at=timezone.now(), rows_done=0)
    job.refresh_from_db()
    assert job.seconds_left(timezone.now()) is None
