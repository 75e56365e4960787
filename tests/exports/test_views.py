import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.urls import reverse
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from exports.models import ExportJob, TokenizerAsset
from exports.services import export_config_from_dict, export_job_execute
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    project = ProjectFactory(slug="py-help", name="Python help")
    reviewer = UserFactory(roles=["reviewer"])
    for index in range(3):
        approved_conversation(
            project, chat(f"Question {index} <b>bold</b>", f"Answer {index}"), reviewer=reviewer
        )
    return project


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def finished_job(admin_user, **settings) -> ExportJob:
    config = export_config_from_dict({"projects": ["py-help"], "val_fraction": 0, **settings})
    job = ExportJob.objects.create(config=config.to_dict(), created_by=admin_user)
    export_job_execute(job_id=job.id)
    job.refresh_from_db()
    return job


def hf_tokenizer_json() -> bytes:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|im_sep|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(["Question answer user assistant"], trainer=trainer)
    return tokenizer.to_str().encode()


@pytest.mark.parametrize("name", ["exports:export-list", "exports:export-preview"])
def test_people_without_the_admin_role_get_403(client, labeler, name):
    client.force_login(labeler)
    assert client.get(reverse(name)).status_code == 403


def test_anonymous_people_are_sent_to_log_in(client):
    response = client.get(reverse("exports:export-list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_export_page_lists_jobs_in_a_bounded_number_of_queries(
    admin_client, admin_user, project, django_assert_max_num_queries
):
    for _ in range(4):
        finished_job(admin_user)
    with django_assert_max_num_queries(14):
        response = admin_client.get(reverse("exports:export-list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "New export" in html and "Python help" in html
    assert html.count('role="progressbar"') == 4


def test_starting_an_export_queues_a_job_with_the_chosen_settings(admin_client, project):
    response = admin_client.post(
        reverse("exports:export-create"),
        {
            "projects": ["py-help"],
            "date_field": "decided_at",
            "template": "chatml",
            "tokenizer": "cl100k_base",
            "max_tokens": "2048",
            "overflow": "truncate",
            "val_fraction": "0.1",
            "seed": "42",
            "formats": ["parquet"],
            "pack_length": "4096",
            "license": "cc-by-4.0",
        },
    )
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("exports:export-detail", args=[job.id])
    assert job.status == "queued"
    assert job.config["template"] == "chatml"
    assert job.config["overflow"] == "truncate"
    assert job.config["formats"] == ["parquet"]
    assert job.config["dedupe"] is False  # the box was left unticked
    assert list(job.projects.values_list("slug", flat=True)) == ["py-help"]


def test_bad_settings_come_back_with_the_field_named(admin_client, project):
    response = admin_client.post(
        reverse("exports:export-create"),
        {
            "date_field": "decided_at",
            "template": "chatml-sep",
            "tokenizer": "cl100k_base",
            "overflow": "drop",
            "val_fraction": "0.1",
            "seed": "0",
            "formats": ["jsonl"],
            "license": "other",
        },
    )
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_preview_fragment_shows_each_token_as_a_chip_with_user_text_escaped(admin_client, project):
    response = admin_client.get(
        reverse("exports:export-preview"),
        {
            "projects": "py-help",
            "date_field": "decided_at",
            "template": "chatml-sep",
            "tokenizer": "cl100k_base",
            "overflow": "drop",
            "val_fraction": "0",
            "seed": "0",
            "formats": ["jsonl", "parquet"],
            "license": "other",
            "dedupe": "on",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert '<span class="tok special" title="id 100264">&lt;|im_start|&gt;</span>' in html
    assert 'class="tok trained"' in html
    assert "<b>" not in html and ">bold<" in html


def test_job_page_polls_progress_while_running_and_lists_files_when_done(
    admin_client, admin_user, project
):
    queued = ExportJob.objects.create(config={"projects": ["py-help"]}, created_by=admin_user)
    fragment = admin_client.get(
        reverse("exports:export-detail", args=[queued.id]) + "?part=progress",
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "<html" not in fragment and 'hx-trigger="every 1s"' in fragment

    job = finished_job(admin_user, pack_length=64)
    html = admin_client.get(reverse("exports:export-detail", args=[job.id])).content.decode()
    for artifact in job.artifacts.all():
        assert artifact.name in html and artifact.sha256 in html
    assert "train.packed.parquet" in html


def test_finished_job_preview_reads_the_published_parquet(admin_client, admin_user, project):
    job = finished_job(admin_user)
    html = admin_client.get(
        reverse("exports:export-job-preview", args=[job.id]), HTTP_HX_REQUEST="true"
    ).content.decode()
    first = pq.read_table(f"{job.output_dir}/train.parquet").to_pylist()[0]
    assert f"Conversation {first['id']}" in html
    assert html.count('class="tok') >= first["num_tokens"]


def test_download_streams_the_published_file_to_admins_only(
    admin_client, admin_user, client, labeler, project
):
    job = finished_job(admin_user)
    url = reverse("exports:artifact-download", args=[job.id, "train.jsonl"])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert body == Path(job.output_dir, "train.jsonl").read_bytes()
    assert "attachment" in response["Content-Disposition"]
    assert len([json.loads(line) for line in body.splitlines()]) == 3

    assert (
        admin_client.get(reverse("exports:artifact-download", args=[job.id, "../x"])).status_code
        == 404
    )
    assert (
        admin_client.get(
            reverse("exports:artifact-download", args=[999, "train.jsonl"])
        ).status_code
        == 404
    )
    client.force_login(labeler)
    assert client.get(url).status_code == 403


def test_cancelling_a_queued_job_stops_it(admin_client, admin_user):
    job = ExportJob.objects.create(config={"projects": ["x"]}, created_by=admin_user)
    response = admin_client.post(reverse("exports:export-cancel", args=[job.id]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled" and job.cancel_requested


def test_uploaded_hugging_face_tokenizer_can_be_chosen_and_exported_with(
    admin_client, admin_user, project
):
    upload = io.BytesIO(hf_tokenizer_json())
    upload.name = "tokenizer.json"
    response = admin_client.post(
        reverse("exports:tokenizer-upload"),
        {"kind": "huggingface", "label": "Tiny BPE", "files": [upload]},
    )
    assert response.status_code == 302
    asset = TokenizerAsset.objects.get()
    assert asset.label == "Tiny BPE" and len(asset.sha256) == 64

    page = admin_client.get(reverse("exports:export-list")).content.decode()
    assert f'value="asset:{asset.id}"' in page
    job = finished_job(admin_user, tokenizer="huggingface", tokenizer_asset=asset.id)
    assert job.status == "succeeded", job.error
    assert job.manifest["tokenizer"]["name"] == "huggingface"


def test_a_wrong_o200k_file_is_refused_with_the_reason(admin_client):
    upload = io.BytesIO(b"aGVsbG8= 0\n")
    upload.name = "o200k_base.tiktoken"
    response = admin_client.post(
        reverse("exports:tokenizer-upload"), {"kind": "o200k_base", "files": [upload]}
    )
    assert response.status_code == 400
    assert "is not the o200k_base vocabulary" in response.content.decode()
    assert not TokenizerAsset.objects.exists()
