import json
import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation
from labeling.models import ImportBatch
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_previews_and_confirms_an_upload_then_a_labeler_gets_a_task(
    live_server, page, login, tmp_path
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
    expect(page.get_by_text("Imported 2 prompts from prompts.jsonl")).to_be_visible()
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
