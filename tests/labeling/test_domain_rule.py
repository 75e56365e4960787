"""The "domains meet" rule: one definition gives the Python check and the SQL filter, and
they agree; the HTML Next task and the review queue respect it."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.models import Conversation
from labeling.models import Domain, Project, ProjectStatus, Prompt
from labeling.permissions import (
    covered_conversations_q,
    domains_meet,
    domains_meet_q,
    reviewer_covers,
)
from labeling.services import domain_get_or_create
from tests.conversations.factories import reviewer_factory, submitted_conversation
from tests.factories import ProjectFactory, PromptFactory, UserFactory

pytestmark = pytest.mark.django_db

# (the person's domains, the project's domains, open?)
PROJECT_CASES = [
    ((), (), True),
    (("law",), (), True),
    ((), ("law",), False),
    (("law",), ("law",), True),
    (("law",), ("python",), False),
    (("law", "python"), ("python", "chemistry"), True),
    (("biology",), ("python", "chemistry"), False),
]
# (the reviewer's domains, the project's domains, the prompt's domain or None, covered?)
CONVERSATION_CASES = [
    ((), (), None, True),
    (("law",), (), None, True),
    (("law",), ("law",), None, True),
    (("law",), ("python",), None, False),
    (("law",), (), "law", True),
    (("law",), (), "python", False),
    (("law",), ("law",), "python", False),
    (("python",), ("law",), "python", True),
    ((), ("law",), "law", False),
]


def _ids(slugs) -> set[int]:
    return {domain_get_or_create(name=slug).pk for slug in slugs}


@pytest.mark.parametrize(("person", "project_domains", "expected"), PROJECT_CASES)
def test_python_check_and_sql_filter_agree_on_projects_and_prompts(
    person, project_domains, expected
):
    person_ids = _ids(person)
    project = ProjectFactory(domains=list(project_domains))
    in_python = domains_meet(person_ids, _ids(project_domains))
    in_sql = Project.objects.filter(domains_meet_q(person_ids)).filter(pk=project.pk).exists()
    assert in_python == in_sql == expected

    prompt_domain = project_domains[0] if project_domains else None
    prompt = PromptFactory(
        project=project, domain=domain_get_or_create(name=prompt_domain) if prompt_domain else None
    )
    prompt_python = domains_meet(person_ids, _ids([prompt_domain] if prompt_domain else []))
    prompt_sql = Prompt.objects.filter(domains_meet_q(person_ids, "domain"), pk=prompt.pk).exists()
    assert prompt_python == prompt_sql


@pytest.mark.parametrize(("reviewer", "project_domains", "domain", "expected"), CONVERSATION_CASES)
def test_python_check_and_sql_filter_agree_on_conversations(
    reviewer, project_domains, domain, expected
):
    reviewer_ids = _ids(reviewer)
    conversation = submitted_conversation(
        project=ProjectFactory(domains=list(project_domains)), domain=domain
    )
    in_python = reviewer_covers(
        domain_id=Domain.objects.get(slug=domain).pk if domain else None,
        project_domain_ids=_ids(project_domains),
        reviewer_domain_ids=reviewer_ids,
    )
    matches = Conversation.objects.filter(covered_conversations_q(reviewer_ids))
    in_sql = list(matches.filter(pk=conversation.pk).values_list("pk", flat=True))
    assert in_sql in ([], [conversation.pk]), "a conversation appears once, never per domain"
    assert in_python == bool(in_sql) == expected


def test_html_next_task_never_reveals_a_project_the_labeler_cannot_see(client):
    labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    secret = ProjectFactory(name="Secret merger memos", slug="secret", domains=["law"])
    PromptFactory(project=secret)
    draft = ProjectFactory(
        name="Unreleased draft campaign", slug="drafty", status=ProjectStatus.DRAFT
    )
    PromptFactory(project=draft)
    client.force_login(labeler)
    for slug, name in (("secret", "Secret merger memos"), ("drafty", "Unreleased draft campaign")):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.post(reverse("conversations:task-next"), {"project": slug}, **headers)
            assert response.status_code == 404
            assert name not in response.content.decode()
        api = APIClient()
        api.force_authenticate(labeler)
        assert api.post("/api/tasks/next/", {"project": slug}, format="json").status_code == 404


def test_review_queue_refuses_a_domain_filter_outside_the_reviewers_domains(client):
    submitted_conversation(domain="python")
    reviewer = reviewer_factory(domains=("python",))
    api = APIClient()
    api.force_authenticate(reviewer)
    response = api.get("/api/review-queue/", {"domain": "law"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "domain": ['"law" is not one of your reviewer domains (python).']
    }
    assert api.get("/api/review-queue/", {"domain": "python"}).status_code == 200

    client.force_login(reviewer)
    page = client.get(reverse("conversations:review-queue"), {"domain": "law"}).content.decode()
    assert "Domain filter: &quot;law&quot; is not one of your reviewer domains (python)." in page
    fragment = client.get(
        reverse("conversations:review-queue"), {"domain": "law"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "is not one of your reviewer domains" in fragment and "<html" not in fragment
