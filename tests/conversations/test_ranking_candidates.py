"""AI candidates for a ranking project: the project's endpoint (a real chat-completions
server on loopback) writes k varied replies per bare prompt, as a job with progress."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.services import next_task
from conversations.services.candidates import (
    CANDIDATE_JOBS,
    CandidatesError,
    CandidatesRunning,
    candidates_generate_run,
    candidates_generate_start,
)
from labeling.models import Candidate, ImportBatch, Prompt
from labeling.services import ImportSource, member_token, prompts_import
from labeling.services.import_jobs import PROMPT_IMPORTS, prompts_import_cancel
from tests.chat_server import point_settings_at_server
from tests.conversations.factories import ranking_project
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def bare_prompts(project, tmp_path, *texts):
    path = tmp_path / "bare.jsonl"
    path.write_text("".join(json.dumps({"prompt": t, "domain": "python"}) + "\n" for t in texts))
    report = prompts_import(
        project=project, source=ImportSource(name=path.name, path=path), user=None
    )
    assert report.status == "imported", report.all_messages()


def test_bare_prompts_import_only_when_the_ai_writes_candidates(tmp_path):
    project = ranking_project()
    path = tmp_path / "bare.jsonl"
    path.write_text(json.dumps({"prompt": "Sort?"}) + "\n")
    report = prompts_import(
        project=project, source=ImportSource(name=path.name, path=path), user=None
    )
    assert report.all_messages()[0].startswith('line 1: field "candidates": missing')


def test_k_varied_candidates_per_bare_prompt_with_progress_and_errors(settings, tmp_path):
    server = point_settings_at_server(settings)
    project = ranking_project(ai_drafts_enabled=True, candidates_k=3, candidates_temperature=0.9)
    bare_prompts(project, tmp_path, "SAMPLES: sort a list?", "FAIL500 please", "Same every time")
    labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    # Bare prompts are not handed out: there is nothing to rank yet.
    assert next_task(labeler, project).reason == "all_done"

    batch = candidates_generate_start(project=project, user=None)
    assert (batch.status, batch.rows_total) == (ImportBatch.Status.QUEUED, 3)
    assert candidates_generate_run(batch_id=batch.pk) == ImportBatch.Status.IMPORTED
    batch.refresh_from_db()

    assert batch.status == ImportBatch.Status.IMPORTED
    assert (batch.rows_done, batch.rows_imported) == (3, 1)
    sampled, failed, same = Prompt.objects.filter(project=project).order_by("pk")
    contents = [c.content for c in sampled.candidates.order_by("position")]
    assert len(contents) == 3 and len(set(contents)) == 3
    assert {c.model for c in sampled.candidates.all()} == {"loopback-model"}
    assert all(body["temperature"] == 0.9 for body in server.received)
    assert batch.errors == [
        f"prompt {failed.pk}: The AI endpoint answered 500 Internal Server Error: "
        '{"error": {"message": "upstream exploded"}}',
        f"prompt {same.pk}: 1 distinct replies came back; 2 are needed.",
    ]
    assert not failed.candidates.exists() and not same.candidates.exists()
    # Now the prompt with candidates is a task.
    task = next_task(labeler, project)
    assert task.assignment.prompt_id == sampled.pk


def test_generation_is_refused_where_it_cannot_run(tmp_path):
    with pytest.raises(CandidatesError, match="ranking project"):
        candidates_generate_start(project=ProjectFactory(), user=None)
    with pytest.raises(CandidatesError, match="Turn AI drafts on"):
        candidates_generate_start(project=ranking_project(), user=None)


def test_the_api_queues_generation_and_answers_the_batch_to_poll(settings, tmp_path):
    point_settings_at_server(settings)
    project = ranking_project(slug="gen", ai_drafts_enabled=True)
    bare_prompts(project, tmp_path, "SAMPLES: reverse a list?")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {member_token(user=UserFactory(roles=['admin']))}")
    response = api.post("/api/projects/gen/candidates/generate/")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued" and response.json()["rows_total"] == 1
    again = api.post("/api/projects/gen/candidates/generate/")
    assert again.status_code == 409
    assert "already being generated" in again.json()["error"]["message"]


def test_the_project_page_queues_generation_and_opens_the_batch_page(client, settings, tmp_path):
    point_settings_at_server(settings)
    project = ranking_project(slug="gen-page", ai_drafts_enabled=True)
    bare_prompts(project, tmp_path, "SAMPLES: reverse a list?")
    client.force_login(UserFactory(roles=["admin"]))
    page = client.get(reverse("conversations:project-detail", args=["gen-page"])).content.decode()
    assert "Generate 4 AI candidates per bare prompt" in page
    response = client.post(reverse("conversations:candidates-generate", args=["gen-page"]))
    batch = ImportBatch.objects.get(kind=ImportBatch.Kind.CANDIDATES)
    assert response["Location"] == reverse("labeling:import-batch", args=["gen-page", batch.pk])
    assert b"AI candidates: 4 per prompt" in client.get(response["Location"]).content


def test_the_job_engine_runs_candidates_as_their_own_kind_and_a_cancel_stops_them(
    settings, tmp_path
):
    point_settings_at_server(settings)
    project = ranking_project(ai_drafts_enabled=True, candidates_k=2)
    bare_prompts(project, tmp_path, "SAMPLES: one?", "SAMPLES: two?")
    batch = candidates_generate_start(project=project, user=None)
    # Beat's view of the jobs: the batch is an AI candidates job, never a prompt import.
    assert CANDIDATE_JOBS.rows().filter(pk=batch.pk).exists()
    assert not PROMPT_IMPORTS.rows().filter(pk=batch.pk).exists()
    with pytest.raises(CandidatesRunning):
        candidates_generate_start(project=project, user=None)

    # The import page's Cancel serves both kinds of batch.
    batch = prompts_import_cancel(batch=batch)
    assert batch.status == ImportBatch.Status.CANCELLED  # queued: stopped at once
    assert candidates_generate_run(batch_id=batch.pk) is None
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.CANCELLED
    assert not Candidate.objects.filter(prompt__project=project).exists()
    # A finished job is not run again by a second delivery.
    assert candidates_generate_run(batch_id=batch.pk) is None
