import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Conversation
from conversations.services import next_task
from labeling.models import Assignment, ImportBatch
from tests.factories import ProjectFactory, PromptFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_previews_and_confirms_an_upload_then_a_labeler_gets_a_task(
    live_server, page, login, tmp_path, celery_worker_process
):
    project = ProjectFactory(name="Everyday questions", slug="everyday")
    admin = UserFactory(username="e2e-admin", roles=["admin"])
    labeler = UserFactory(username="e2e-labeler", roles=["labeler"], labeler_domains=["python"])
    upload = tmp_path / "prompts.jsonl"
    upload.write_text(
        "".join(
            json.dumps(row) + "\n"
            for row in [
                "Why is the sky blue?",
                {"prompt": "How do I reverse a list in Python?", "draft": "Use reversed()."},
                {"prompt": "Why is the sky  blue?"},
            ]
        ),
        encoding="utf-8",
    )

    login(admin)
    page.goto(f"{live_server.url}/projects/everyday/")
    page.get_by_role("link", name="Import prompts").click()
    page.get_by_label("File").set_input_files(str(upload))
    page.get_by_role("button", name="Check file").click()

    report = page.locator(".import-report")
    expect(report.get_by_role("heading", name=re.compile("Check before importing"))).to_be_visible()
    expect(report).to_contain_text("How do I reverse a list in Python?")
    expect(report).to_contain_text("line 3: same prompt as line 1")
    assert project.prompts.count() == 0, "nothing saved before confirming"

    page.get_by_role("button", name="Import 2 prompts").click()
    # A worker imports the file; the page polls its progress until the result replaces it.
    expect(page).to_have_url(re.compile(r"/projects/everyday/imports/\d+/$"))
    status = page.locator("#import-status")
    expect(status.get_by_role("heading")).to_have_text(
        re.compile(r"Imported\s+2 prompts from prompts.jsonl"), timeout=30_000
    )
    expect(status.locator(".stat", has_text="duplicates skipped")).to_contain_text("1")
    status.get_by_role("link", name="Back to the project").click()
    expect(page.locator("table.by-state tfoot")).to_contain_text("2")
    assert project.prompts.count() == 2
    assert ImportBatch.objects.get(project=project).duplicates_skipped == 1

    page.context.clear_cookies()
    login(labeler)
    page.goto(f"{live_server.url}/tasks/")
    page.get_by_role("button", name="Next task").click()
    expect(page).to_have_url(re.compile(r"/conversations/\d+/$"))
    conversation = Conversation.objects.get(labeler=labeler)
    assert page.url == f"{live_server.url}/conversations/{conversation.pk}/"
    assert conversation.prompt.text == "Why is the sky blue?"


def test_labeler_without_a_task_sees_why(live_server, page, login):
    ProjectFactory(domains=["law"])
    login(UserFactory(username="e2e-nodomain", roles=["labeler"]))
    page.goto(f"{live_server.url}/tasks/")
    page.get_by_role("button", name="Next task").click()
    expect(page.get_by_role("status")).to_contain_text("no domains set yet")


def test_lease_countdown_runs_and_says_when_the_lease_is_over(live_server, page, login):
    project = ProjectFactory(name="Quick", slug="quick")
    PromptFactory(project=project, text="What is a monad?")
    labeler = UserFactory(username="e2e-counter", roles=["labeler"], labeler_domains=["python"])
    lease = next_task(labeler).assignment
    Assignment.objects.filter(pk=lease.pk).update(
        lease_expires_at=timezone.now() + timedelta(seconds=4)
    )

    login(labeler)
    page.goto(f"{live_server.url}/tasks/")
    lease_cell = page.locator("td.lease", has_text=re.compile("left|expired"))
    expect(lease_cell).to_have_text(re.compile(r"^0:0[1-4] left$"))
    expect(lease_cell).to_have_text("expired — press Next task to continue", timeout=10_000)
    expect(lease_cell).to_have_class(re.compile(r"\bexpired\b"))

    page.get_by_role("button", name="Next task").click()
    expect(page).to_have_url(re.compile(r"/conversations/\d+/$"))
    expect(page.get_by_text("What is a monad?").first).to_be_visible()


def test_admin_cancels_an_import_that_waits_for_a_worker(live_server, page, login):
    """No task was sent for this batch (as when the queue was down): it waits until Cancel."""
    project = ProjectFactory(name="Waiting", slug="waiting")
    admin = UserFactory(username="e2e-admin", roles=["admin"])
    batch = ImportBatch.objects.create(
        project=project, status="queued", file_name="later.jsonl", created_by=admin
    )

    login(admin)
    page.goto(f"{live_server.url}/projects/waiting/imports/{batch.pk}/")
    status = page.locator("#import-status")
    expect(status.get_by_role("heading")).to_have_text("Waiting for a worker…")
    page.once("dialog", lambda dialog: dialog.accept())
    status.get_by_role("button", name="Cancel import").click()

    expect(status.get_by_role("heading")).to_have_text(
        re.compile(r"Cancelled\s+Nothing was imported from later.jsonl")
    )
    batch.refresh_from_db()
    assert (batch.status, batch.cancel_requested) == ("cancelled", True)
