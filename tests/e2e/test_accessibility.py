"""axe-core, run in Chromium, finds no serious or critical accessibility violation on the
editor, review, export and project pages, also after their htmx swaps; the skip link and the
keyboard reach what a person needs.

axe-core comes from the npm registry into tests/e2e/axe/node_modules (`make test` runs
`npm ci` there), and is injected into each page as a file: the app's CSP never sees it."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from exports.models import ExportJob
from exports.services import export_config_from_dict, export_job_execute
from tests.conversations.factories import (
    reviewer_factory,
    started_conversation,
    started_ranking,
    submitted_conversation,
    submitted_ranking,
)
from tests.exports.factories import approved_conversation, chat
from tests.factories import ImportBatchFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = {"serious", "critical"}


def axe_violations(page) -> list[str]:
    """The serious and critical violations axe finds on the page as it is now."""
    assert AXE.is_file(), f"{AXE} is missing: run `npm ci --prefix tests/e2e/axe` (make test does)"
    if not page.evaluate("() => Boolean(window.axe)"):
        # Evaluated through the DevTools protocol: the page's CSP (no inline script) holds.
        page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in results
        if v["impact"] in SERIOUS
    ]


def assert_accessible(page):
    violations = axe_violations(page)
    assert not violations, f"{page.url}:\n" + "\n".join(violations)


def test_editor_has_no_serious_violations_and_a_working_skip_link(live_server, page, login):
    conversation = started_conversation(text="How do I reverse a list in Python?")
    login(conversation.labeler)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    # The editor opens with the focus in the empty reply, ready to type.
    expect(page.get_by_label("Assistant message 2")).to_be_focused()
    assert_accessible(page)
    # The skip link is still the page's first stop and works from the keyboard.
    first_stop = "() => document.querySelector('a[href], button, textarea, input, select')"
    assert page.evaluate(f"{first_stop}.className") == "skip-link"
    skip = page.get_by_role("link", name="Skip to content")
    for _ in range(40):
        if page.evaluate("() => document.activeElement.className") == "skip-link":
            break
        page.keyboard.press("Shift+Tab")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"


def test_review_page_has_no_serious_violations(live_server, page, login):
    conversation = submitted_conversation(answer="Use `reversed(xs)` or `xs[::-1]`.")
    login(reviewer_factory(name="rev-axe"))
    page.goto(f"{live_server.url}/review/{conversation.pk}/")
    expect(page.get_by_role("heading", name="Rubric")).to_be_visible()
    assert_accessible(page)


def test_ranking_pages_have_no_serious_violations(live_server, page, login):
    conversation = started_ranking()
    login(conversation.labeler)
    page.goto(f"{live_server.url}/rankings/{conversation.pk}/")
    assert_accessible(page)
    submitted = submitted_ranking(better_reply="Use `sorted(xs)`.")
    login(reviewer_factory(name="rev-axe-rank"))
    page.goto(f"{live_server.url}/review/{submitted.pk}/ranking/")
    assert_accessible(page)


def test_project_pages_have_no_serious_violations(live_server, page, login):
    login(UserFactory(username="admin-axe", roles=["admin"]))
    project = ProjectFactory(slug="axe-project", domains=["python"])
    approved_conversation(project, chat("Question?", "Answer."), domain="python")
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    assert_accessible(page)
    page.goto(f"{live_server.url}/projects/{project.slug}/edit/")
    assert_accessible(page)


def test_paged_lists_of_the_project_and_home_pages_page_on_accessibly(live_server, page, login):
    # One import more than a page of the history, one submission more than a page of them.
    project = ProjectFactory(slug="axe-paged", domains=["python"])
    for number in range(21):
        ImportBatchFactory(project=project, file_name=f"batch-{number:02}.jsonl")
    login(UserFactory(username="admin-axe-paged", roles=["admin"]))
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    history = page.locator("#imports")
    expect(history.get_by_role("link", name="batch-20.jsonl")).to_be_visible()
    assert_accessible(page)
    history.get_by_role("navigation", name="Pages of the import history").get_by_role(
        "link", name="Older"
    ).click()
    expect(history.get_by_role("link", name="batch-00.jsonl")).to_be_visible()
    expect(history.get_by_role("link", name="batch-20.jsonl")).to_have_count(0)
    assert "imports_cursor=" in page.url
    assert_accessible(page)
    # A cursor the skips list did not give: said in that list, the history kept on its page.
    page.goto(page.url.split("#")[0] + "&skips_cursor=bm90LWEtY3Vyc29y")
    expect(page.locator("#skips").get_by_role("alert")).to_contain_text("not a page of this list")
    expect(history.get_by_role("link", name="batch-00.jsonl")).to_be_visible()
    assert_accessible(page)

    labeler = UserFactory(username="labeler-axe-paged", labeler_domains=["python"])
    for number in range(11):
        submitted_conversation(project=project, labeler=labeler, text=f"Question {number:02}?")
    login(labeler)
    page.goto(f"{live_server.url}/tasks/")
    submissions = page.locator("#recent")
    expect(submissions.get_by_role("link", name="Question 10?")).to_be_visible()
    assert_accessible(page)
    submissions.get_by_role("link", name="Older").click()
    expect(submissions.get_by_role("link", name="Question 00?")).to_be_visible()
    expect(submissions.get_by_role("link", name="Question 10?")).to_have_count(0)
    assert_accessible(page)


def test_export_page_has_no_serious_violations_after_its_htmx_swaps(live_server, page, login):
    admin = login(UserFactory(username="admin-axe-export", roles=["admin"]))
    project = ProjectFactory(slug="axe-export", name="Axe export")
    for index in range(2):
        approved_conversation(project, chat(f"Question {index}?", f"Answer {index}."))
    page.goto(f"{live_server.url}/exports/")
    assert_accessible(page)

    page.get_by_label("Axe export").check()
    estimate = page.get_by_test_id("estimate")
    # The first estimate loads the tokenizer: give it longer than a click.
    expect(estimate).not_to_contain_text("Tick a project", timeout=30_000)
    expect(page.get_by_test_id("estimate-conversations")).to_have_text("2")
    expect(estimate).to_contain_text("tokens")
    page.get_by_label("Validation fraction").fill("0")
    expect(page.get_by_test_id("estimate-empty-split")).to_contain_text("validation split")
    # A bad setting: the estimate says so, links to the field and the field is marked.
    page.get_by_label("Seed").fill("-3")
    expect(estimate).to_contain_text("Fix the settings marked in the form")
    expect(page.get_by_label("Seed")).to_have_attribute("aria-invalid", "true")
    estimate.get_by_role("link", name="Seed").click()
    expect(page.get_by_label("Seed")).to_be_focused()
    assert_accessible(page)
    page.get_by_label("Seed").fill("0")
    page.keyboard.press("Tab")  # leaving the field sends its change too
    expect(page.get_by_test_id("estimate-conversations")).to_have_text("2", timeout=20_000)
    expect(page.get_by_label("Seed")).not_to_have_attribute("aria-invalid", "true")

    page.get_by_role("button", name="Preview tokens").click()
    expect(page.locator("#preview .token-example").first).to_be_visible()
    assert_accessible(page)

    config = export_config_from_dict({"projects": [project.slug], "val_fraction": 0})
    job = ExportJob.objects.create(config=config.to_dict(), created_by=admin)
    export_job_execute(job_id=job.id)
    page.goto(f"{live_server.url}/exports/{job.id}/")
    expect(page.get_by_test_id("empty-split")).to_contain_text("validation split is empty")
    with page.expect_download() as download:
        page.get_by_test_id("download-zip").click()
    assert download.value.suggested_filename == f"export-{job.id}.zip"
    assert_accessible(page)


def test_queues_page_has_no_serious_violations_and_is_in_the_navigation(live_server, page, login):
    job = ExportJob.objects.create(status=ExportJob.Status.QUEUED)
    job.projects.add(ProjectFactory(slug="axe-queued"))
    login(UserFactory(username="admin-queues", roles=["admin"]))
    page.goto(f"{live_server.url}/exports/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queues").click()
    expect(page.get_by_role("heading", name="Jobs in flight")).to_be_visible()
    expect(page.locator(f'[data-job="export-{job.id}"]')).to_contain_text("axe-queued")
    assert_accessible(page)
