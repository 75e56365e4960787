"""Declared tools and the reasoning mode are project settings: the service, the API and the
settings page refuse a bad spec naming its field, and save nothing."""

import copy
import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from labeling.models import Project
from labeling.services import ProjectError, project_create, project_update
from tests.labeling.test_rubric import _form
from tests.structured_turns.factories import SEARCH, TOOLS, WEATHER

pytestmark = pytest.mark.django_db

BAD_SCHEMA = copy.deepcopy(WEATHER)
BAD_SCHEMA["function"]["parameters"]["properties"]["unit"]["type"] = "strin"
NO_NAME = {"type": "function", "function": {"description": "Nameless."}}


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_service_keeps_valid_tools_and_a_reasoning_mode():
    project = project_create(created_by=None, name="Agents", tools=TOOLS, reasoning_mode="required")
    project.refresh_from_db()
    assert project.tools == TOOLS and project.reasoning_mode == "required"


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (
            [SEARCH, BAD_SCHEMA],
            "tools: tools[1].function.parameters.properties.unit.type: not a valid",
        ),
        ([NO_NAME], "tools: tools[0].function: 'name' is a required property"),
        ([SEARCH, SEARCH], 'tools: tools[1].function.name: "search" is already declared'),
        ({"search": SEARCH}, "tools: tools: must be a list of function specs"),
    ],
)
def test_the_service_refuses_bad_tools_and_saves_nothing(tools, message):
    project = project_create(created_by=None, name="Agents", tools=[SEARCH])
    with pytest.raises(ProjectError) as caught:
        project_update(project=project, tools=tools)
    assert str(caught.value).startswith(message)
    assert Project.objects.get(pk=project.pk).tools == [SEARCH]


def test_the_service_refuses_an_unknown_reasoning_mode():
    with pytest.raises(ProjectError, match="reasoning_mode: use one of off, optional, required"):
        project_create(created_by=None, name="Agents", reasoning_mode="sometimes")
    assert not Project.objects.exists()


def test_the_api_writes_tools_and_names_the_bad_field(admin_user):
    client = _api(admin_user)
    created = client.post(
        "/api/projects/",
        {"name": "Agents", "tools": TOOLS, "reasoning_mode": "optional"},
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["tools"] == TOOLS and created.json()["reasoning_mode"] == "optional"

    bad = client.patch("/api/projects/agents/", {"tools": [SEARCH, BAD_SCHEMA]}, format="json")
    assert bad.status_code == 400
    field_errors = bad.json()["error"]["fields"]["tools"]
    assert field_errors[0].startswith("tools[1].function.parameters.properties.unit.type: not a")
    nameless = client.patch("/api/projects/agents/", {"tools": [NO_NAME]}, format="json")
    assert nameless.json()["error"]["fields"]["tools"] == [
        "tools[0].function: 'name' is a required property"
    ]
    mode = client.patch("/api/projects/agents/", {"reasoning_mode": "always"}, format="json")
    assert mode.status_code == 400 and "reasoning_mode" in mode.json()["error"]["fields"]
    assert client.get("/api/projects/agents/").json()["tools"] == TOOLS


def test_the_settings_page_edits_tools_as_json_with_errors_on_the_field(client, admin_user):
    client.force_login(admin_user)
    created = client.post(
        reverse("labeling:project-create"),
        _form(tools=json.dumps(TOOLS), reasoning_mode="required"),
    )
    assert created.status_code == 302
    project = Project.objects.get(slug="law")
    assert project.tools == TOOLS and project.reasoning_mode == "required"
    page = client.get(reverse("labeling:project-edit", args=["law"])).content.decode()
    assert "Declared tools (JSON)" in page and "get_weather" in page

    bad = client.post(
        reverse("labeling:project-edit", args=["law"]),
        _form(tools=json.dumps([SEARCH, BAD_SCHEMA])),
    )
    assert bad.status_code == 200
    errors = bad.context["form"].errors["tools"]
    assert errors[0].startswith("tools[1].function.parameters.properties.unit.type: not a valid")
    nameless = client.post(
        reverse("labeling:project-edit", args=["law"]), _form(tools=json.dumps([NO_NAME]))
    )
    assert nameless.context["form"].errors["tools"] == [
        "tools[0].function: 'name' is a required property"
    ]
    not_json = client.post(
        reverse("labeling:project-edit", args=["law"]), _form(tools='[\n  {"type": function}\n]')
    )
    assert not_json.context["form"].errors["tools"] == [
        "Not valid JSON: Expecting value (line 2, column 12)."
    ]
    project.refresh_from_db()
    assert project.tools == TOOLS
