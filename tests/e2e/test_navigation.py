import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NAVIGATION = {
    "labeler": (["My tasks"], ["Review", "Conversations", "Projects", "Exports", "People"]),
    "reviewer": (["Review", "Conversations"], ["My tasks", "Projects", "Exports", "People"]),
    "admin": (["Projects", "Conversations", "Exports", "People"], ["My tasks", "Review"]),
}


@pytest.mark.parametrize("role", sorted(NAVIGATION))
def test_each_role_logs_in_and_sees_its_navigation(live_server, page, role):
    UserFactory(username=f"e2e-{role}", roles=[role], password="a-long-pass-42")

    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    page.get_by_label("Username").fill(f"e2e-{role}")
    page.get_by_label("Password").fill("a-long-pass-42")
    page.get_by_role("button", name="Log in").click()

    nav = page.get_by_role("navigation", name="Main")
    shown, hidden = NAVIGATION[role]
    for name in shown:
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    for name in hidden:
        expect(nav.get_by_role("link", name=name)).to_have_count(0)

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_wrong_password_says_so(live_server, page):
    UserFactory(username="e2e-wrong", roles=["labeler"], password="a-long-pass-42")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("e2e-wrong")
    page.get_by_label("Password").fill("not-it")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
