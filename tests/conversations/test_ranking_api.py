"""The ranking API: import, next task, save with a version, submit, review (reorder and decide)."""

import pytest
from rest_framework.test import APIClient

from conversations.models import ConversationState, Ranking
from conversations.selectors.ranking import approved_rankings
from labeling.models import Candidate
from labeling.services import member_token
from tests.conversations.factories import (
    candidate_ids,
    ranking_project,
    reviewer_factory,
    started_ranking,
    submitted_ranking,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SCORES = {"helpfulness": 5, "correctness": 5, "harmlessness": 5, "style": 5}


def api_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {member_token(user=user)}")
    return client


def test_import_next_task_save_and_submit_round_trip():
    admin = UserFactory(roles=["admin"])
    project = ranking_project(slug="prefs")
    imported = api_for(admin).post(
        "/api/projects/prefs/prompts/import/",
        [
            {
                "prompt": "Reverse a list?",
                "domain": "python",
                "candidates": [{"content": "xs[::-1]", "model": "m1"}, {"content": "reversed"}],
            }
        ],
        format="json",
    )
    assert imported.status_code == 201, imported.json()
    assert Candidate.objects.filter(prompt__project=project).count() == 2

    labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    api = api_for(labeler)
    task = api.post("/api/tasks/next/", {"project": "prefs"}, format="json").json()
    assert task["kind"] == "ranking"
    url = f"/api/rankings/{task['conversation']}/"
    detail = api.get(url).json()
    assert detail["prompt"] == [{"role": "user", "content": "Reverse a list?"}]
    assert [c["letter"] for c in detail["candidates"]] == ["A", "B"]
    assert "model" not in detail["candidates"][0]  # labelers rank blind
    first, second = (c["id"] for c in detail["candidates"])

    saved = api.patch(
        url,
        {
            "version": detail["version"],
            "order": [[second], [first]],
            "flags": {str(first): ["wrong"]},
            "better_reply": "Use `xs[::-1]` for a copy, `xs.reverse()` in place.",
        },
        format="json",
    )
    assert saved.status_code == 200, saved.json()
    assert saved.json()["order"] == [[second], [first]]
    stale = api.patch(url, {"version": detail["version"], "comment": "old tab"}, format="json")
    assert stale.status_code == 409
    submitted = api.post(f"{url}submit/", {"version": saved.json()["version"]}, format="json")
    assert submitted.status_code == 200, submitted.json()
    assert submitted.json()["state"] == ConversationState.SUBMITTED


def test_a_ranking_that_names_a_candidate_twice_is_a_400_naming_the_field():
    conversation = started_ranking()
    first, second, *_ = candidate_ids(conversation)
    api = api_for(conversation.labeler)
    response = api.put(
        f"/api/rankings/{conversation.pk}/",
        {"version": conversation.version, "order": [[first], [second, first]]},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"] == {"order[1]": [f"candidate {first} is ranked twice."]}
    assert Ranking.objects.get(conversation=conversation).order == []


def test_submitting_a_partial_ranking_is_a_400_naming_the_missing_candidates():
    conversation = started_ranking()
    ids = candidate_ids(conversation)
    api = api_for(conversation.labeler)
    api.put(
        f"/api/rankings/{conversation.pk}/",
        {"version": 1, "order": [[ids[0]], [ids[1]]]},
        format="json",
    )
    response = api.post(f"/api/rankings/{conversation.pk}/submit/", {"version": 2}, format="json")
    assert response.status_code == 400
    assert "order" in response.json()["error"]["fields"]
    assert f"{ids[2]}, {ids[3]} are missing" in response.json()["error"]["message"]


def test_another_labeler_cannot_see_or_save_a_ranking():
    conversation = started_ranking()
    other = api_for(UserFactory(roles=["labeler"], labeler_domains=["python"]))
    assert other.get(f"/api/rankings/{conversation.pk}/").status_code == 404
    assert other.put(f"/api/rankings/{conversation.pk}/", {"version": 1}).status_code == 404


def test_a_reviewer_reads_reorders_and_approves_through_the_api():
    conversation = submitted_ranking()
    ids = candidate_ids(conversation)
    reviewer = reviewer_factory()
    api = api_for(reviewer)
    detail = api.get(f"/api/rankings/{conversation.pk}/review/").json()
    assert [c["id"] for c in detail["candidates"]] == ids  # best first, as submitted
    assert detail["candidates"][0]["model"] == "model-0"
    bad = api.post(
        f"/api/rankings/{conversation.pk}/review-order/",
        {"version": detail["version"], "order": [[ids[0]], [ids[1]]]},
        format="json",
    )
    assert bad.status_code == 400 and "order" in bad.json()["error"]["fields"]
    reordered = api.post(
        f"/api/rankings/{conversation.pk}/review-order/",
        {"version": detail["version"], "order": [[ids[3]], [ids[0], ids[1]], [ids[2]]]},
        format="json",
    )
    assert reordered.status_code == 201, reordered.json()
    revision = reordered.json()["revision"]
    decided = api.post(
        f"/api/conversations/{conversation.pk}/reviews/",
        {"decision": "approve", "scores": SCORES, "revision": revision},
        format="json",
    )
    assert decided.status_code == 201, decided.json()
    [row] = approved_rankings(conversation.project)
    assert row["order"] == [[ids[3]], [ids[0], ids[1]], [ids[2]]]


def test_the_labeler_cannot_review_their_own_ranking():
    both = reviewer_factory(roles=("labeler", "reviewer"))
    project = ranking_project()
    conversation = submitted_ranking(project=project, labeler=both)
    response = api_for(both).get(f"/api/rankings/{conversation.pk}/review/")
    assert response.status_code == 403
