"""NUL characters (U+0000) cannot be stored by PostgreSQL: every way text comes in refuses
them with a clear 400 or a line-numbered import error, never a server error. Run on
PostgreSQL to mean anything (SQLite stores NUL)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.services.importing import ConversationImportError, conversations_parse
from labeling.models import ImportBatch, Prompt
from labeling.services import (
    ImportSource,
    prompts_import,
    prompts_import_enqueue,
    prompts_import_execute,
)
from labeling.uploads import tmp_dir
from tests.conversations.factories import reviewer_factory, submitted_conversation
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

GOOD = json.dumps("What is a closure?")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _failed_batch(project) -> ImportBatch:
    batch = ImportBatch.objects.get(project=project)
    assert batch.status == ImportBatch.Status.FAILED
    assert not Prompt.objects.filter(project=project).exists()
    return batch


JSONL_CASES = [
    ({"prompt": "Why\u0000?"}, 'line 2: field "prompt": contains a NUL character'),
    ({"prompt": "Why?", "system": "Be\u0000 brief"}, 'line 2: field "system": contains a NUL'),
    ({"prompt": "Why?", "metadata": {"src": "a\u0000"}}, 'line 2: field "metadata.src": contains'),
    ({"prompt": "Why?", "metadata": {"k\u0000": 1}}, 'line 2: field "metadata.k\\u0000": contains'),
    (
        {"messages": [{"role": "system", "content": "S\u0000"}, {"role": "user", "content": "Q"}]},
        'line 2: field "messages[0].content": contains',
    ),
    ({"prompt": "Why?", "domain": "py\u0000thon"}, 'line 2: field "domain": contains'),
    ("Bare\u0000 string", 'line 2: field "prompt": contains'),
]


@pytest.mark.parametrize(("record", "expected"), JSONL_CASES)
def test_a_nul_in_a_jsonl_line_is_a_line_numbered_error_recorded_in_the_history(
    tmp_path, record, expected
):
    project = ProjectFactory()
    path = tmp_path / "p.jsonl"
    path.write_text(GOOD + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    report = prompts_import(
        project=project, source=ImportSource(name="p.jsonl", path=path), user=None
    )
    assert report.status == "failed"
    assert report.all_messages()[0].startswith(expected), report.all_messages()
    assert _failed_batch(project).errors == report.all_messages()


def test_a_raw_nul_byte_in_a_csv_cell_or_header_is_a_line_numbered_error(tmp_path):
    project = ProjectFactory()
    path = tmp_path / "p.csv"
    path.write_bytes(b"prompt,system\nFine?,ok\nBad\x00 one?,ok\n")
    report = prompts_import(
        project=project, source=ImportSource(name="p.csv", path=path), user=None
    )
    assert report.all_messages() == [
        'line 3: field "prompt": contains a NUL character (\\u0000), which cannot be stored; '
        "remove it"
    ]
    _failed_batch(project)

    path.write_bytes(b"prompt,sys\x00tem\nFine?,ok\n")
    report = prompts_import(
        project=project, source=ImportSource(name="p.csv", path=path), user=None
    )
    assert report.status == "failed" and report.all_messages()[0].startswith("line 1: column")
    assert "\\u0000" in ImportBatch.objects.latest("pk").errors[0]


def test_api_json_list_and_csv_upload_with_nul_answer_422_and_record_the_attempt(admin_user):
    project = ProjectFactory(slug="nul")
    client = _api(admin_user)
    response = client.post(
        "/api/projects/nul/prompts/import/",
        ["Fine?", {"prompt": "Fine too?", "metadata": {"note": "x\u0000y"}}],
        format="json",
    )
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == [
        'item 2: field "metadata.note": contains a NUL character (\\u0000), which cannot be '
        "stored; remove it"
    ]
    _failed_batch(project)

    upload = SimpleUploadedFile("p.csv", b"prompt\nFine?\nB\x00ad?\n", content_type="text/csv")
    response = client.post("/api/projects/nul/prompts/import/", {"file": upload})
    assert response.status_code == 422
    assert response.json()["errors"][0].startswith('line 3: field "prompt": contains a NUL')
    assert ImportBatch.objects.filter(project=project, status="failed").count() == 2


def test_cli_refuses_a_file_with_nul_naming_the_line(tmp_path, capsys):
    project = ProjectFactory(slug="cli-nul")
    path = tmp_path / "p.jsonl"
    path.write_text(GOOD + "\n" + json.dumps({"prompt": "a\u0000"}) + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("import_prompts", str(path), "--project", "cli-nul")
    assert 'line 2: field "prompt": contains a NUL' in capsys.readouterr().err
    _failed_batch(project)


def test_async_import_with_nul_fails_with_the_line_in_the_batch(admin_user):
    project = ProjectFactory(slug="bg")
    kept = tmp_dir() / "prompts-nul.jsonl"
    bad = json.dumps({"prompt": "x", "system": "y\u0000"})
    kept.write_bytes(f"{GOOD}\n{bad}\n".encode())
    batch = prompts_import_enqueue(
        project=project, upload=kept, file_name="n\x00ul.jsonl", user=admin_user
    )
    assert prompts_import_execute(batch_id=batch.pk) == "failed"
    batch = _failed_batch(project)
    assert batch.file_name == "n\\u0000ul.jsonl"
    assert batch.errors[0].startswith('line 2: field "system": contains a NUL')


def test_browser_preview_names_the_line_with_nul(client, admin_user):
    ProjectFactory(slug="web")
    client.force_login(admin_user)
    bad = json.dumps("q\u0000")
    upload = SimpleUploadedFile("p.jsonl", f"{GOOD}\n{bad}\n".encode())
    response = client.post(
        reverse("labeling:prompt-upload", args=["web"]), {"file": upload, "on_duplicate": "skip"}
    )
    assert response.status_code == 200
    assert "line 2: field &quot;prompt&quot;: contains a NUL character" in response.content.decode()


def test_conversation_import_names_the_line_and_field_with_nul():
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
        ),
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "Q"},
                    {"role": "assistant", "content": "A\u0000"},
                ]
            }
        ),
    ]
    with pytest.raises(ConversationImportError) as caught:
        conversations_parse(
            stream=[(line + "\n").encode() for line in lines], project=ProjectFactory()
        )
    assert caught.value.errors[0].startswith('line 2: field "messages[1].content": contains a NUL')


def test_api_bodies_query_strings_and_forms_with_nul_are_400_naming_the_field(client):
    conversation = submitted_conversation()
    reviewer = reviewer_factory()
    response = _api(reviewer).post(
        f"/api/conversations/{conversation.pk}/review-edits/",
        {
            "expected_version": conversation.version,
            "messages": [{"position": 1, "content": "Fixed\u0000"}],
        },
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    # The one error shape: fields by input field, the path below it leading the message.
    assert error["fields"] == {
        "messages": [
            "[0].content: contains a NUL character (\\u0000), which cannot be stored; remove it"
        ]
    }
    assert error["message"].startswith("messages[0].content: contains a NUL character")
    response = _api(reviewer).get("/api/review-queue/", {"domain": "py\x00"})
    assert response.status_code == 400 and "domain" in response.json()["error"]["fields"]

    client.force_login(reviewer)
    response = client.get(reverse("conversations:review-queue"), {"domain": "py\x00"})
    assert response.status_code == 400 and "domain: contains a NUL" in response.content.decode()
    response = client.post(
        reverse("conversations:review-edit", args=[conversation.pk]),
        {"position": 1, "content": "Fixed\x00", "expected_version": conversation.version},
    )
    assert response.status_code == 400
