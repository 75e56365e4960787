"""Importing ranking prompts: candidates through the same import service, form, API and CLI."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from labeling.models import Candidate, Project, ProjectKind, Prompt
from labeling.services import ImportSource, ProjectError, project_update, prompts_import
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

GOOD = {
    "prompt": "How do I sort a list?",
    "candidates": [
        {"content": "Use sorted(xs).", "model": "gpt-x"},
        {"content": "Call xs.sort()."},
        "Write a bubble sort.",
    ],
}


def _file(tmp_path, *rows):
    path = tmp_path / "ranking.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return ImportSource(name=path.name, path=path)


def test_a_ranking_file_imports_prompts_with_their_candidates_in_order(tmp_path):
    project = ProjectFactory(kind=ProjectKind.RANKING)
    messages = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "And reversed?"},
        ],
        "candidates": [{"content": "reversed(xs)"}, {"content": "xs[::-1]"}],
    }
    report = prompts_import(project=project, source=_file(tmp_path, GOOD, messages), user=None)
    assert report.status == "imported", report.all_messages()
    first, second = Prompt.objects.filter(project=project).order_by("id")
    assert [(c.content, c.model) for c in first.candidates.all()] == [
        ("Use sorted(xs).", "gpt-x"),
        ("Call xs.sort().", ""),
        ("Write a bubble sort.", ""),
    ]
    assert second.text == "And reversed?" and len(second.messages) == 2
    assert second.candidates.count() == 2


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        (
            [{"content": "only one"}],
            'line 2: field "candidates": 1 given; a ranking prompt needs 2 to 6',
        ),
        ([{"content": str(n)} for n in range(7)], 'line 2: field "candidates": 7 given'),
        ([{"content": "a"}, {"content": "  "}], 'line 2: field "candidates[1].content": required'),
        (
            [{"content": "Same  reply"}, {"content": "Same reply"}],
            'line 2: field "candidates[1].content": the same reply as candidates[0]',
        ),
        ([{"content": "a"}, {"text": "b"}], 'line 2: field "candidates[1]": unknown field text'),
        ("not a list", 'line 2: field "candidates": must be an array'),
        (None, 'line 2: field "candidates": missing'),
    ],
)
def test_bad_candidates_name_the_line_and_field_and_import_nothing(tmp_path, candidates, message):
    project = ProjectFactory(kind=ProjectKind.RANKING)
    bad = (
        {"prompt": "Second"}
        if candidates is None
        else {"prompt": "Second", "candidates": candidates}
    )
    report = prompts_import(project=project, source=_file(tmp_path, GOOD, bad), user=None)
    assert report.status == "failed"
    assert any(error.startswith(message) for error in report.all_messages()), report.all_messages()
    assert not Prompt.objects.filter(project=project).exists()
    assert not Candidate.objects.exists()


def test_candidates_in_a_conversation_project_are_refused(tmp_path):
    project = ProjectFactory()
    report = prompts_import(project=project, source=_file(tmp_path, GOOD), user=None)
    assert report.all_messages() == [
        'line 1: field "candidates": only a ranking project\'s prompts have candidates'
    ]


def test_the_cli_imports_a_ranking_file_into_a_new_ranking_project(tmp_path):
    source = _file(tmp_path, GOOD)
    call_command(
        "import_prompts", str(source.path), project="prefs", create_project=True, kind="ranking"
    )
    project = Project.objects.get(slug="prefs")
    assert project.kind == ProjectKind.RANKING
    assert Candidate.objects.filter(prompt__project=project).count() == 3


def test_a_projects_kind_is_fixed_once_it_has_prompts(tmp_path):
    project = ProjectFactory(kind=ProjectKind.RANKING)
    prompts_import(project=project, source=_file(tmp_path, GOOD), user=None)
    with pytest.raises(ProjectError) as caught:
        project_update(project=project, kind=ProjectKind.CONVERSATION)
    assert caught.value.field == "kind"


def test_the_project_form_keeps_the_kind_once_there_are_prompts(client, tmp_path):
    project = ProjectFactory(kind=ProjectKind.RANKING, slug="ranked")
    prompts_import(project=project, source=_file(tmp_path, GOOD), user=None)
    client.force_login(UserFactory(roles=["admin"]))
    page = client.get(reverse("labeling:project-edit", args=["ranked"])).content.decode()
    assert 'name="kind"' in page
    form = {
        "name": project.name,
        "slug": "ranked",
        "status": "active",
        "priority": 0,
        "kind": "conversation",
        "min_turns": 1,
        "max_turns": 4,
        "max_tokens": 2048,
        "replications": 1,
        "lease_minutes": 60,
        "approvals_needed": 1,
        "rubric": "accuracy",
    }
    response = client.post(reverse("labeling:project-edit", args=["ranked"]), form)
    assert response.status_code == 200
    assert "cannot change once the project has prompts" in response.content.decode()
    project.refresh_from_db()
    assert project.kind == ProjectKind.RANKING
