"""The OpenAPI schema describes the answers the API gives (the fuzzer checks it against a live
server: tests/test_api_fuzz.py); these are the promises clients read from it."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_lists_its_errors_in_the_one_error_shape(schema):
    error = {"$ref": "#/components/schemas/ApiError"}
    assert set(schema["components"]["schemas"]["ApiErrorBody"]["required"]) == {
        "status",
        "code",
        "message",
        "fields",
    }
    for name, operation in _operations(schema):
        responses = operation["responses"]
        for status in ("401", "429"):
            assert responses[status]["content"]["application/json"]["schema"] == error, name
        assert "Retry-After" in responses["429"]["headers"], name
        if "{" in name:
            assert "404" in responses, name
        if "requestBody" in operation:
            assert {"400", "415"} <= set(responses), name


def test_paginated_lists_are_described_as_pages(schema):
    for path in (
        "/api/projects/{slug}/prompts/",
        "/api/conversations/",
        "/api/conversations/browse/",
    ):
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        page = schema["components"]["schemas"][ok["schema"]["$ref"].rsplit("/", 1)[1]]
        assert {"next", "previous", "results"} <= set(page["properties"]), path
        parameters = schema["paths"][path]["get"]["parameters"]
        assert any(p["name"] == "cursor" for p in parameters), path
        assert "400" in schema["paths"][path]["get"]["responses"], path


def test_conflicts_and_upload_limits_are_described(schema):
    paths = schema["paths"]
    assert "409" in paths["/api/conversations/{conversation_id}/"]["put"]["responses"]
    assert "409" in paths["/api/review-queue/{conversation_id}/claim/"]["post"]["responses"]
    assert "409" in paths["/api/projects/{slug}/"]["delete"]["responses"]
    assert "413" in paths["/api/projects/{slug}/prompts/import/"]["post"]["responses"]


@pytest.mark.parametrize("username", ["bad user name", "a/b", "<b>x</b>", "tab\there"])
def test_members_api_refuses_usernames_the_schema_pattern_refuses(admin_user, username):
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.post(
        "/api/members/", {"username": username, "roles": ["labeler"]}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()["error"]["fields"]
