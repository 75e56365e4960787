"""A person resets a forgotten password by email and changes their own, with Django's views."""

import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OLD, NEW = "old-pass-phrase-1", "a-brand-new-phrase-77"


@pytest.fixture
def ana():
    return UserFactory(username="ana-pw", roles=["labeler"], password=OLD)


def _logs_in(client, password) -> bool:
    client.logout()
    client.post(reverse("login"), {"username": "ana-pw", "password": password})
    return SESSION_KEY in client.session


def test_login_page_links_to_the_reset_and_the_user_menu_to_the_change(client, ana):
    assert reverse("password_reset") in client.get(reverse("login")).content.decode()
    client.force_login(ana)
    page = client.get(reverse("conversations:labeler-home")).content.decode()
    assert f'href="{reverse("password_change")}"' in page


def test_full_reset_flow_by_email(client, ana):
    response = client.post(reverse("password_reset"), {"email": "ana-pw@example.com"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Check your email" in page and "24 hours" in page

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ana-pw@example.com"]
    assert email.subject == "Reset your SFT Studio password"
    assert "ana-pw" in email.body
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", email.body).group(1)

    # Django swaps the token in the URL for one kept in the session, then shows the form.
    form_url = client.get(link)["Location"]
    page = client.get(form_url)
    assert "Choose a new password" in page.content.decode()
    mismatch = client.post(form_url, {"new_password1": NEW, "new_password2": NEW + "x"})
    assert mismatch.status_code == 200 and "errorlist" in mismatch.content.decode()
    done = client.post(form_url, {"new_password1": NEW, "new_password2": NEW})
    assert done["Location"] == reverse("password_reset_complete")
    assert "Password set" in client.get(done["Location"]).content.decode()

    assert _logs_in(client, NEW)
    assert not _logs_in(client, OLD)
    # The link works once.
    assert "no longer works" in client.get(link).content.decode()


def test_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, ana):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_change_own_password_needs_the_old_one(client, ana):
    client.force_login(ana)
    url = reverse("password_change")
    assert "Change your password" in client.get(url).content.decode()
    wrong = client.post(url, {"old_password": "not-it", "new_password1": NEW, "new_password2": NEW})
    assert wrong.status_code == 200 and "errorlist" in wrong.content.decode()
    done = client.post(url, {"old_password": OLD, "new_password1": NEW, "new_password2": NEW})
    assert done["Location"] == reverse("password_change_done")
    assert SESSION_KEY in client.session  # this browser stays signed in
    assert _logs_in(client, NEW)
    assert not _logs_in(client, OLD)


def test_changing_the_password_signs_out_the_other_sessions(client, ana):
    other_browser = Client()
    assert _logs_in(other_browser, OLD)
    home = reverse("conversations:labeler-home")
    assert other_browser.get(home).status_code == 200
    client.force_login(ana)
    client.post(
        reverse("password_change"),
        {"old_password": OLD, "new_password1": NEW, "new_password2": NEW},
    )
    assert client.get(home).status_code == 200, "the browser that changed it stays signed in"
    response = other_browser.get(home)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_change_is_for_signed_in_people_only(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_email_goes_to_the_console_unless_the_environment_says_otherwise():
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS)"
    )

    def configured(**env):
        base = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
        result = subprocess.run(
            [sys.executable, "-c", script],
            env={**base, **env},
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
        )
        return result.stdout.split()[-4:]

    assert configured() == [
        "django.core.mail.backends.console.EmailBackend",
        "localhost",
        "25",
        "False",
    ]
    assert configured(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="smtp.example.com",
        EMAIL_PORT="587",
        EMAIL_USE_TLS="1",
    ) == ["django.core.mail.backends.smtp.EmailBackend", "smtp.example.com", "587", "True"]
