from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from rest_framework.authtoken.models import Token

from labeling.models import Domain, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run_create_member(*args) -> str:
    out = StringIO()
    call_command("create_member", *args, stdout=out)
    return out.getvalue()


def test_create_member_creates_person_roles_and_unknown_domains(monkeypatch):
    monkeypatch.setenv("MEMBER_PASSWORD", "from-the-env-42")
    run_create_member(
        "marie",
        "--role",
        "labeler",
        "--role",
        "reviewer",
        "--domain",
        "chemistry",
        "--reviewer-domain",
        "biology",
        "--email",
        "m@example.com",
    )
    marie = User.objects.get(username="marie")
    assert marie.roles == ["labeler", "reviewer"]
    assert [d.slug for d in marie.labeler_domains.all()] == ["chemistry"]
    assert [d.slug for d in marie.reviewer_domains.all()] == ["biology"]
    assert marie.email == "m@example.com"
    assert marie.check_password("from-the-env-42")
    assert Domain.objects.filter(slug__in=["chemistry", "biology"]).count() == 2


def test_create_member_updates_and_prints_token_last():
    run_create_member("sam", "--role", "labeler", "--domain", "law")
    output = run_create_member("sam", "--role", "admin", "--token")
    sam = User.objects.get(username="sam")
    assert sam.roles == ["admin"]
    assert sam.labeler_domains.count() == 0
    assert sam.is_staff
    assert output.strip().splitlines()[-1] == Token.objects.get(user=sam).key
    assert output.startswith("Updated sam")


def test_create_member_without_password_env_cannot_log_in(monkeypatch):
    monkeypatch.delenv("MEMBER_PASSWORD", raising=False)
    run_create_member("nopass", "--role", "labeler")
    assert not User.objects.get(username="nopass").has_usable_password()


def test_create_member_rejects_an_unknown_role():
    with pytest.raises(CommandError, match="invalid choice"):
        run_create_member("x", "--role", "boss")


def test_people_page_is_for_admins_only(client, labeler, admin_user):
    client.force_login(labeler)
    assert client.get(reverse("labeling:people")).status_code == 403
    client.force_login(admin_user)
    response = client.get(reverse("labeling:people"))
    assert response.status_code == 200
    assert b"lab-lea" in response.content


def test_admin_adds_and_edits_a_person_in_the_app(client, admin_user):
    client.force_login(admin_user)
    Domain.objects.create(slug="law", name="Law")
    response = client.post(
        reverse("labeling:people"),
        {
            "username": "newbie",
            "roles": ["labeler"],
            "labeler_domains": ["law"],
            "password": "pw-123456789",
        },
    )
    assert response.status_code == 302
    newbie = User.objects.get(username="newbie")
    assert newbie.is_labeler and [d.slug for d in newbie.labeler_domains.all()] == ["law"]

    response = client.post(
        reverse("labeling:person-edit", args=[newbie.pk]),
        {
            "username": "newbie",
            "roles": ["reviewer"],
            "reviewer_domains": ["law"],
            "is_active": "on",
        },
    )
    newbie.refresh_from_db()
    assert newbie.roles == ["reviewer"]
    assert newbie.check_password("pw-123456789"), "an empty password field keeps the password"


def test_admin_adds_a_domain(client, admin_user):
    client.force_login(admin_user)
    client.post(reverse("labeling:domain-create"), {"name": "Organic Chemistry"})
    assert Domain.objects.filter(slug="organic-chemistry").exists()


def test_api_token_auth_and_one_error_format(client):
    person = UserFactory(roles=["labeler"])
    token = Token.objects.create(user=person)
    response = client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert response.json()["username"] == person.username

    response = client.get("/api/members/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["status"] == 403 and error["code"] == "permission_denied" and error["message"]

    response = client.get("/api/me/", HTTP_AUTHORIZATION="Token wrong")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_api_admin_creates_member_and_gets_field_errors(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/api/members/",
        {"username": "api-person", "roles": ["reviewer"], "reviewer_domains": ["law"]},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["reviewer_domains"] == ["law"]

    response = client.post("/api/members/", {"roles": ["chief"]}, content_type="application/json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"username", "roles"}


def test_api_schema_and_docs_work_offline_for_members(client, labeler):
    client.force_login(labeler)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/me/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI comes from the sidecar package's static files, not a CDN.
    assert b"cdn" not in docs.content.lower()
    assert b"drf_spectacular_sidecar/swagger-ui-dist" in docs.content


BAD_USERNAMES = ["bad user name", "a/b", "<b>x</b>"]


@pytest.mark.parametrize("username", BAD_USERNAMES)
def test_api_refuses_usernames_django_refuses_and_the_schema_says_so(client, admin_user, username):
    import re

    import yaml

    client.force_login(admin_user)
    response = client.post(
        "/api/members/",
        {"username": username, "roles": ["labeler"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"username"}
    assert not User.objects.filter(username=username).exists()

    schema = yaml.safe_load(client.get("/api/schema/").content)
    pattern = schema["components"]["schemas"]["MemberInput"]["properties"]["username"]["pattern"]
    assert re.search(pattern, username) is None
    assert re.search(pattern, "good.name@team+1") is not None


@pytest.mark.parametrize("username", BAD_USERNAMES)
def test_create_member_and_people_page_refuse_bad_usernames(client, admin_user, username):
    with pytest.raises(CommandError, match="username"):
        run_create_member(username, "--role", "labeler")
    client.force_login(admin_user)
    response = client.post(
        reverse("labeling:people"), {"username": username, "roles": ["labeler"]}, follow=True
    )
    assert "username" in response.content.decode()
    assert not User.objects.filter(username=username).exists()
