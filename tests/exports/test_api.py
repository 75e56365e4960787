import hashlib

import pytest
from rest_framework.test import APIClient

from exports.models import ExportJob
from exports.services import export_config_from_dict, export_job_execute
from labeling.services import member_token
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    project = ProjectFactory(slug="api-proj")
    reviewer = UserFactory(roles=["reviewer"])
    approved_conversation(project, chat("What is HTTP?", "A protocol."), reviewer=reviewer)
    return project


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {member_token(user=admin_user)}")
    return client


def test_create_returns_a_queued_job_with_its_settings(api, project):
    response = api.post(
        "/api/exports/",
        {"projects": ["api-proj"], "max_tokens": 1024, "formats": ["jsonl"], "seed": 9},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued"
    assert body["config"]["seed"] == 9 and body["config"]["formats"] == ["jsonl"]
    assert body["config"]["dedupe"] is True
    assert ExportJob.objects.get(id=body["id"]).projects.get().slug == "api-proj"


def test_create_names_bad_fields(api, project):
    response = api.post(
        "/api/exports/",
        {"projects": ["nope"], "val_fraction": 3, "template": "alpaca"},
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) >= {"val_fraction", "template"}
    response = api.post("/api/exports/", {"projects": ["nope"]}, format="json")
    assert response.status_code == 400
    assert "no project with the slug nope" in response.json()["error"]["message"]


def test_status_files_and_download_of_a_finished_job(api, admin_user, project):
    config = export_config_from_dict({"projects": ["api-proj"], "val_fraction": 0})
    job = ExportJob.objects.create(config=config.to_dict(), created_by=admin_user)
    export_job_execute(job_id=job.id)

    status = api.get(f"/api/exports/{job.id}/").json()
    assert status["status"] == "succeeded"
    assert status["rows_done"] == status["rows_total"] == 1
    assert status["progress_percent"] == 100

    files = api.get(f"/api/exports/{job.id}/files/").json()
    by_name = {f["name"]: f for f in files}
    assert set(by_name) >= {"manifest.json", "README.md", "train.jsonl", "train.parquet"}
    download = api.get(f"/api/exports/{job.id}/files/train.jsonl")
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert len(body) == by_name["train.jsonl"]["size"]
    assert hashlib.sha256(body).hexdigest() == by_name["train.jsonl"]["sha256"]
    assert api.get(f"/api/exports/{job.id}/files/secret.txt").status_code == 404
    # Each file with its own media type, the same on every machine and as the schema lists.
    types = {
        name: api.get(f"/api/exports/{job.id}/files/{name}")["Content-Type"]
        for name in ("train.jsonl", "train.parquet", "manifest.json", "README.md")
    }
    assert types == {
        "train.jsonl": "application/jsonl",
        "train.parquet": "application/vnd.apache.parquet",
        "manifest.json": "application/json",
        "README.md": "text/markdown",
    }
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    download = schema["paths"]["/api/exports/{id}/files/{name}"]["get"]["responses"]["200"]
    assert set(types.values()) <= set(download["content"])


def test_cancel_stops_a_queued_job(api, admin_user):
    job = ExportJob.objects.create(config={"projects": ["x"]}, created_by=admin_user)
    response = api.post(f"/api/exports/{job.id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


@pytest.mark.parametrize("role", ["labeler", "reviewer"])
def test_non_admins_are_refused_and_anonymous_people_too(role, admin_user, project):
    job = ExportJob.objects.create(config={"projects": ["x"]}, created_by=admin_user)
    person = UserFactory(roles=[role])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {member_token(user=person)}")
    assert (
        client.post("/api/exports/", {"projects": ["api-proj"]}, format="json").status_code == 403
    )
    assert client.get(f"/api/exports/{job.id}/").status_code == 403
    assert client.get(f"/api/exports/{job.id}/files/manifest.json").status_code == 403
    assert APIClient().get(f"/api/exports/{job.id}/").status_code in (401, 403)


def test_unknown_job_is_404(api):
    assert api.get("/api/exports/424242/").status_code == 404
