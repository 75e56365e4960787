"""Ranking pages: next task opens the ranking, the page shows sanitized candidates, the
form submits, the reviewer reorders and decides, the quality page shows the alpha."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conversations.models import ConversationState, Ranking
from labeling.models import Candidate
from tests.conversations.factories import (
    candidate_ids,
    ranking_project,
    ranking_prompt,
    reviewer_factory,
    started_ranking,
    submitted_ranking,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_next_task_in_a_ranking_project_opens_the_ranking_page(client):
    project = ranking_project()
    ranking_prompt(project)
    labeler = UserFactory(roles=["labeler"], labeler_domains=["python"])
    client.force_login(labeler)
    response = client.post(reverse("conversations:task-next"), {"project": project.slug})
    conversation_id = Ranking.objects.get().conversation_id
    # Through the editor's URL, which every task link uses.
    assert response["Location"] == reverse("conversations:editor", args=[conversation_id])
    page = client.get(response["Location"], follow=True)
    assert page.redirect_chain[-1][0] == reverse("conversations:ranking", args=[conversation_id])
    assert b"Candidate A" in page.content and b"Candidate D" in page.content


def test_candidates_are_rendered_as_sanitized_markdown_in_the_shown_order(client):
    conversation = started_ranking()
    Candidate.objects.filter(prompt=conversation.prompt, position=0).update(
        content="**bold** <script>alert(1)</script>"
    )
    client.force_login(conversation.labeler)
    page = client.get(reverse("conversations:ranking", args=[conversation.pk])).content.decode()
    assert "<strong>bold</strong>" in page
    assert "<script>alert(1)" not in page
    shown = [page.index(f'id="candidate-{pk}"') for pk in conversation.ranking.presented_order]
    assert shown == sorted(shown)


def test_the_skip_form_says_a_worked_ranking_is_kept(client):
    conversation = started_ranking()
    client.force_login(conversation.labeler)
    page = client.get(reverse("conversations:ranking", args=[conversation.pk])).content.decode()
    skip = page[page.index("Skip this task") :]
    assert "Anything you ranked or wrote is kept as an abandoned draft" in skip
    assert "the prompt goes back to the pool" in skip


def test_the_ranking_page_runs_a_fixed_number_of_queries(client):
    small = started_ranking()
    client.force_login(small.labeler)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("conversations:ranking", args=[small.pk]))
    project = ranking_project()
    big = started_ranking(
        prompt=ranking_prompt(project, texts=[f"Reply {n}" for n in range(6)]),
        labeler=small.labeler,
    )
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("conversations:ranking", args=[big.pk]))
    assert len(many) == len(few)


def test_the_form_saves_ranks_ties_flags_and_better_reply_then_submits(client):
    conversation = started_ranking()
    ids = candidate_ids(conversation)
    client.force_login(conversation.labeler)
    response = client.post(
        reverse("conversations:ranking-submit", args=[conversation.pk]),
        {
            "version": conversation.version,
            f"rank-{ids[0]}": "2",
            f"rank-{ids[1]}": "1",
            f"rank-{ids[2]}": "2",
            f"rank-{ids[3]}": "4",
            f"flag-{ids[3]}": ["unsafe", "wrong"],
            "comment": "B is idiomatic; A and C are equally fine.",
            "better_reply": "Use `sorted(xs)`.",
        },
    )
    assert response.status_code == 302
    ranking = Ranking.objects.get(conversation=conversation)
    assert ranking.order == [[ids[1]], sorted([ids[0], ids[2]]), [ids[3]]]
    assert ranking.flags == {str(ids[3]): ["unsafe", "wrong"]}
    assert ranking.conversation.state == ConversationState.SUBMITTED


def test_submitting_with_a_candidate_left_out_says_which_and_keeps_the_draft(client):
    conversation = started_ranking()
    ids = candidate_ids(conversation)
    client.force_login(conversation.labeler)
    response = client.post(
        reverse("conversations:ranking-submit", args=[conversation.pk]),
        {"version": conversation.version, f"rank-{ids[0]}": "1"},
        follow=True,
    )
    assert f"{ids[1]}, {ids[2]}, {ids[3]} are missing" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.DRAFT
    assert Ranking.objects.get(conversation=conversation).order == [[ids[0]]]


def test_a_reviewer_reorders_and_approves_on_the_review_page(client):
    conversation = submitted_ranking(better_reply="A *better* reply.")
    ids = candidate_ids(conversation)
    client.force_login(reviewer_factory())
    # The review link of the queue lands on the ranking's review page.
    page = client.get(reverse("conversations:review", args=[conversation.pk]), follow=True)
    assert b"<em>better</em>" in page.content
    conversation.refresh_from_db()
    ranks = {f"rank-{pk}": str(rank) for pk, rank in zip(ids, [4, 3, 2, 1], strict=True)}
    reordered = client.post(
        reverse("conversations:ranking-review-reorder", args=[conversation.pk]),
        {"version": conversation.version, "reason": "D is the only right one", **ranks},
    )
    assert reordered.status_code == 302
    decided = client.post(
        reverse("conversations:ranking-review-decide", args=[conversation.pk]),
        {
            "decision": "approve",
            "revision": "2",
            **{f"score-{name}": "5" for name in ("helpfulness", "correctness", "harmlessness")},
            "score-style": "4",
        },
    )
    assert decided.status_code == 302
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.APPROVED
    assert conversation.ranking.order == [[pk] for pk in reversed(ids)]


def test_approving_a_stale_revision_is_refused_on_the_page(client):
    conversation = submitted_ranking()
    client.force_login(reviewer_factory())
    response = client.post(
        reverse("conversations:ranking-review-decide", args=[conversation.pk]),
        {"decision": "approve", "revision": "7"},
    )
    assert response.status_code == 400
    assert b"revision 7" in response.content


def test_a_decision_that_names_no_revision_is_refused_on_the_page(client):
    conversation = submitted_ranking()
    client.force_login(reviewer_factory())
    response = client.post(
        reverse("conversations:ranking-review-decide", args=[conversation.pk]),
        {"decision": "reject", "comment": "Wrong order."},
    )
    assert response.status_code == 400
    assert b"names no revision" in response.content
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.SUBMITTED
    assert conversation.reviews.count() == 0


def test_the_quality_page_shows_the_ordinal_alpha_of_replicated_rankings(client):
    project = ranking_project(replications=2)
    prompt = ranking_prompt(project)
    ids = list(prompt.candidates.order_by("position").values_list("pk", flat=True))
    submitted_ranking(prompt=prompt, order=[[pk] for pk in ids])
    submitted_ranking(prompt=prompt, order=[[ids[1]], [ids[0]], [ids[2]], [ids[3]]])
    client.force_login(UserFactory(roles=["admin"]))
    page = client.get(reverse("conversations:quality")).content.decode()
    assert 'data-testid="ranking-alpha"' in page
    assert "over 2 rankings of 1 prompt" in page


def test_the_review_queue_marks_rankings(client):
    conversation = submitted_ranking()
    client.force_login(reviewer_factory())
    page = client.get(reverse("conversations:review-queue")).content.decode()
    assert f"Review conversation {conversation.pk}" in page
    assert '<span class="pill">ranking</span>' in page
