"""Conversation imports too large for a web request, through a real Celery worker: the API
answers 202 with the batch, the worker imports with the request's options, or fails the
batch naming the bad line and imports nothing."""

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from conversations.models import Conversation
from labeling.models import ImportBatch
from tests.conftest import wait_for
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OASST = Path(__file__).parent.parent / "fixtures" / "oasst_small.jsonl"


def _api(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def _finished(api: APIClient, url: str) -> dict:
    def result():
        body = api.get(url).json()
        return body if body["status"] not in ("queued", "running") else None

    return wait_for(result, message="the worker to finish the conversation import")


def test_api_large_file_is_imported_by_the_worker_with_its_options(
    celery_worker_process, admin_user, settings
):
    settings.IMPORT_SYNC_MAX_BYTES = 1000
    project = ProjectFactory(slug="trees")
    content = OASST.read_bytes()
    assert len(content) > settings.IMPORT_SYNC_MAX_BYTES
    api = _api(admin_user)
    response = api.post(
        "/api/projects/trees/conversations/import/",
        {
            "file": SimpleUploadedFile("trees.jsonl", content),
            "format": "oasst",
            "state": "approved",
            "all_paths": "true",
        },
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued" and response["Location"] == body["url"]
    assert body["kind"] == "conversations"

    body = _finished(api, response["Location"])
    assert body["status"] == "imported", body
    assert (body["rows_read"], body["rows_imported"]) == (3, 5)
    imported = Conversation.objects.filter(project=project)
    # all_paths and approved travelled with the job: every path of each tree, approved.
    assert set(imported.values_list("source_id", flat=True)) == {
        "t1/a12",
        "t1/a11",
        "t1/a2",
        "t2/b1",
        "t2/b2",
    }
    assert set(imported.values_list("state", flat=True)) == {"approved"}
    assert all(c.current_revision_id for c in imported)
    batch = ImportBatch.objects.get(pk=body["id"])
    assert batch.upload_name == "" and batch.finished_at is not None


def test_api_large_file_with_a_bad_line_fails_in_the_worker_naming_it(
    celery_worker_process, admin_user, settings
):
    settings.IMPORT_SYNC_MAX_BYTES = 1000
    project = ProjectFactory(slug="strict-conv")
    good = {
        "messages": [
            {"role": "user", "content": "What is a list comprehension? " * 3},
            {"role": "assistant", "content": "A compact way to build a list. " * 3},
        ]
    }
    bad = {"messages": [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Hey"}]}
    lines = [json.dumps({**good, "id": f"c{n}"}) for n in range(20)]
    lines.insert(12, json.dumps(bad))
    api = _api(admin_user)
    response = api.post(
        "/api/projects/strict-conv/conversations/import/",
        {"file": SimpleUploadedFile("bad.jsonl", "\n".join(lines).encode())},
        format="multipart",
    )
    assert response.status_code == 202, response.json()

    body = _finished(api, response["Location"])
    assert body["status"] == "failed"
    assert body["errors"] == ['line 13: field "messages[1].role": unknown role "bot"']
    assert not Conversation.objects.filter(project=project).exists()
