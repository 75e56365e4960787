"""Background prompt imports: queue, progress, result pages and API, stale upload cleanup.

These run the worker's service in this process; tests/integration/test_import_progress.py
runs the same through a real Celery worker.
"""

import json
import os
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from config.celery import app as celery_app
from labeling.models import ImportBatch, Prompt
from labeling.services import (
    ImportSource,
    prompts_import,
    prompts_import_enqueue,
    prompts_import_execute,
    stale_uploads_remove,
    text_key,
)
from labeling.uploads import tmp_dir
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """A MEDIA_ROOT of this test's own: the cleanup counts every file in MEDIA_ROOT/tmp."""
    settings.MEDIA_ROOT = tmp_path / "media"


def _jsonl(count: int, start: int = 0) -> bytes:
    return "".join(
        json.dumps(f"Question {n}?") + "\n" for n in range(start, start + count)
    ).encode()


def _kept(content: bytes, name: str = "prompts-test.jsonl"):
    path = tmp_dir() / name
    path.write_bytes(content)
    return path


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_batch_page_polls_while_queued_then_shows_the_result(client, admin_user):
    project = ProjectFactory(slug="qa")
    batch = prompts_import_enqueue(
        project=project,
        upload=_kept(_jsonl(3)),
        file_name="three.jsonl",
        user=admin_user,
        rows_total=3,
    )
    client.force_login(admin_user)
    url = reverse("labeling:import-batch", args=["qa", batch.pk])

    page = client.get(url).content.decode()
    assert "Waiting for a worker" in page
    assert 'hx-trigger="every 1s"' in page
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and 'id="import-status"' in fragment

    assert prompts_import_execute(batch_id=batch.pk) == "imported"
    batch.refresh_from_db()
    assert (batch.status, batch.rows_imported, batch.rows_done, batch.upload_name) == (
        "imported",
        3,
        3,
        "",
    )
    assert batch.finished_at is not None
    assert not (tmp_dir() / "prompts-test.jsonl").exists(), "the worker removes its upload"
    done = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Imported</span> 3 prompts from three.jsonl" in done
    assert "hx-trigger" not in done, "a finished batch stops the polling"
    assert prompts_import_execute(batch_id=batch.pk) is None, "a redelivered task does nothing"
    assert project.prompts.count() == 3


def test_running_batch_shows_rows_checked_of_the_total(client, admin_user):
    project = ProjectFactory(slug="qa")
    batch = ImportBatch.objects.create(
        project=project,
        status="running",
        step="checking",
        file_name="big.jsonl",
        rows_done=3000,
        rows_total=12000,
    )
    client.force_login(admin_user)
    body = client.get(reverse("labeling:import-batch", args=["qa", batch.pk])).content.decode()
    assert "3,000 of 12,000 rows checked (25%)" in body
    assert 'aria-valuenow="25"' in body
    batch.step = "saving"
    batch.rows_done = 12000
    batch.save()
    body = client.get(reverse("labeling:import-batch", args=["qa", batch.pk])).content.decode()
    assert "Step 2 of 2" in body and "indeterminate" in body


def test_batch_page_is_for_admins_of_that_project_url(client, admin_user, labeler):
    batch = ImportBatch.objects.create(
        project=ProjectFactory(slug="qa"), status="imported", file_name="a.jsonl"
    )
    ProjectFactory(slug="other")
    client.force_login(labeler)
    assert client.get(reverse("labeling:import-batch", args=["qa", batch.pk])).status_code == 403
    client.force_login(admin_user)
    wrong = client.get(reverse("labeling:import-batch", args=["other", batch.pk]))
    assert wrong.status_code == 404


def test_progress_is_reported_every_thousand_rows_then_the_saving_step():
    project = ProjectFactory()
    path = _kept(_jsonl(2500))
    calls = []
    report = prompts_import(
        project=project,
        source=ImportSource(name="p.jsonl", path=path),
        user=None,
        progress=lambda step, done, total: calls.append((step, done, total)),
    )
    assert report.status == "imported"
    assert calls == [
        ("checking", 1000, None),
        ("checking", 2000, None),
        ("checking", 2500, None),
        ("saving", 2500, 2500),
    ]


@pytest.mark.parametrize("on_duplicate", ["skip", "fail"])
def test_a_prompt_added_between_checking_and_saving_is_still_a_duplicate(on_duplicate):
    """Checking runs outside the transaction; saving looks again under the project lock."""
    project = ProjectFactory()
    path = _kept(_jsonl(3))

    def someone_adds_question_1(step, done, total):
        if step == "saving":
            Prompt.objects.create(
                project=project, text="Question 1?", text_key=text_key("Question 1?")
            )

    report = prompts_import(
        project=project,
        source=ImportSource(name="p.jsonl", path=path),
        user=None,
        on_duplicate=on_duplicate,
        progress=someone_adds_question_1,
    )
    texts = sorted(project.prompts.values_list("text", flat=True))
    if on_duplicate == "skip":
        assert report.status == "imported"
        assert texts == ["Question 0?", "Question 1?", "Question 2?"]
        assert ImportBatch.objects.get(pk=report.batch_id).duplicates_skipped == 1
    else:
        assert report.status == "failed"
        assert texts == ["Question 1?"], "nothing of the file was imported"
        errors = ImportBatch.objects.get(pk=report.batch_id).errors
        assert "line 2: the project already has this prompt" in errors


def test_a_queued_file_with_errors_fails_with_line_numbers_and_imports_nothing(admin_user):
    project = ProjectFactory()
    path = _kept(b'"fine"\n{"prompt": "x", "domain": "chemistry"}\n')
    batch = prompts_import_enqueue(project=project, upload=path, file_name="bad.jsonl", user=None)
    assert prompts_import_execute(batch_id=batch.pk) == "failed"
    batch.refresh_from_db()
    assert batch.status == "failed"
    assert batch.errors == ['line 2: field "domain": unknown domain "chemistry"']
    assert not project.prompts.exists()
    assert not path.exists()


def test_a_queued_batch_whose_file_is_gone_fails_clearly():
    project = ProjectFactory()
    path = _kept(_jsonl(2))
    batch = prompts_import_enqueue(project=project, upload=path, file_name="p.jsonl", user=None)
    path.unlink()
    assert prompts_import_execute(batch_id=batch.pk) == "failed"
    batch.refresh_from_db()
    assert batch.errors == ["The uploaded file is no longer there: upload it again."]


def test_api_async_file_import_answers_202_and_the_batch_to_poll(admin_user):
    project = ProjectFactory(slug="files")
    response = _api(admin_user).post(
        "/api/projects/files/prompts/import/?async=1",
        {"file": SimpleUploadedFile("p.jsonl", _jsonl(4))},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["file_name"] == "p.jsonl"
    assert response["Location"] == body["url"] == f"/api/projects/files/imports/{body['id']}/"
    assert not project.prompts.exists()

    prompts_import_execute(batch_id=body["id"])
    polled = _api(admin_user).get(body["url"]).json()
    assert polled["status"] == "imported"
    assert (polled["rows_imported"], polled["rows_done"], polled["progress_percent"]) == (4, 4, 100)
    assert polled["created_by"] == admin_user.username


def test_api_async_is_for_files_and_the_batch_is_for_admins(admin_user, labeler):
    ProjectFactory(slug="files")
    ProjectFactory(slug="other")
    client = _api(admin_user)
    listed = client.post("/api/projects/files/prompts/import/?async=1", ["x"], format="json")
    assert listed.status_code == 400
    assert "only for uploaded files" in json.dumps(listed.json())
    upload = client.post(
        "/api/projects/files/prompts/import/?async=1",
        {"file": SimpleUploadedFile("p.jsonl", _jsonl(1))},
        format="multipart",
    ).json()
    assert client.get(f"/api/projects/other/imports/{upload['id']}/").status_code == 404
    assert _api(labeler).get(upload["url"]).status_code == 403


def test_stale_uploads_are_removed_after_a_day_unless_an_import_needs_them():
    project = ProjectFactory()
    day_old = time.time() - 25 * 3600
    abandoned = _kept(b'"x"\n', "prompts-abandoned.jsonl")
    fresh = _kept(b'"x"\n', "prompts-fresh.jsonl")
    queued = _kept(b'"x"\n', "prompts-queued.jsonl")
    other = _kept(b"anything", "left-by-hand.txt")
    for path in (abandoned, queued, other):
        os.utime(path, (day_old, day_old))
    prompts_import_enqueue(project=project, upload=queued, file_name="q.jsonl", user=None)

    assert stale_uploads_remove() == 2
    assert not abandoned.exists() and not other.exists()
    assert fresh.exists() and queued.exists()
    assert stale_uploads_remove(older_than=timedelta(seconds=0)) == 1
    assert not fresh.exists() and queued.exists()


def test_stale_upload_cleanup_is_scheduled_with_celery_beat():
    # What a worker does as it starts: import every app's tasks (and the job engine's).
    celery_app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["remove-stale-uploads"]
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] <= 24 * 3600


def test_api_file_past_the_sync_threshold_goes_to_the_worker_by_itself(admin_user, settings):
    settings.IMPORT_SYNC_MAX_BYTES = 1000
    project = ProjectFactory(slug="big")
    small = _api(admin_user).post(
        "/api/projects/big/prompts/import/",
        {"file": SimpleUploadedFile("small.jsonl", _jsonl(3))},
        format="multipart",
    )
    assert small.status_code == 201 and project.prompts.count() == 3

    large_file = _jsonl(100, start=10)
    assert len(large_file) > 1000
    response = _api(admin_user).post(
        "/api/projects/big/prompts/import/",
        {"file": SimpleUploadedFile("large.jsonl", large_file)},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued" and response["Location"] == body["url"]
    assert project.prompts.count() == 3, "nothing is imported inside the request"
    assert prompts_import_execute(batch_id=body["id"]) == "imported"
    assert project.prompts.count() == 103


def test_api_over_the_limits_is_413_with_the_limit_in_words(admin_user, settings):
    ProjectFactory(slug="limits")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = _api(admin_user).post(
        "/api/projects/limits/prompts/import/", ["x" * 100] * 40, format="json"
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large" and error["status"] == 413
    assert "A request body is limited to 2.0\xa0KB" in error["message"]
    assert "as a file" in error["message"]

    settings.UPLOAD_MAX_BYTES = 100
    response = _api(admin_user).post(
        "/api/projects/limits/prompts/import/",
        {"file": SimpleUploadedFile("p.jsonl", _jsonl(20))},
        format="multipart",
    )
    assert response.status_code == 413
    assert response.json()["error"]["message"] == (
        "The file is larger than the upload limit of 100\xa0bytes."
    )
    assert not ImportBatch.objects.exists()


def test_browser_upload_past_the_sync_threshold_shows_the_progress_page(
    client, admin_user, settings
):
    settings.IMPORT_SYNC_MAX_BYTES = 1000
    project = ProjectFactory(slug="web")
    client.force_login(admin_user)
    response = client.post(
        reverse("labeling:prompt-upload", args=["web"]),
        {"file": SimpleUploadedFile("large.jsonl", _jsonl(100)), "on_duplicate": "skip"},
        follow=True,
    )
    batch = ImportBatch.objects.get(project=project)
    assert response.redirect_chain[-1][0] == reverse(
        "labeling:import-batch", args=["web", batch.pk]
    )
    page = response.content.decode()
    assert "it is checked and imported in the background" in page
    assert "Waiting for a worker" in page
    assert batch.status == "queued" and not project.prompts.exists()

    settings.UPLOAD_MAX_BYTES = 500
    response = client.post(
        reverse("labeling:prompt-upload", args=["web"]),
        {"file": SimpleUploadedFile("huge.jsonl", _jsonl(100)), "on_duplicate": "skip"},
    )
    assert response.status_code == 413
    assert "larger than the upload limit of 500\xa0bytes" in response.content.decode()
