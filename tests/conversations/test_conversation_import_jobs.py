"""A conversation file too large for a web request goes to a worker by itself: the browser
opens the import's progress page, which ends with the result or the line-numbered errors.
(The worker's service runs in this process here; tests/integration runs it in a worker.)"""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from conversations.models import Conversation
from conversations.services.import_jobs import conversations_import_execute
from labeling.models import ImportBatch
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _jsonl(count: int, bad_at: int | None = None) -> bytes:
    rows = [
        {
            "id": f"c{n}",
            "messages": [
                {"role": "user", "content": f"Question {n}: how do I sort a list?"},
                {"role": "assistant", "content": "Call sorted(xs), or xs.sort() in place."},
            ],
        }
        for n in range(count)
    ]
    if bad_at is not None:
        rows[bad_at - 1]["messages"][1]["content"] = 42
    return "\n".join(json.dumps(row) for row in rows).encode()


def _upload(client, slug: str, content: bytes, **fields):
    return client.post(
        reverse("conversations:conversation-import", args=[slug]),
        {"file": SimpleUploadedFile("big.jsonl", content), "format": "messages", **fields},
        follow=True,
    )


def test_large_file_opens_the_progress_page_then_shows_the_result(client, admin_user, settings):
    settings.IMPORT_SYNC_MAX_BYTES = 1000
    project = ProjectFactory(slug="web-conv")
    client.force_login(admin_user)

    small = _upload(client, "web-conv", _jsonl(2), state="submitted")
    assert small.redirect_chain[-1][0] == reverse("conversations:project-detail", args=["web-conv"])
    assert Conversation.objects.filter(project=project).count() == 2, "a small file imports at once"

    response = _upload(client, "web-conv", _jsonl(30), state="approved")
    batch = ImportBatch.objects.get(project=project, status="queued")
    url = reverse("labeling:import-batch", args=["web-conv", batch.pk])
    assert response.redirect_chain[-1][0] == url
    page = response.content.decode()
    assert "it is checked and imported in the background" in page
    assert "Waiting for a worker" in page
    assert (batch.kind, batch.file_format, batch.conversation_state) == (
        "conversations",
        "messages",
        "approved",
    )
    assert Conversation.objects.filter(project=project).count() == 2

    assert conversations_import_execute(batch_id=batch.pk) == "imported"
    page = client.get(url).content.decode()
    assert "Imported</span> 28 conversations from big.jsonl" in page
    assert "already imported, skipped" in page
    assert Conversation.objects.filter(project=project, state="approved").count() == 28
    batch.refresh_from_db()
    assert (batch.rows_read, batch.rows_imported, batch.duplicates_skipped) == (30, 28, 2)


def test_large_file_with_a_bad_line_imports_nothing_and_the_page_names_the_line(
    client, admin_user, settings
):
    settings.IMPORT_SYNC_MAX_BYTES = 1000
    project = ProjectFactory(slug="web-bad")
    client.force_login(admin_user)
    response = _upload(client, "web-bad", _jsonl(30, bad_at=17), state="submitted")
    batch = ImportBatch.objects.get(project=project)
    assert response.redirect_chain[-1][0] == reverse(
        "labeling:import-batch", args=["web-bad", batch.pk]
    )

    assert conversations_import_execute(batch_id=batch.pk) == "failed"
    page = client.get(reverse("labeling:import-batch", args=["web-bad", batch.pk]))
    assert page.context["batch"].errors == ['line 17: field "messages[1].content": must be text']
    assert escape(page.context["batch"].errors[0]) in page.content.decode()
    assert "Nothing was imported from big.jsonl" in page.content.decode()
    assert not Conversation.objects.filter(project=project).exists()
    batch.refresh_from_db()
    assert batch.status == "failed" and batch.upload_name == ""
