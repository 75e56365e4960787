"""The review rubric is a project setting: the admin's form, the API and the service agree."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.services.review import rubric_criteria
from labeling.models import Project
from labeling.services import ProjectError, project_create, project_update
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

DEFAULT_NAMES = ["helpfulness", "correctness", "harmlessness", "style"]
DEFAULT = [{"name": n, "label": n.capitalize(), "description": ""} for n in DEFAULT_NAMES]


def _criteria(*names: str) -> list[dict[str, str]]:
    return [
        {"name": n, "label": n.replace("_", " ").capitalize(), "description": ""} for n in names
    ]


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


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
        "rubric": "accuracy, tone",
    }
    return {**data, **changes}


def test_a_new_project_gets_the_default_rubric_and_the_form_offers_it(client, admin_user):
    project = project_create(created_by=None, name="Plain")
    assert project.rubric == DEFAULT
    client.force_login(admin_user)
    body = client.get(reverse("labeling:project-create")).content.decode()
    assert "helpfulness | Helpfulness\ncorrectness | Correctness" in body
    assert "Review rubric" in body


def test_admin_sets_the_rubric_in_the_form_and_the_review_reads_it(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("labeling:project-create"), _form())
    assert response.status_code == 302
    project = Project.objects.get(slug="law")
    assert project.rubric == _criteria("accuracy", "tone")
    assert rubric_criteria(project) == ["accuracy", "tone"]

    edit = client.get(reverse("labeling:project-edit", args=["law"])).content.decode()
    assert "accuracy | Accuracy\ntone | Tone" in edit
    client.post(
        reverse("labeling:project-edit", args=["law"]),
        _form(rubric="accuracy\ntone | Tone of voice | Polite, plain\ncode_quality"),
    )
    project.refresh_from_db()
    assert project.rubric == [
        *_criteria("accuracy"),
        {"name": "tone", "label": "Tone of voice", "description": "Polite, plain"},
        *_criteria("code_quality"),
    ]
    assert project.rubric[2]["label"] == "Code quality"


@pytest.mark.parametrize(
    ("rubric", "message"),
    [
        ("", "This field is required."),
        ("Accuracy", "criterion 1 &quot;Accuracy&quot;: use 1 to 40 lowercase letters"),
        ("tone, tone", "criterion 2 &quot;tone&quot; appears twice"),
        (", ".join(f"c{n}" for n in range(11)), "at most 10 criteria (got 11)"),
    ],
)
def test_a_bad_rubric_in_the_form_says_what_is_wrong(client, admin_user, rubric, message):
    project = ProjectFactory(slug="law")
    client.force_login(admin_user)
    response = client.post(
        reverse("labeling:project-edit", args=["law"]), _form(rubric=rubric, name="Renamed")
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    project.refresh_from_db()
    assert project.rubric == DEFAULT and project.name != "Renamed", "nothing saved"


def test_api_reads_and_writes_the_rubric_with_clear_errors(admin_user, labeler):
    client = _api(admin_user)
    created = client.post("/api/projects/", {"name": "Maths"}, format="json").json()
    assert created["rubric"] == DEFAULT
    changed = client.patch(
        "/api/projects/maths/",
        {"rubric": ["rigor", {"name": "clarity", "description": "Each step follows"}]},
        format="json",
    )
    rubric = [
        *_criteria("rigor"),
        {"name": "clarity", "label": "Clarity", "description": "Each step follows"},
    ]
    assert changed.status_code == 200 and changed.json()["rubric"] == rubric

    empty = client.patch("/api/projects/maths/", {"rubric": []}, format="json")
    assert empty.status_code == 400
    assert empty.json()["error"]["fields"]["rubric"] == [
        "give at least one criterion, e.g. helpfulness"
    ]
    spaced = client.patch("/api/projects/maths/", {"rubric": ["has space"]}, format="json")
    assert spaced.status_code == 400
    assert 'criterion 1 "has space"' in spaced.json()["error"]["fields"]["rubric"][0]
    too_long = client.patch(
        "/api/projects/maths/", {"rubric": [{"name": "x", "label": "L" * 81}]}, format="json"
    )
    assert too_long.status_code == 400
    assert "label" in too_long.json()["error"]["message"]
    assert Project.objects.get(slug="maths").rubric == rubric
    assert _api(labeler).patch(
        "/api/projects/maths/", {"rubric": ["x"]}, format="json"
    ).status_code in (403, 404)


def test_the_service_refuses_a_rubric_that_is_not_a_list_of_names():
    project = ProjectFactory()
    for rubric in ("helpfulness", [1], ["a" * 41], [{"label": "No name"}]):
        with pytest.raises(ProjectError, match="^rubric: "):
            project_update(project=project, rubric=rubric)


def test_a_rubric_saved_as_names_still_reads_and_keeps_old_scores_keys():
    """Rubrics stored before labels (bare names) read as criteria with default labels, so the
    scores of old reviews, keyed by name, keep their criterion."""
    from conversations.services.review import rubric_entries

    project = ProjectFactory()
    Project.objects.filter(pk=project.pk).update(rubric=["code_quality", "tone"])
    project.refresh_from_db()
    assert rubric_criteria(project) == ["code_quality", "tone"]
    assert rubric_entries(project)[0] == {
        "name": "code_quality",
        "label": "Code quality",
        "description": "",
    }


def test_migration_turns_rubric_names_into_labelled_criteria():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("labeling.migrations.0005_project_ai_draft_settings_rubric_labels")
    project = ProjectFactory()
    Project.objects.filter(pk=project.pk).update(rubric=["code_quality", {"name": "tone"}])
    migration.rubric_names_to_criteria(apps, None)
    project.refresh_from_db()
    assert project.rubric == _criteria("code_quality", "tone")
    migration.rubric_criteria_to_names(apps, None)
    project.refresh_from_db()
    assert project.rubric == ["code_quality", "tone"]


def test_reviewers_see_each_criterions_label_with_its_description_as_help(client):
    from tests.conversations.factories import reviewer_factory, submitted_conversation

    conversation = submitted_conversation()
    project_update(
        project=conversation.project,
        rubric=[
            {"name": "code_quality", "label": "Code quality", "description": "Idiomatic & tested"},
            "tone",
        ],
    )
    client.force_login(reviewer_factory())
    html = client.get(reverse("conversations:review", args=[conversation.pk])).content.decode()
    assert "<legend" in html and ">Code quality</legend>" in html and ">Tone</legend>" in html
    assert 'data-description="Idiomatic &amp; tested"' in html
    assert 'aria-describedby="rubric-help-code_quality score-error-code_quality"' in html
    assert 'id="rubric-help-code_quality">Idiomatic &amp; tested</p>' in html
    assert 'name="score-code_quality"' in html and "Code_quality" not in html
