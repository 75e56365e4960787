"""In Chromium: an admin sets AI drafts and labelled rubric criteria on the settings page
(reviewers then see the labels with their help), and finds, edits and retires prompts."""

import pytest
from playwright.sync_api import expect

from labeling.models import Project, Prompt
from labeling.services import domain_get_or_create
from tests.conversations.factories import reviewer_factory, submitted_conversation
from tests.e2e.test_accessibility import assert_accessible
from tests.factories import ProjectFactory, PromptFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_sets_ai_drafts_and_rubric_labels_and_the_reviewer_sees_the_help(
    live_server, page, login, settings
):
    settings.AI_DRAFT_API_KEY = "sk-browser-secret"
    conversation = submitted_conversation()
    slug = conversation.project.slug
    login(UserFactory(username="admin-settings", roles=["admin"]))
    page.goto(f"{live_server.url}/projects/{slug}/edit/")
    expect(page.get_by_text("AI_DRAFT_API_KEY")).to_be_visible()
    assert "sk-browser-secret" not in page.content()
    page.get_by_label("AI drafts on").check()
    page.get_by_label("Endpoint URL").fill("https://llm.example.com/v1")
    page.get_by_label("Model").fill("expert-7b")
    page.get_by_label("Temperature").fill("3")
    page.get_by_label("Review rubric").fill(
        "correctness | Correct | Facts and code are right\ncode_quality"
    )
    # The browser itself refuses a temperature outside 0 to 2 (the server checks again).
    assert not page.get_by_label("Temperature").evaluate("input => input.checkValidity()")
    page.get_by_label("Temperature").fill("0.4")
    page.get_by_role("button", name="Save settings").click()
    expect(page).to_have_url(f"{live_server.url}/projects/{slug}/")
    project = Project.objects.get(slug=slug)
    assert (project.ai_drafts_enabled, project.ai_draft_model, project.ai_draft_temperature) == (
        True,
        "expert-7b",
        0.4,
    )

    login(reviewer_factory(name="rev-labels"))
    page.goto(f"{live_server.url}/review/{conversation.pk}/")
    correct = page.get_by_role("group", name="Correct")
    expect(correct).to_be_visible()
    expect(correct).to_contain_text("Facts and code are right")
    expect(page.get_by_role("group", name="Code quality")).to_be_visible()
    expect(page.get_by_text("Code_quality")).to_have_count(0)


def test_admin_finds_edits_and_retires_prompts_by_keyboard(live_server, page, login):
    project = ProjectFactory(slug="find-me", domains=["python"])
    python = domain_get_or_create(name="python")
    PromptFactory(project=project, text="How do I sort a dictionary by value?", domain=python)
    PromptFactory(project=project, text="Explain photosynthesis briefly")
    login(UserFactory(username="admin-prompts", roles=["admin"]))
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    page.get_by_role("link", name="Prompts", exact=True).click()
    expect(page.get_by_test_id("prompt-row")).to_have_count(2)
    assert_accessible(page)

    page.get_by_label("Search").fill("sorting")  # stemmed: finds "sort"
    expect(page.get_by_test_id("prompt-row")).to_have_count(1)
    expect(page.get_by_test_id("prompt-row")).to_contain_text("sort a dictionary")
    page.get_by_label("Search").fill("")
    page.get_by_label("Domain").select_option("none")
    expect(page.get_by_test_id("prompt-row")).to_have_count(1)
    expect(page.get_by_test_id("prompt-row")).to_contain_text("photosynthesis")

    row = page.get_by_test_id("prompt-row")
    row.get_by_role("link", name="Edit").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Text").fill("Explain photosynthesis in three sentences")
    page.get_by_label("Domain").select_option("python")
    page.get_by_role("button", name="Save prompt").click()
    expect(page.get_by_text("saved")).to_be_visible()
    edited = Prompt.objects.get(text__startswith="Explain photosynthesis")
    assert edited.domain == python

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Retire prompt {edited.pk}").click()
    expect(page.get_by_text("is retired")).to_be_visible()
    edited.refresh_from_db()
    assert edited.retired_at is not None
    page.get_by_label("Status").select_option("retired")
    expect(page.get_by_test_id("prompt-row")).to_have_count(1)
