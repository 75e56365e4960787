import json

import pytest
from playwright.sync_api import expect

from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_previews_tokens_runs_an_export_and_downloads_its_files(
    live_server, page, login, celery_worker_process, tmp_path
):
    admin = login(UserFactory(username="e2e-exporter", roles=["admin"]))
    reviewer = UserFactory(roles=["reviewer"])
    project = ProjectFactory(slug="e2e-export", name="E2E export")
    for index in range(6):
        approved_conversation(
            project, chat(f"Question {index}?", f"Answer number {index}."), reviewer=reviewer
        )
    assert admin.is_project_admin

    page.goto(f"{live_server.url}/exports/")
    page.get_by_label("E2E export").check()
    page.get_by_label("Validation fraction").fill("0")
    page.get_by_role("button", name="Preview tokens").click()

    preview = page.locator("#preview")
    expect(preview.get_by_text("Conversation ").first).to_be_visible()
    expect(preview.locator(".tokens .tok.special").first).to_have_text("<|im_start|>")
    expect(preview.locator(".tokens .tok.trained").first).to_be_visible()
    expect(preview.locator(".tokens .tok.trained", has_text="Answer").first).to_be_visible()

    page.get_by_role("button", name="Start export").click()
    expect(page.get_by_role("heading", name="Export #")).to_be_visible()
    expect(page.get_by_role("progressbar", name="Export progress")).to_be_visible()
    expect(page.get_by_test_id("job-status")).to_have_text("Succeeded", timeout=60_000)
    expect(page.get_by_role("progressbar", name="Export progress")).to_have_attribute(
        "aria-valuenow", "100"
    )
    expect(page.locator("#preview .tokens .tok.special").first).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="train.jsonl").click()
    saved = tmp_path / "train.jsonl"
    download_info.value.save_as(saved)
    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    assert len(rows) == 6
    assert rows[0]["messages"][1] == {"role": "assistant", "content": "Answer number 0."}

    with page.expect_download() as manifest_info:
        page.get_by_role("link", name="manifest.json").click()
    manifest_info.value.save_as(tmp_path / "manifest.json")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["counts"]["exported"] == 6
