import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from labeling.models import Assignment, ImportBatch, Project, ProjectStatus
from labeling.services import member_token
from tests.factories import ProjectFactory, PromptFactory, UserFactory

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {member_token(user=user)}")
    return client


def test_next_task_returns_the_assignment_with_its_conversation(labeler):
    prompt = PromptFactory(text="What is asyncio?")
    response = _api(labeler).post("/api/tasks/next/", {}, format="json")
    assert response.status_code == 200
    body = response.json()
    assignment = Assignment.objects.get(labeler=labeler)
    assert body["id"] == assignment.pk
    assert body["prompt"]["id"] == prompt.pk and body["prompt"]["text"] == "What is asyncio?"
    assert body["project"] == prompt.project.slug
    assert body["conversation"] == assignment.conversation.pk
    assert body["lease_expires_at"]


def test_next_task_in_a_named_project_and_204_when_none(labeler):
    wanted = ProjectFactory(slug="wanted", priority=-5)
    PromptFactory(project=ProjectFactory(priority=10))
    PromptFactory(project=wanted)
    client = _api(labeler)
    body = client.post("/api/tasks/next/", {"project": "wanted"}, format="json").json()
    assert body["project"] == "wanted"
    client.post(f"/api/tasks/{body['id']}/skip/", {"reason": "no"}, format="json")
    none = client.post("/api/tasks/next/", {"project": "wanted"}, format="json")
    assert none.status_code == 204
    assert none["X-No-Task-Reason"] == "all_done"


def test_next_task_without_body_works_and_paused_is_204(labeler):
    PromptFactory(project=ProjectFactory(status=ProjectStatus.PAUSED))
    response = _api(labeler).post("/api/tasks/next/")
    assert response.status_code == 204
    assert response["X-No-Task-Reason"] == "project_paused"


def test_next_task_needs_the_labeler_role(reviewer):
    assert _api(reviewer).post("/api/tasks/next/").status_code == 403


def test_skip_needs_a_reason_and_your_own_task(labeler):
    PromptFactory()
    task = _api(labeler).post("/api/tasks/next/").json()
    other = UserFactory()
    assert _api(other).post(f"/api/tasks/{task['id']}/skip/", {"reason": "x"}).status_code == 404
    missing = _api(labeler).post(f"/api/tasks/{task['id']}/skip/", {}, format="json")
    assert missing.status_code == 400
    assert "reason" in missing.json()["error"]["fields"]
    done = _api(labeler).post(f"/api/tasks/{task['id']}/skip/", {"reason": "Too vague"})
    assert done.json() == {"id": task["id"], "status": "skipped"}


def test_admin_creates_updates_and_deletes_projects(admin_user):
    client = _api(admin_user)
    created = client.post(
        "/api/projects/",
        {"name": "Biology Q&A", "status": "active", "replications": 2, "guidelines": "# Hi"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["slug"] == "biology-qa"
    patched = client.patch(
        "/api/projects/biology-qa/", {"status": "paused", "lease_minutes": 45}, format="json"
    )
    assert (patched.json()["status"], patched.json()["lease_minutes"]) == ("paused", 45)
    bad = client.patch("/api/projects/biology-qa/", {"max_turns": 0}, format="json")
    assert bad.status_code == 400
    guidelines = client.post(
        "/api/projects/biology-qa/guidelines/", {"body": "# Better"}, format="json"
    )
    assert guidelines.json()["version"] == 2
    assert client.delete("/api/projects/biology-qa/").status_code == 204
    assert not Project.objects.filter(slug="biology-qa").exists()


def test_others_read_only_what_they_may(labeler):
    ProjectFactory(slug="open", status=ProjectStatus.ACTIVE)
    ProjectFactory(slug="python-only", domains=["python"])
    ProjectFactory(slug="law-only", domains=["law"])
    ProjectFactory(slug="drafting", status=ProjectStatus.DRAFT)
    client = _api(labeler)
    slugs = {p["slug"] for p in client.get("/api/projects/").json()["results"]}
    assert slugs == {"open", "python-only"}
    assert client.get("/api/projects/law-only/").status_code == 404
    assert client.post("/api/projects/", {"name": "Mine"}, format="json").status_code == 403
    assert client.patch("/api/projects/open/", {"priority": 9}, format="json").status_code == 403


def test_prompt_list_is_paginated_and_domain_filtered(labeler):
    project = ProjectFactory(slug="mixed")
    law = ProjectFactory(domains=["law"]).domains.get()
    PromptFactory(project=project, text="General")
    PromptFactory(project=project, text="Legal", domain=law)
    body = _api(labeler).get("/api/projects/mixed/prompts/").json()
    assert [p["text"] for p in body["results"]] == ["General"]
    assert body["next"] is None and body["previous"] is None


def test_bulk_import_from_a_json_list(admin_user):
    project = ProjectFactory(slug="bulk")
    client = _api(admin_user)
    items = ["First?", {"prompt": "Second?", "id": "s2"}]
    dry = client.post("/api/projects/bulk/prompts/import/?dry_run=1", items, format="json")
    assert dry.status_code == 200 and dry.json()["rows_valid"] == 2
    assert not project.prompts.exists()
    done = client.post("/api/projects/bulk/prompts/import/", items, format="json")
    assert done.status_code == 201
    assert done.json()["rows_imported"] == 2
    assert project.prompts.count() == 2


def test_bulk_import_errors_name_the_item_and_import_nothing(admin_user):
    project = ProjectFactory(slug="bulk")
    response = _api(admin_user).post(
        "/api/projects/bulk/prompts/import/",
        ["fine", {"prompt": "x", "domain": "chemistry"}],
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["errors"] == ['item 2: field "domain": unknown domain "chemistry"']
    assert not project.prompts.exists()
    assert ImportBatch.objects.get(project=project).status == "failed"


def test_bulk_import_of_a_file(admin_user):
    project = ProjectFactory(slug="files")
    content = b"prompt,id\nOne?,1\nTwo?,2\nOne? ,3\n"
    response = _api(admin_user).post(
        "/api/projects/files/prompts/import/",
        {"file": SimpleUploadedFile("p.csv", content)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["duplicates"] == ["line 4: same prompt as line 2"]
    assert project.prompts.count() == 2


def test_bulk_import_file_over_the_limit_is_413(admin_user, settings):
    settings.UPLOAD_MAX_BYTES = 100
    ProjectFactory(slug="files")
    response = _api(admin_user).post(
        "/api/projects/files/prompts/import/",
        {"file": SimpleUploadedFile("p.jsonl", json.dumps("x" * 500).encode())},
        format="multipart",
    )
    assert response.status_code == 413
    assert "upload limit" in response.json()["error"]["message"]


def test_bulk_import_is_for_admins(labeler):
    ProjectFactory(slug="bulk")
    response = _api(labeler).post("/api/projects/bulk/prompts/import/", ["x"], format="json")
    assert response.status_code == 403


def test_nested_validation_errors_name_the_field_path_in_plain_words(admin_user):
    response = _api(admin_user).post(
        "/api/projects/", {"name": "Nested", "rubric": [["not", "text"], "style"]}, format="json"
    )
    assert response.status_code == 400
    assert "ErrorDetail" not in response.content.decode()
    error = response.json()["error"]
    not_a_criterion = 'Not a criterion: give a name or {"name", "label", "description"}.'
    assert error["fields"] == {"rubric": [f"[0]: {not_a_criterion}"]}
    assert error["message"] == f"rubric[0]: {not_a_criterion}"


def test_item_errors_of_a_list_are_named_by_position():
    from config.api import field_errors

    detail = {"messages": [{}, {"role": ["Not valid."], "tool_calls": [{"id": ["Required."]}]}]}
    assert field_errors(detail) == {
        "messages[1].role": ["Not valid."],
        "messages[1].tool_calls[0].id": ["Required."],
    }
