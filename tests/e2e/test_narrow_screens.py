"""Phone-width layouts: nothing scrolls sideways and messages keep a readable width; on a
desktop the rubric stays beside the conversation."""

import pytest
from playwright.sync_api import expect

from exports.services import export_config_from_dict, export_job_create
from tests.conversations.factories import (
    add_turn,
    reviewer_factory,
    started_conversation,
    submit,
    write_answer,
)
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
# Long answers with an unbroken identifier and a wide code block: the content that used to
# push pages sideways.
LONG_ANSWER = (
    "Read it in chunks. " * 40
    + "\n\nCall `pandas_read_csv_with_a_very_long_keyword_argument_name_chunksize_"
    + "x" * 60
    + "`.\n\n```python\nfor chunk in pd.read_csv(path, chunksize=100_000, usecols=['a', 'b', 'c'], dtype={'a': 'int64'}):  # noqa\n    handle(chunk)\n```\n"
)


def overflow(page) -> dict:
    return page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth,"
        " client: document.documentElement.clientWidth})"
    )


def assert_no_sideways_scroll(page):
    sizes = overflow(page)
    assert sizes["scroll"] <= sizes["client"], f"{page.url} scrolls sideways: {sizes}"


def width_of(locator) -> float:
    return locator.bounding_box()["width"]


@pytest.fixture
def long_submitted_conversation():
    conversation = started_conversation(text="How do I read a large CSV file in Python?")
    write_answer(conversation, LONG_ANSWER)
    for turn in range(3):
        add_turn(conversation, f"And what about step {turn}? " * 5, LONG_ANSWER)
    return submit(conversation)


def test_review_page_stacks_the_rubric_below_the_conversation_on_a_phone(
    live_server, page, login, long_submitted_conversation
):
    login(reviewer_factory(name="rev-phone"))
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/review/{long_submitted_conversation.pk}/")

    messages = page.locator("article.message")
    expect(messages).to_have_count(8)
    assert_no_sideways_scroll(page)
    for index in range(8):
        assert width_of(messages.nth(index).locator(".markdown")) >= 300
    rubric = page.get_by_role("complementary", name="Decision")
    last_message = messages.nth(7).bounding_box()
    assert rubric.bounding_box()["y"] >= last_message["y"] + last_message["height"]
    assert width_of(rubric) >= 340
    # The page is long because the conversation is, not because the text is squeezed.
    assert page.evaluate("document.documentElement.scrollHeight") < 9000
    # A phone reviewer reaches the rubric in one tap.
    page.get_by_role("link", name="Rubric").click()
    expect(rubric.get_by_role("heading", name="Rubric")).to_be_in_viewport()


def test_review_page_on_a_desktop_shows_the_rubric_beside_the_conversation(
    live_server, page, login, long_submitted_conversation
):
    login(reviewer_factory(name="rev-desk"))
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/review/{long_submitted_conversation.pk}/")

    first = page.locator("article.message").first.bounding_box()
    rubric = page.get_by_role("complementary", name="Decision").bounding_box()
    assert rubric["x"] >= first["x"] + first["width"]
    assert abs(rubric["y"] - first["y"]) < 80
    assert first["width"] >= 700
    expect(page.get_by_role("link", name="Rubric")).to_be_hidden()
    assert_no_sideways_scroll(page)


def test_editor_fits_a_phone(live_server, page, login):
    conversation = started_conversation(text="How do I read a large CSV file in Python?")
    write_answer(conversation, LONG_ANSWER)
    login(conversation.labeler)
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")

    answer = page.locator(".msg-assistant textarea").first
    expect(answer).to_be_visible()
    assert width_of(answer) >= 300
    assert width_of(page.locator(".msg-user").first) >= 300
    assert_no_sideways_scroll(page)


def test_project_and_export_pages_fit_a_phone(live_server, page, login):
    admin = login(UserFactory(username="admin-phone", roles=["admin"]))
    project = ProjectFactory(
        slug="phone-project",
        name="A project with a rather long name to wrap",
        domains=["python", "biology", "law"],
    )
    approved_conversation(project, chat("Question?", LONG_ANSWER), domain="python")
    export_job_create(
        config=export_config_from_dict({"projects": [project.slug]}), created_by=admin
    )
    page.set_viewport_size(PHONE)

    page.goto(f"{live_server.url}/projects/{project.slug}/")
    expect(page.get_by_role("heading", name="Prompts by state")).to_be_visible()
    assert_no_sideways_scroll(page)
    assert width_of(page.locator(".table-wrap").first) >= 300

    page.goto(f"{live_server.url}/exports/")
    expect(page.get_by_role("link", name="#")).to_have_count(1)
    assert_no_sideways_scroll(page)
    assert width_of(page.get_by_role("region", name="New export")) >= 300
    assert width_of(page.get_by_role("region", name="Recent exports")) >= 300
