"""A ranking task in two browsers: the labeler ranks four candidates with the keyboard and
writes a better reply; a reviewer reorders by drag and drop and approves."""

import json
import re

import pytest
from playwright.sync_api import expect

from conversations.models import ConversationState, Ranking
from conversations.services import review_submit
from tests.conversations.factories import (
    ranking_project,
    ranking_prompt,
    reviewer_factory,
    submitted_ranking,
)
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CANDIDATES = (
    "Use **`sorted(xs)`**: it returns a new list.",
    "Call `xs.sort()`, which sorts in place.",
    "Write a bubble sort by hand.",
    "Sorting is not possible in Python.",
)


def errors_of(page) -> list[str]:
    """Script errors and console errors (CSP violations among them) seen on `page`."""
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(f"{message.text} ({message.location.get('url')})")
            # The browser's own favicon request is the app's 404, not the page's.
            if message.type == "error" and "favicon" not in message.location.get("url", "")
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def test_labeler_ranks_by_keyboard_and_reviewer_reorders_by_drag_and_approves(live_server, open_as):
    project = ranking_project(name="Sorting preferences")
    prompt = ranking_prompt(project, texts=CANDIDATES, text="How do I sort a list?")
    labeler = UserFactory(username="rank-lena", roles=["labeler"], labeler_domains=["python"])
    page = open_as(labeler)
    page_errors = errors_of(page)

    page.goto(f"{live_server.url}/tasks/")
    page.get_by_role("button", name=re.compile("Next task")).click()
    expect(page.get_by_role("heading", name=re.compile("Ranking #"))).to_be_visible()
    expect(page.locator(".ranking-prompt")).to_contain_text("How do I sort a list?")
    cards = page.locator("[data-candidate]")
    expect(cards).to_have_count(4)
    # Markdown is rendered in each candidate.
    expect(page.locator(".candidate-body strong")).to_have_text("sorted(xs)")

    # The candidates come shuffled: find each one's card by its text, then rank by keyboard.
    ids = list(prompt.candidates.order_by("position").values_list("pk", flat=True))
    ranks = {ids[0]: "1", ids[1]: "2", ids[2]: "2", ids[3]: "4"}  # a tie between 2 and 3
    for candidate_id, rank in ranks.items():
        card = page.locator(f"#candidate-{candidate_id}")
        card.focus()
        page.keyboard.press(rank)
        expect(card.get_by_role("combobox")).to_have_value(rank)
    # Alt+Down moves the wrong one further down, then back up: it stays 4th.
    page.locator(f"#candidate-{ids[3]}").focus()
    page.keyboard.press("Alt+ArrowUp")
    expect(page.locator(f"#candidate-{ids[3]}").get_by_role("combobox")).to_have_value("3")
    page.keyboard.press("Alt+ArrowDown")
    lane_four = page.locator('[data-lane="4"]')
    expect(lane_four.locator(f'[data-chip="{ids[3]}"]')).to_be_visible()

    page.locator(f"#candidate-{ids[3]}").get_by_label("Wrong").check()
    page.get_by_label("Why this order?").fill("sorted() is the idiom; sort() mutates.")
    page.get_by_label(re.compile("A better reply")).fill("Use `sorted(xs)`, or `xs.sort()`.")
    expect(page.locator("[data-better-first]")).to_be_visible()
    expect(page.locator("#save-state")).to_contain_text("Saved", timeout=10_000)
    page.get_by_role("button", name="Submit ranking").click()
    expect(page.locator(".flash")).to_contain_text("Ranking submitted")

    ranking = Ranking.objects.get(conversation__prompt=prompt)
    assert ranking.order == [[ids[0]], sorted([ids[1], ids[2]]), [ids[3]]]
    assert ranking.better_reply == "Use `sorted(xs)`, or `xs.sort()`."
    assert ranking.flags == {str(ids[3]): ["wrong"]}

    # The reviewer drags the in-place sort up to share the first place, then approves.
    reviewer = reviewer_factory(name="rank-rita")
    review = open_as(reviewer)
    review_errors = errors_of(review)
    review.goto(f"{live_server.url}/review/{ranking.conversation_id}/")
    expect(review).to_have_url(re.compile(r"/review/\d+/ranking/$"))
    expect(review.get_by_test_id("better-reply")).to_contain_text("sorted(xs)")
    review.locator(f'[data-chip="{ids[1]}"]').drag_to(review.locator('[data-lane="1"]'))
    expect(review.locator(f"#candidate-{ids[1]}").get_by_role("combobox")).to_have_value("1")
    # A candidate's title drags too: the wrong one to the end and back to its place.
    review.locator(f"#candidate-{ids[3]} [data-drag-handle]").drag_to(
        review.locator('[data-lane="4"]')
    )
    expect(review.locator(f"#candidate-{ids[3]}").get_by_role("combobox")).to_have_value("4")
    review.locator(f"#candidate-{ids[3]} [data-drag-handle]").drag_to(
        review.locator('[data-lane="3"]')
    )
    expect(review.locator('[data-lane="3"]').locator(f'[data-chip="{ids[3]}"]')).to_be_visible()
    review.get_by_label("Why reorder?").fill("Both are idiomatic.")
    review.get_by_role("button", name="Save new order").click()
    expect(review.locator(".flash")).to_contain_text("New order saved")
    expect(review.get_by_text("reordered in review")).to_be_visible()
    for fieldset in review.locator("fieldset.score").all():
        fieldset.locator("label").filter(has_text="5").click()
    review.get_by_role("button", name="Approve").click()
    expect(review.locator(".flash")).to_contain_text("approved")

    ranking.refresh_from_db()
    assert ranking.conversation.state == ConversationState.APPROVED
    assert ranking.order == [sorted([ids[0], ids[1]]), [ids[2]], [ids[3]]]
    assert ranking.labeler_order == [[ids[0]], sorted([ids[1], ids[2]]), [ids[3]]]
    assert page_errors == [] and review_errors == []


def test_admin_previews_a_ranking_pair_and_exports_the_pairs(
    live_server, page, login, celery_worker_process, tmp_path
):
    login(UserFactory(username="rank-admin", roles=["admin"]))
    project = ranking_project(name="Ranked sorting", slug="ranked-sorting")
    prompt = ranking_prompt(project, texts=CANDIDATES, text="How do I sort a list?")
    conversation = submitted_ranking(prompt=prompt, better_reply="Use `sorted(xs)`.")
    review_submit(
        conversation_id=conversation.pk,
        reviewer=reviewer_factory(name="rank-rex"),
        decision="approve",
        scores={"helpfulness": 5, "correctness": 5, "harmlessness": 5, "style": 5},
    )

    page.goto(f"{live_server.url}/exports/")
    page.get_by_label("Ranked sorting").check()
    page.get_by_label("Validation fraction").fill("0")
    page.get_by_label("Preference pairs (DPO JSONL + tokenized Parquet)").check()
    page.get_by_label("Several rankings of one prompt").select_option("majority")
    page.get_by_role("button", name="Preview tokens").click()
    pair = page.locator("#preview article", has_text="Preference pair").first
    expect(pair).to_contain_text("source ranking")
    expect(pair.locator(".tokens .tok.trained", has_text="sorted").first).to_be_visible()

    page.get_by_role("button", name="Start export").click()
    expect(page.get_by_test_id("job-status")).to_have_text("Succeeded", timeout=60_000)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="train.preference.jsonl").click()
    saved = tmp_path / "train.preference.jsonl"
    download_info.value.save_as(saved)
    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    # A better reply over 4 candidates, then 4 candidates in a strict order: 4 + 6 pairs.
    assert len(rows) == 10
    assert {row["source"] for row in rows} == {"ranking"}
    assert rows[0]["chosen"][0]["content"] == "Use `sorted(xs)`."
