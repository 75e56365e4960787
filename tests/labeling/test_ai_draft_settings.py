"""AI drafts are configured per project from the settings page and the API; the key stays in
the server's environment (AI_DRAFT_API_KEY) and is never shown."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.models import DraftRequest
from conversations.services.drafts import draft_request_create, draft_request_run
from labeling.models import Project
from tests.chat_server import API_KEY, CHAT_BASE_URL, point_settings_at_server
from tests.conversations.factories import started_conversation
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _form(**changes):
    data = {
        "name": "Law answers",
        "slug": "law",
        "status": "active",
        "priority": 0,
        "min_turns": 1,
        "max_turns": 4,
        "max_tokens": 2048,
        "replications": 1,
        "lease_minutes": 60,
        "approvals_needed": 1,
        "rubric": "accuracy",
        "ai_drafts_enabled": "on",
        "ai_draft_base_url": "https://llm.example.com/v1",
        "ai_draft_model": "law-7b",
        "ai_draft_temperature": "0.3",
        "ai_draft_max_tokens": "800",
    }
    return {**data, **changes}


def test_admin_turns_ai_drafts_on_in_the_settings_page_and_the_key_is_never_shown(
    client, admin_user, settings
):
    settings.AI_DRAFT_API_KEY = "sk-very-secret"
    ProjectFactory(slug="law")
    client.force_login(admin_user)
    page = client.get(reverse("labeling:project-edit", args=["law"])).content.decode()
    assert "AI drafts" in page and "AI_DRAFT_API_KEY" in page
    assert "sk-very-secret" not in page
    response = client.post(reverse("labeling:project-edit", args=["law"]), _form())
    assert response.status_code == 302
    project = Project.objects.get(slug="law")
    assert project.ai_drafts_enabled
    assert (project.ai_draft_base_url, project.ai_draft_model) == (
        "https://llm.example.com/v1",
        "law-7b",
    )
    assert (project.ai_draft_temperature, project.ai_draft_max_tokens) == (0.3, 800)
    assert "sk-very-secret" not in client.get(f"/api/projects/{project.slug}/").content.decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ai_draft_temperature": "2.5"}, "between 0 and 2"),
        ({"ai_draft_max_tokens": "0"}, "at least 1"),
        ({"ai_draft_base_url": "ftp://llm.example.com"}, "an http:// or https:// URL"),
    ],
)
def test_bad_ai_draft_settings_in_the_form_are_named_and_nothing_is_saved(
    client, admin_user, changes, message
):
    project = ProjectFactory(slug="law")
    client.force_login(admin_user)
    response = client.post(
        reverse("labeling:project-edit", args=["law"]), _form(name="Renamed", **changes)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    project.refresh_from_db()
    assert project.name != "Renamed" and not project.ai_drafts_enabled


def test_api_sets_ai_draft_settings_with_field_errors(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    project = ProjectFactory(slug="maths")
    hot = client.patch("/api/projects/maths/", {"ai_draft_temperature": 3}, format="json")
    assert hot.status_code == 400
    assert hot.json()["error"]["fields"] == {"ai_draft_temperature": ["between 0 and 2"]}
    url = client.patch("/api/projects/maths/", {"ai_draft_base_url": "llm:80"}, format="json")
    assert url.status_code == 400 and "ai_draft_base_url" in url.json()["error"]["fields"]
    ok = client.patch(
        "/api/projects/maths/",
        {"ai_drafts_enabled": True, "ai_draft_model": "m", "ai_draft_max_tokens": 64},
        format="json",
    )
    assert ok.status_code == 200
    assert ok.json()["ai_drafts_enabled"] is True and ok.json()["ai_draft_max_tokens"] == 64
    project.refresh_from_db()
    assert project.ai_draft_temperature is None and project.ai_draft_model == "m"


def test_a_draft_uses_the_projects_model_and_parameters_with_the_servers_key(settings):
    received = point_settings_at_server(settings)
    settings.AI_DRAFT_BASE_URL = ""  # only the project's settings say where to go
    conversation = started_conversation()
    Project.objects.filter(pk=conversation.project_id).update(
        ai_drafts_enabled=True,
        ai_draft_base_url=CHAT_BASE_URL,
        ai_draft_model="project-model",
        ai_draft_temperature=0.2,
        ai_draft_max_tokens=128,
    )
    request = draft_request_create(
        conversation_id=conversation.pk, user=conversation.labeler, message_position=1
    )
    done = draft_request_run(draft_request_id=request.pk)
    assert done.status == DraftRequest.Status.SUCCEEDED, done.error
    sent = received.received[-1]
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("project-model", 0.2, 128)
    assert settings.AI_DRAFT_API_KEY == API_KEY  # the server accepted only this key
