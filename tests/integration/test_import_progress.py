"""Prompt imports through a real Celery worker: the page sees progress, then the result."""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from labeling.models import ImportBatch
from tests.conftest import wait_for
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROWS = 20_000


def test_confirmed_upload_is_imported_by_the_worker_with_visible_progress(
    celery_worker_process, client, admin_user
):
    project = ProjectFactory(slug="bulk")
    content = "".join(json.dumps(f"Question number {n}?") + "\n" for n in range(ROWS))
    content += json.dumps("Question number 7?") + "\n"
    client.force_login(admin_user)
    preview = client.post(
        reverse("labeling:prompt-upload", args=["bulk"]),
        {"file": SimpleUploadedFile("many.jsonl", content.encode()), "on_duplicate": "skip"},
    )
    assert f"Import {ROWS} prompts" in preview.content.decode()

    confirm = client.post(
        reverse("labeling:prompt-import-confirm", args=["bulk"]),
        {"token": preview.context["token"]},
    )
    batch = ImportBatch.objects.get(project=project)
    url = reverse("labeling:import-batch", args=["bulk", batch.pk])
    assert confirm["Location"] == url

    # Poll the fragment the page polls, as the page does, until the result replaces it.
    seen = []

    def finished():
        fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        seen.append(fragment)
        return "hx-trigger" not in fragment

    wait_for(finished, timeout=180, interval=0.05, message="the worker to finish the import")
    checked = [
        int(match.group(1).replace(",", ""))
        for fragment in seen
        if (match := re.search(r"([\d,]+) of ([\d,]+) rows checked", fragment))
    ]
    assert any(0 < done < ROWS + 1 for done in checked), (
        "the page saw rows being checked while the worker ran"
    )
    assert checked == sorted(checked), "progress only moves forward"
    assert f"Imported</span> {ROWS:,} prompts from many.jsonl" in seen[-1]
    batch.refresh_from_db()
    assert (batch.status, batch.rows_imported, batch.duplicates_skipped) == ("imported", ROWS, 1)
    assert project.prompts.count() == ROWS


def test_api_async_import_with_an_error_fails_in_the_worker_and_imports_nothing(
    celery_worker_process, admin_user
):
    project = ProjectFactory(slug="strict")
    api = APIClient()
    api.force_authenticate(admin_user)
    content = b'"Fine?"\n{"prompt": "Odd?", "colour": "red"}\nnot json\n'
    response = api.post(
        "/api/projects/strict/prompts/import/?async=1",
        {"file": SimpleUploadedFile("bad.jsonl", content)},
        format="multipart",
    )
    assert response.status_code == 202

    def result():
        body = api.get(response["Location"]).json()
        return body if body["status"] not in ("queued", "running") else None

    body = wait_for(result, message="the worker to finish the import")
    assert body["status"] == "failed"
    assert body["errors"][0].startswith('line 2: field "colour": unknown field')
    assert body["errors"][1].startswith("line 3: not valid JSON")
    assert not project.prompts.exists()
