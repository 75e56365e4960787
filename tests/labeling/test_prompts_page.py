"""The prompts page and its API: find prompts (full-text search on PostgreSQL), filter by
domain, status and import, edit a prompt nobody started, retire one."""

import re

import pytest
from django.db import connection
from django.db.models import Count
from django.urls import reverse
from rest_framework.test import APIClient

from labeling.models import ImportBatch, Prompt
from labeling.services import assignment_next, domain_get_or_create
from tests.factories import ProjectFactory, PromptFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    project = ProjectFactory(slug="help", domains=["python", "biology"])
    python, biology = domain_get_or_create(name="python"), domain_get_or_create(name="biology")
    batch = ImportBatch.objects.create(
        project=project, status=ImportBatch.Status.IMPORTED, file_name="batch.jsonl"
    )
    PromptFactory(project=project, text="How do I run tests in parallel?", domain=python)
    PromptFactory(project=project, text="Which cells divide fastest?", domain=biology)
    PromptFactory(project=project, text="The runner crashes on start", import_batch=batch)
    return project


def _texts(response) -> list[str]:
    return [row["text"] for row in response.json()["results"]]


def test_search_uses_full_text_on_postgresql_and_filters_combine(client, admin_user, project):
    client.force_login(admin_user)
    url = reverse("labeling:prompt-list", args=["help"])
    html = client.get(url, {"q": "running"}).content.decode()
    if connection.vendor == "postgresql":
        # Stemming: "running" finds "run" and "runner"'s stem differs, so only the first.
        assert "How do I run tests in parallel?" in html
    assert "Which cells divide fastest?" not in html
    by_domain = client.get(url, {"domain": "biology"}).content.decode()
    assert "Which cells divide fastest?" in by_domain and "run tests" not in by_domain
    no_domain = client.get(url, {"domain": "none"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in no_domain
    assert "The runner crashes on start" in no_domain and "cells" not in no_domain
    batch = ImportBatch.objects.get()
    by_batch = client.get(url, {"batch": batch.pk}).content.decode()
    assert by_batch.count('data-testid="prompt-row"') == 1


def test_page_needs_the_admin_role_and_queries_stay_bounded(
    client, admin_user, project, labeler, django_assert_max_num_queries
):
    client.force_login(labeler)
    assert client.get(reverse("labeling:prompt-list", args=["help"])).status_code == 403
    client.force_login(admin_user)
    for index in range(60):
        PromptFactory(project=project, text=f"Extra prompt {index}")
    with django_assert_max_num_queries(14):
        page = client.get(reverse("labeling:prompt-list", args=["help"]))
    assert page.content.decode().count('data-testid="prompt-row"') == 50
    cursor = re.search(r'cursor=([\w-]+)" rel="next"', page.content.decode()).group(1)
    with django_assert_max_num_queries(14):
        second = client.get(reverse("labeling:prompt-list", args=["help"]), {"cursor": cursor})
    assert second.content.decode().count('data-testid="prompt-row"') == 13
    assert 'rel="next"' not in second.content.decode()


def test_edit_a_prompt_nobody_started_but_not_one_that_was(client, admin_user, project):
    client.force_login(admin_user)
    prompt = Prompt.objects.get(text__startswith="The runner")
    url = reverse("labeling:prompt-edit", args=["help", prompt.pk])
    response = client.post(url, {"text": "The test runner crashes at start", "domain": "python"})
    assert response.status_code == 302
    prompt.refresh_from_db()
    assert prompt.text == "The test runner crashes at start" and prompt.domain.slug == "python"

    labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    lease = assignment_next(user=labeler, project=project).assignment
    started = lease.prompt
    refused = client.post(
        reverse("labeling:prompt-edit", args=["help", started.pk]), {"text": "Changed"}
    )
    assert refused.status_code == 400
    assert "already started this prompt" in refused.content.decode()
    started.refresh_from_db()
    assert started.text != "Changed"


def test_a_retired_prompt_leaves_the_pool_and_a_running_lease_stays(client, admin_user):
    project = ProjectFactory(slug="solo", replications=2)
    first, second = PromptFactory(project=project), PromptFactory(project=project)
    writer = UserFactory(roles=["labeler"])
    lease = assignment_next(user=writer, project=project).assignment
    assert lease.prompt == first
    client.force_login(admin_user)
    for prompt in (first, second):
        client.post(reverse("labeling:prompt-retire", args=["solo", prompt.pk]))
    assert Prompt.objects.filter(retired_at__isnull=False).count() == 2
    # Nobody else gets either; the running lease is still the writer's.
    assert assignment_next(user=UserFactory(roles=["labeler"]), project=project).assignment is None
    again = assignment_next(user=writer, project=project)
    assert again.assignment == lease and again.resumed


def test_api_lists_with_the_same_filters_edits_and_retires(admin_user, project, labeler):
    client = APIClient()
    client.force_authenticate(admin_user)
    url = "/api/projects/help/prompts/"
    assert _texts(client.get(url, {"domain": "none"})) == ["The runner crashes on start"]
    assert len(_texts(client.get(url, {"status": "open"}))) == 3
    bad = client.get(url, {"status": "finished", "batch": "x"})
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"status", "batch"}

    prompt = Prompt.objects.get(text__startswith="Which cells")
    edited = client.patch(f"{url}{prompt.pk}/", {"domain": None}, format="json")
    assert edited.status_code == 200 and edited.json()["domain"] is None
    retired = client.post(f"{url}{prompt.pk}/retire/")
    assert retired.status_code == 200 and retired.json()["retired_at"]
    assert _texts(client.get(url, {"status": "retired"})) == ["Which cells divide fastest?"]

    as_labeler = APIClient()
    as_labeler.force_authenticate(labeler)
    assert as_labeler.post(f"{url}{prompt.pk}/retire/").status_code in (403, 404)
    assert as_labeler.patch(f"{url}{prompt.pk}/", {"text": "x"}).status_code in (403, 404)


def test_the_import_forms_domain_goes_to_every_prompt_without_its_own(client, admin_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from labeling.services import prompts_import_execute

    project = ProjectFactory(slug="bulk", domains=["python", "biology"])
    client.force_login(admin_user)
    lines = [f'{{"prompt": "Question {n}?"}}' for n in range(250)]
    lines.append('{"prompt": "About cells?", "domain": "biology"}')
    upload = SimpleUploadedFile("bulk.jsonl", "\n".join(lines).encode())
    page = client.post(
        reverse("labeling:prompt-upload", args=["bulk"]),
        {"file": upload, "on_duplicate": "skip", "domain": "python"},
    )
    assert page.status_code == 200
    token = page.context["token"]
    confirmed = client.post(
        reverse("labeling:prompt-import-confirm", args=["bulk"]), {"token": token}
    )
    assert confirmed.status_code == 302
    batch = ImportBatch.objects.get(project=project)
    assert batch.default_domain.slug == "python"
    prompts_import_execute(batch_id=batch.pk)  # what the worker runs
    domains = dict(
        Prompt.objects.filter(project=project).values_list("domain__slug").annotate(n=Count("id"))
    )
    assert domains == {"python": 250, "biology": 1}


def test_the_api_import_takes_a_domain_for_the_whole_file(admin_user):
    project = ProjectFactory(slug="api-bulk", domains=["python"])
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.post(
        "/api/projects/api-bulk/prompts/import/?domain=python",
        ["First?", {"prompt": "Second?"}],
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert set(project.prompts.values_list("domain__slug", flat=True)) == {"python"}
    outside = client.post(
        "/api/projects/api-bulk/prompts/import/?domain=biology", ["Third?"], format="json"
    )
    assert outside.status_code in (400, 422)
