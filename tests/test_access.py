"""Who may open what: every URL of the app (HTML pages and API, resolved from the URLconf at
run time) for every kind of person, against a table of the expected status.

People: anonymous; a signed-in person with no role; a labeler on their own objects and
another labeler (same domain) on them; a reviewer whose reviewer domain covers the
objects and one whose domain does not; an admin. The objects belong to the first labeler
in the domain "python": a project, its prompts and import, a submitted conversation with
an AI-draft request and a notification, a leased task, an export.

A URL added to the app without a row in `EXPECTED` fails `test_every_url_has_an_entry`
with its name, its route and the row to fill in.
"""

from __future__ import annotations

import re

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from conversations.models import DraftRequest
from conversations.services import next_task, notification_create
from exports.models import ExportJob
from exports.services import export_config_from_dict
from labeling.services import guidelines_save, member_token, prompts_import
from labeling.services.imports import ImportSource
from tests.conversations.factories import (
    ranking_project,
    submitted_conversation,
    submitted_ranking,
)
from tests.factories import ProjectFactory, PromptFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLES = (
    "anonymous",
    "no_role",
    "labeler",
    "other_labeler",
    "reviewer",
    "outside_reviewer",
    "admin",
)

LOGIN = "login"  # a 302 to the login page

# name: (method, anonymous, no role, labeler (own objects), other labeler, reviewer
#        (in domain), reviewer (outside the domain), admin)
# A POST carries no data: the access check comes before the input check, so a person who
# may act gets a 4xx about the input (or the action's own answer: a redirect, a claim),
# others a refusal. 404 where the object is not theirs to know of (its existence is not
# revealed), 403 where the role is missing. The export has not run: its file is a 404.
EXPECTED: dict[str, tuple] = {
    "api-conversation": ("GET", 401, 404, 200, 404, 404, 404, 404),
    "api-conversation-browse": ("GET", 401, 403, 403, 403, 200, 200, 200),
    "api-conversation-checks": ("GET", 401, 404, 200, 404, 404, 404, 404),
    "api-conversation-draft": ("GET", 401, 404, 200, 404, 404, 404, 404),
    "api-conversation-drafts": ("POST", 401, 404, 400, 404, 404, 404, 404),
    "api-conversation-history": ("GET", 401, 404, 200, 404, 200, 404, 200),
    "api-conversation-review-edit": ("POST", 401, 403, 403, 403, 400, 404, 403),
    "api-conversation-reviews": ("POST", 401, 403, 403, 403, 400, 404, 403),
    "api-conversation-submit": ("POST", 401, 404, 400, 404, 404, 404, 404),
    "api-conversation-tokens": ("GET", 401, 404, 200, 404, 404, 404, 404),
    "api-conversations": ("GET", 401, 403, 200, 200, 403, 403, 403),
    "api-docs": ("GET", 401, 200, 200, 200, 200, 200, 200),
    "api-domains": ("GET", 401, 200, 200, 200, 200, 200, 200),
    "api-export-cancel": ("POST", 401, 403, 403, 403, 403, 403, 200),
    "api-export-detail": ("GET", 401, 403, 403, 403, 403, 403, 200),
    "api-export-file": ("GET", 401, 403, 403, 403, 403, 403, 404),
    "api-export-files": ("GET", 401, 403, 403, 403, 403, 403, 200),
    "api-export-list": ("GET", 401, 403, 403, 403, 403, 403, 200),
    "api-import-batch": ("GET", 401, 403, 403, 403, 403, 403, 200),
    "api-import-batch-cancel": ("POST", 401, 403, 403, 403, 403, 403, 200),
    "api-me": ("GET", 401, 200, 200, 200, 200, 200, 200),
    "api-members": ("GET", 401, 403, 403, 403, 403, 403, 200),
    "api-notifications": ("GET", 401, 200, 200, 200, 200, 200, 200),
    "api-project": ("GET", 401, 404, 200, 200, 200, 404, 200),
    "api-project-guidelines": ("GET", 401, 404, 200, 200, 200, 404, 200),
    "api-projects": ("GET", 401, 200, 200, 200, 200, 200, 200),
    "api-prompts": ("GET", 401, 404, 200, 200, 200, 404, 200),
    "api-prompts-import": ("POST", 401, 403, 403, 403, 403, 403, 400),
    "api-review-claim": ("POST", 401, 403, 403, 403, 201, 404, 403),
    "api-review-queue": ("GET", 401, 403, 403, 403, 200, 200, 403),
    "api-schema": ("GET", 401, 200, 200, 200, 200, 200, 200),
    "api-task-next": ("POST", 401, 403, 200, 200, 403, 403, 403),
    "api-task-skip": ("POST", 401, 403, 400, 404, 403, 403, 403),
    "conversations:conversation-list": ("GET", LOGIN, 403, 403, 403, 200, 200, 200),
    "conversations:editor": ("GET", LOGIN, 404, 200, 404, 404, 404, 404),
    "conversations:editor-checks": ("POST", LOGIN, 404, 200, 404, 404, 404, 404),
    "conversations:editor-draft": ("POST", LOGIN, 404, 200, 404, 404, 404, 404),
    "conversations:editor-draft-status": ("GET", LOGIN, 404, 200, 404, 404, 404, 404),
    "conversations:editor-guidelines-read": ("POST", LOGIN, 404, 302, 404, 404, 404, 404),
    "conversations:editor-preview": ("POST", LOGIN, 404, 200, 404, 404, 404, 404),
    "conversations:editor-submit": ("POST", LOGIN, 404, 302, 404, 404, 404, 404),
    "conversations:history": ("GET", LOGIN, 404, 200, 404, 200, 404, 200),
    "conversations:labeler-home": ("GET", LOGIN, 403, 200, 200, 403, 403, 403),
    "conversations:notification-open": ("POST", LOGIN, 404, 302, 404, 404, 404, 404),
    "conversations:notifications": ("GET", LOGIN, 200, 200, 200, 200, 200, 200),
    "conversations:notifications-read-all": ("POST", LOGIN, 302, 302, 302, 302, 302, 302),
    "conversations:project-detail": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "conversations:project-list": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "conversations:quality": ("GET", LOGIN, 302, 302, 302, 302, 302, 200),
    "conversations:quality-person": ("GET", LOGIN, 404, 200, 404, 404, 404, 200),
    "conversations:review": ("GET", LOGIN, 403, 403, 403, 200, 404, 403),
    "conversations:review-claim": ("POST", LOGIN, 403, 403, 403, 302, 404, 403),
    "conversations:review-decide": ("POST", LOGIN, 403, 403, 403, 400, 404, 403),
    "conversations:review-edit": ("POST", LOGIN, 403, 403, 403, 409, 404, 403),
    "conversations:review-feedback": ("GET", LOGIN, 404, 200, 404, 200, 404, 200),
    "conversations:review-queue": ("GET", LOGIN, 403, 403, 403, 200, 200, 403),
    "conversations:review-release": ("POST", LOGIN, 403, 403, 403, 302, 404, 403),
    "conversations:task-next": ("POST", LOGIN, 403, 302, 302, 403, 403, 403),
    "conversations:task-skip": ("POST", LOGIN, 403, 302, 404, 403, 403, 403),
    "exports:artifact-download": ("GET", LOGIN, 403, 403, 403, 403, 403, 404),
    "exports:export-cancel": ("POST", LOGIN, 403, 403, 403, 403, 403, 302),
    "exports:export-create": ("POST", LOGIN, 403, 403, 403, 403, 403, 400),
    "exports:export-detail": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "exports:export-job-preview": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "exports:export-list": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "exports:export-preview": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "exports:tokenizer-upload": ("POST", LOGIN, 403, 403, 403, 403, 403, 400),
    "home": ("GET", LOGIN, 302, 302, 302, 302, 302, 302),
    "operations:queues": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "labeling:domain-create": ("GET", LOGIN, 403, 403, 403, 403, 403, 302),
    "labeling:guidelines": ("GET", LOGIN, 404, 200, 200, 200, 404, 200),
    "labeling:import-batch": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "labeling:import-batch-cancel": ("POST", LOGIN, 403, 403, 403, 403, 403, 302),
    "labeling:people": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "labeling:person-edit": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "labeling:project-create": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "labeling:project-delete": ("POST", LOGIN, 403, 403, 403, 403, 403, 302),
    "labeling:project-edit": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "labeling:project-guidelines-save": ("POST", LOGIN, 403, 403, 403, 403, 403, 302),
    "labeling:prompt-import-confirm": ("POST", LOGIN, 403, 403, 403, 403, 403, 302),
    "labeling:prompt-upload": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "login": ("GET", 200, 302, 302, 302, 302, 302, 302),
    "logout": ("POST", LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN),
    "no-role": ("GET", LOGIN, 200, 200, 200, 200, 200, 200),
    "password_change": ("GET", LOGIN, 200, 200, 200, 200, 200, 200),
    "password_change_done": ("GET", LOGIN, 200, 200, 200, 200, 200, 200),
    "password_reset": ("GET", 200, 200, 200, 200, 200, 200, 200),
    "password_reset_complete": ("GET", 200, 200, 200, 200, 200, 200, 200),
    "password_reset_confirm": ("GET", 200, 200, 200, 200, 200, 200, 200),
    "password_reset_done": ("GET", 200, 200, 200, 200, 200, 200, 200),
    "api-prompt": ("GET", 401, 403, 403, 403, 403, 403, 200),
    "api-prompt-retire": ("POST", 401, 403, 403, 403, 403, 403, 200),
    "api-conversations-import": ("POST", 401, 403, 403, 403, 403, 403, 400),
    # Ranking URLs point at the world's submitted ranking (see `_path`).
    "api-ranking": ("GET", 401, 404, 200, 404, 404, 404, 404),
    "api-ranking-submit": ("POST", 401, 404, 400, 404, 404, 404, 404),
    "api-ranking-review": ("GET", 401, 403, 403, 403, 200, 404, 403),
    "api-ranking-reorder": ("POST", 401, 403, 403, 403, 400, 404, 403),
    "conversations:ranking": ("GET", LOGIN, 404, 200, 404, 404, 404, 404),
    # The world's project is a conversation project: generation is refused with a reason.
    "conversations:candidates-generate": ("POST", LOGIN, 403, 403, 403, 403, 403, 302),
    "api-candidates-generate": ("POST", 401, 403, 403, 403, 403, 403, 400),
    "conversations:ranking-submit": ("POST", LOGIN, 404, 302, 404, 404, 404, 404),
    "conversations:ranking-review": ("GET", LOGIN, 403, 403, 403, 200, 404, 403),
    "conversations:ranking-review-reorder": ("POST", LOGIN, 403, 403, 403, 400, 404, 403),
    "conversations:ranking-review-decide": ("POST", LOGIN, 403, 403, 403, 400, 404, 403),
    "labeling:prompt-list": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "labeling:prompt-edit": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "labeling:prompt-retire": ("POST", LOGIN, 403, 403, 403, 403, 403, 302),
    "conversations:conversation-import": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "exports:export-estimate": ("GET", LOGIN, 403, 403, 403, 403, 403, 200),
    "exports:export-zip": ("GET", LOGIN, 403, 403, 403, 403, 403, 404),
}


def _walk(resolver=None, route="", namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from _walk(entry, route + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield route + str(entry.pattern), f"{namespace}{entry.name}", entry


def app_urls() -> dict[str, str]:
    """{url name: route} of every URL of the app; Django's admin has its own staff checks."""
    urls = {}
    for route, name, _ in _walk():
        if route.startswith("admin/"):
            continue
        assert not name.endswith("None"), f"URL {route!r} has no name: give it one"
        urls[name] = route
    return urls


def test_every_url_has_an_entry():
    missing = {name: route for name, route in app_urls().items() if name not in EXPECTED}
    assert not missing, "No expected statuses in tests/test_access.py EXPECTED for: " + "; ".join(
        f"{name!r} (/{route}): add {name!r}: (method, " + ", ".join(ROLES) + ")"
        for name, route in missing.items()
    )
    stale = set(EXPECTED) - set(app_urls())
    assert not stale, f"EXPECTED lists URLs that no longer exist: {sorted(stale)}"


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Made once for the module and rolled back at its end; each test's own transaction
    (the `db` fixture) undoes what its requests changed."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _world()
        transaction.set_rollback(True)


def _world() -> dict:
    admin = UserFactory(username="acc-admin", roles=["admin"])
    labeler = UserFactory(username="acc-labeler", labeler_domains=["python"])
    other_labeler = UserFactory(username="acc-other", labeler_domains=["python"])
    reviewer = UserFactory(username="acc-rev", roles=["reviewer"], reviewer_domains=["python"])
    outside = UserFactory(username="acc-rev-law", roles=["reviewer"], reviewer_domains=["law"])
    no_role = UserFactory(username="acc-nobody", roles=[])
    project = ProjectFactory(slug="acc-project", domains=["python"])
    submitted = submitted_conversation(project=project, labeler=labeler)
    ranking = submitted_ranking(project=ranking_project(slug="acc-ranking"), labeler=labeler)
    guidelines_save(project=project, body="Answer like a senior engineer.", user=admin)
    prompt = PromptFactory(project=project)
    task = next_task(labeler, project)
    draft_request = DraftRequest.objects.create(conversation=submitted, message_position=1)
    notification = notification_create(user=labeler, text="Reviewed", conversation=submitted)
    report = prompts_import(
        project=project,
        source=ImportSource(name="seed.json", items=["A new question?"]),
        user=admin,
        on_duplicate="skip",
    )
    config = export_config_from_dict({"projects": ["acc-project"], "val_fraction": 0})
    job = ExportJob.objects.create(config=config.to_dict(), created_by=admin)
    return {
        "people": {
            "no_role": no_role,
            "labeler": labeler,
            "other_labeler": other_labeler,
            "reviewer": reviewer,
            "outside_reviewer": outside,
            "admin": admin,
        },
        "kwargs": {
            "slug": project.slug,
            "conversation_id": submitted.pk,
            "ranking_conversation_id": ranking.pk,
            "assignment_id": task.assignment.pk,
            "draft_request_id": draft_request.pk,
            "notification_id": notification.pk,
            "batch_id": report.batch_id,
            "prompt_id": prompt.pk,
            "user_id": labeler.pk,
            "pk": job.pk,
            "job_id": job.pk,
            "name": "train.jsonl",
            "uidb64": "MQ",
            "token": "set-password",
        },
    }


def _path(name: str, route: str, kwargs: dict) -> str:
    if "ranking" in name:
        kwargs = {**kwargs, "conversation_id": kwargs["ranking_conversation_id"]}
    names = re.findall(r"<(?:\w+:)?(\w+)>", route)
    return reverse(name, kwargs={key: kwargs[key] for key in names})


def _status(response) -> int | str:
    if response.status_code == 302 and response["Location"].startswith("/accounts/login/"):
        return LOGIN
    return response.status_code


def observe(client, world, name: str, route: str, method: str) -> dict[str, int | str]:
    path = _path(name, route, world["kwargs"])
    seen = {}
    for role in ROLES:
        client.logout()
        client.credentials()
        if role != "anonymous":
            person = world["people"][role]
            if path.startswith("/api/"):
                client.credentials(HTTP_AUTHORIZATION=f"Token {member_token(user=person)}")
            else:
                client.force_login(person)
        response = client.get(path) if method == "GET" else client.post(path)
        seen[role] = _status(response)
    return seen


@pytest.mark.parametrize("name", sorted(app_urls()))
def test_each_person_gets_the_expected_answer(name, world, db):
    if name not in EXPECTED:
        pytest.fail(f"No row for {name!r} in EXPECTED (see test_every_url_has_an_entry)")
    method, *statuses = EXPECTED[name]
    seen = observe(APIClient(), world, name, app_urls()[name], method)
    expected = dict(zip(ROLES, statuses, strict=True))
    wrong = {
        role: f"got {seen[role]}, expected {expected[role]}"
        for role in ROLES
        if seen[role] != expected[role]
    }
    assert not wrong, f"{method} {name}: {wrong}"


PUBLIC = {
    "login",
    "logout",
    # Someone who forgot their password is not signed in.
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
}


@pytest.mark.parametrize("name", sorted(set(app_urls()) - PUBLIC))
def test_anonymous_people_are_refused_whatever_the_method(client, name):
    """Any method, any object id: a redirect to login, or 401 from the API."""
    route = app_urls()[name]
    path = "/" + re.sub(r"<(?:\w+:)?\w+>", "1", route)
    for method in (client.get, client.post):
        response = method(path)
        if path.startswith("/api/"):
            assert response.status_code == 401, f"{method.__name__.upper()} {path}"
        else:
            assert _status(response) == LOGIN, f"{method.__name__.upper()} {path}"
