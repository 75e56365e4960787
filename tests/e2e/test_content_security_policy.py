"""The main pages under the Content-Security-Policy, in a real Chromium: no violation is
reported and their scripted features still work; inline script and images from other
origins are refused by the browser itself."""

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from exports.models import ExportJob
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, PromptFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAVED = re.compile(r"Saved \d\d:\d\d:\d\d")

# Every violation the page sees, whichever way it is reported, goes to the console.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
});
"""


def watch(page) -> list[str]:
    """Collect CSP violations and script errors on `page`, across navigations."""
    problems: list[str] = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error"
            and ("Content Security Policy" in message.text or "CSP violation" in message.text)
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    return problems


@pytest.fixture
def foreign_server():
    """Another origin (another port) that records every request it gets."""
    hits: list[str] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.hits = hits
    server.origin = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def log_in_with_the_form(page, live_server, username, password="secret-pass-123"):
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_labeler_and_reviewer_pages_work_with_no_violation(
    live_server, page, labeler, reviewer, foreign_server
):
    problems = watch(page)
    project = ProjectFactory(name="CSP walk", domains=["python"])
    PromptFactory(project=project, text="How do I sort a dict by value?")

    response = page.goto(f"{live_server.url}/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "img-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    log_in_with_the_form(page, live_server, labeler.username)

    # Labeler home, Next task (htmx), the editor: autosave, checks (htmx), preview, submit.
    expect(page.get_by_role("button", name="Next task")).to_be_visible()
    page.get_by_role("button", name="Next task").click()
    expect(page.get_by_role("heading", name=re.compile(r"Conversation #\d+"))).to_be_visible()
    answer = page.get_by_label("Assistant message 2")
    answer.fill(f"Use **sorted** with a key. ![chart]({foreign_server.origin}/who-looked.png)")
    expect(page.locator("#save-state")).to_have_text(SAVED)
    expect(page.locator("#checks")).to_contain_text("All checks pass")
    answer.focus()
    page.keyboard.press("Alt+p")
    preview = page.locator("[data-preview]:visible")
    expect(preview.locator("strong")).to_have_text("sorted")
    expect(preview.get_by_role("link", name="Image: chart")).to_be_visible()
    page.keyboard.press("Alt+p")
    answer.press("Control+Enter")
    expect(page.get_by_text("Submitted for review")).to_be_visible()

    # Review queue, the review page: markdown, keyboard help (review.js).
    log_in_with_the_form(page, live_server, reviewer.username)
    page.goto(f"{live_server.url}/review/")
    page.get_by_role("button", name=re.compile(r"Review conversation \d+")).click()
    expect(page.get_by_role("link", name="Image: chart")).to_be_visible()
    page.locator("body").press("?")
    expect(page.locator("#review-help")).to_be_visible()
    page.keyboard.press("Escape")

    assert foreign_server.hits == []
    assert problems == []


def test_admin_pages_work_with_no_violation(live_server, page, admin_user):
    problems = watch(page)
    project = ProjectFactory(slug="csp-admin", name="CSP admin", domains=["python"])
    reviewer = UserFactory(roles=["reviewer"])
    conversation = approved_conversation(
        project, chat("Question?", "An answer."), reviewer=reviewer
    )
    running = ExportJob.objects.create(
        created_by=admin_user, status=ExportJob.Status.RUNNING, rows_done=2, rows_total=5
    )
    running.projects.set([project])

    log_in_with_the_form(page, live_server, admin_user.username)
    page.goto(f"{live_server.url}/projects/csp-admin/")
    expect(page.get_by_role("heading", name="CSP admin")).to_be_visible()

    # Exports: the progress bar's width comes from static JS, also after htmx re-polls it.
    page.goto(f"{live_server.url}/exports/")
    bar = page.get_by_role("progressbar", name=f"Export #{running.pk} progress").locator("span")
    expect(bar).to_have_attribute("style", "width: 40%;")
    with page.expect_response(lambda r: "part=jobs" in r.url):
        pass
    bar = page.get_by_role("progressbar", name=f"Export #{running.pk} progress").locator("span")
    expect(bar).to_have_attribute("style", "width: 40%;")
    page.get_by_label("CSP admin").check()
    page.get_by_role("button", name="Preview tokens").click()
    expect(page.locator("#preview .tokens .tok.special").first).to_have_text("<|im_start|>")

    # Quality: choosing a project submits the filter (formerly an inline onchange).
    page.goto(f"{live_server.url}/quality/")
    page.get_by_label("Project", exact=True).select_option(label="CSP admin")
    expect(page).to_have_url(re.compile(rf"/quality/\?project={project.pk}$"))

    # The API docs (Swagger UI from installed files) and the Django admin.
    page.goto(f"{live_server.url}/api/docs/")
    # Swagger UI fetches and renders the whole schema: slow on a busy machine.
    expect(page.get_by_text("SFT Studio API").first).to_be_visible(timeout=30_000)
    page.goto(f"{live_server.url}/admin/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    UserFactory._meta.model.objects.create_superuser("csp-root", "root@example.com", "root-pass-42")
    log_in_with_the_form(page, live_server, "csp-root", "root-pass-42")
    page.goto(f"{live_server.url}/admin/conversations/conversation/")
    expect(page.get_by_role("link", name=str(conversation.pk), exact=True)).to_be_visible()
    page.goto(f"{live_server.url}/admin/conversations/conversation/{conversation.pk}/change/")
    expect(page.get_by_role("heading", name="View conversation")).to_be_visible()
    page.goto(f"{live_server.url}/admin/labeling/user/{admin_user.pk}/change/")
    expect(page.get_by_role("heading", name="Change user")).to_be_visible()

    assert problems == []


def test_the_browser_refuses_inline_script_and_foreign_images(
    live_server, page, labeler, foreign_server
):
    problems = watch(page)
    log_in_with_the_form(page, live_server, labeler.username)
    expect(page.get_by_role("button", name="Next task")).to_be_visible()

    page.evaluate(
        """(origin) => {
        const script = document.createElement("script");
        script.textContent = "window.__inline = 1";
        document.body.append(script);
        const image = document.createElement("img");
        image.src = origin + "/pixel.png";
        document.body.append(image);
        const button = document.createElement("button");
        button.setAttribute("onclick", "window.__handler = 1");
        document.body.append(button);
        button.click();
    }""",
        foreign_server.origin,
    )
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__inline") == "undefined"
    assert page.evaluate("typeof window.__handler") == "undefined"
    assert foreign_server.hits == []
    reported = " ".join(problems)
    assert "script-src" in reported
    assert f"img-src {foreign_server.origin}/pixel.png" in reported
