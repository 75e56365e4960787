"""The review queue pages by keyset: a reviewer reaches every conversation waiting, the
250th of 250 as well as the first, through the page and through the API."""

import io
import json
import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from conversations.models import Conversation
from conversations.services import conversations_import
from tests.conversations.factories import reviewer_factory
from tests.labeling.factories import ProjectFactory

pytestmark = pytest.mark.django_db

WAITING = 250


def _waiting(count: int) -> list[int]:
    """`count` conversations waiting for review, all submitted at the same instant (one
    import), so only the id tells them apart: the pages must not lose ties."""
    project = ProjectFactory(domains=["python"])
    lines = "\n".join(
        json.dumps(
            {
                "id": f"c{number}",
                "messages": [
                    {"role": "user", "content": f"Question {number}?"},
                    {"role": "assistant", "content": "An answer."},
                ],
            }
        )
        for number in range(count)
    )
    conversations_import(project=project, stream=io.BytesIO(lines.encode()), file_name="c.jsonl")
    return list(
        Conversation.objects.filter(project=project).order_by("pk").values_list("pk", flat=True)
    )


def test_a_reviewer_pages_through_the_whole_queue_to_its_last_conversation(client):
    expected = _waiting(WAITING)
    client.force_login(reviewer_factory())
    seen: list[int] = []
    url = reverse("conversations:review-queue")
    pages = 0
    while url:
        body = client.get(url).content.decode()
        seen += [int(pk) for pk in re.findall(r'<tr data-conversation="(\d+)"', body)]
        following = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', body)
        url = (
            reverse("conversations:review-queue") + following.group(1).replace("&amp;", "&")
            if following
            else ""
        )
        pages += 1
    assert seen == expected  # every one, once, oldest first: the 250th too
    assert pages == 5


def test_the_queue_api_follows_next_to_the_last_conversation_and_keeps_the_filters():
    expected = _waiting(WAITING)
    reviewer = reviewer_factory()
    api = APIClient()
    api.force_authenticate(reviewer)
    project_id = Conversation.objects.get(pk=expected[0]).project_id
    seen: list[int] = []
    page = api.get("/api/review-queue/", {"project": project_id}).json()
    while True:
        seen += [item["id"] for item in page["results"]]
        if page["next"] is None:
            break
        assert f"project={project_id}" in page["next"]
        page = api.get(page["next"]).json()
    assert seen == expected


def test_a_cursor_the_queue_did_not_give_is_refused_naming_it():
    _waiting(3)
    api = APIClient()
    api.force_authenticate(reviewer_factory())
    response = api.get("/api/review-queue/", {"cursor": "bm90LWEtY3Vyc29y"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "cursor": ["not a page of this list: start again from the first page."]
    }
