"""Guessing passwords or API tokens is throttled by account and by address, and the person
locked out is told when to try again. The limit exercised is the configured one."""

import os
import re
import subprocess
import sys

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db.models import F
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIMIT = settings.AXES_FAILURE_LIMIT
PASSWORD = "the-right-pass-42"


@pytest.fixture
def ana():
    return UserFactory(username="ana-lock", roles=["labeler"], password=PASSWORD)


def _log_in(client, username, password, address="198.51.100.7"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def _assert_told_when(response):
    assert response.status_code == 429
    cooloff = settings.AXES_COOLOFF_TIME.total_seconds()
    assert cooloff - 30 <= int(response["Retry-After"]) <= cooloff
    minutes = int(cooloff // 60)
    body = response.content.decode()
    assert re.search(rf"Try again in ({minutes}|{minutes - 1}) minutes", body), body


def _let_cooloff_pass():
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME)


def test_the_right_password_does_not_work_after_too_many_wrong_ones(client, ana):
    for _ in range(LIMIT - 1):
        assert _log_in(client, "ana-lock", "wrong").status_code == 200
    locked = _log_in(client, "ana-lock", "wrong")
    _assert_told_when(locked)
    assert 'role="alert"' in locked.content.decode()

    refused = _log_in(client, "ana-lock", PASSWORD)
    _assert_told_when(refused)
    assert SESSION_KEY not in client.session

    _let_cooloff_pass()
    assert _log_in(client, "ana-lock", PASSWORD).status_code == 302
    assert client.session[SESSION_KEY] == str(ana.pk)


def test_an_account_is_locked_whatever_address_the_guesses_come_from(client, ana):
    for attempt in range(LIMIT):
        _log_in(client, "ana-lock", "wrong", address=f"203.0.113.{attempt + 1}")
    _assert_told_when(_log_in(client, "ana-lock", PASSWORD, address="192.0.2.200"))


def test_an_address_is_locked_whatever_accounts_it_guesses(client, ana):
    for attempt in range(LIMIT):
        _log_in(client, f"nobody-{attempt}", "wrong", address="198.51.100.9")
    _assert_told_when(_log_in(client, "ana-lock", PASSWORD, address="198.51.100.9"))
    # Another address signs in to the same account at once.
    assert _log_in(client, "ana-lock", PASSWORD, address="198.51.100.10").status_code == 302


def test_bad_api_tokens_are_throttled_by_address_in_the_one_error_shape(client, ana):
    token = Token.objects.create(user=ana)

    def call(key, address="198.51.100.20"):
        return client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}", REMOTE_ADDR=address)

    for attempt in range(LIMIT - 1):
        assert call(f"guess{attempt:035d}").status_code == 401
    locked = call("one-guess-too-many")
    assert locked.status_code == 429
    error = locked.json()["error"]
    assert set(error) == {"status", "code", "message", "fields"}
    assert error["status"] == 429 and error["code"] == "throttled"
    assert "Try again in" in error["message"]
    cooloff = settings.AXES_COOLOFF_TIME.total_seconds()
    assert cooloff - 30 <= int(locked["Retry-After"]) <= cooloff

    # Even the right token waits from that address; from another it works.
    assert call(token.key).status_code == 429
    assert call(token.key, address="198.51.100.21").status_code == 200
    _let_cooloff_pass()
    assert call(token.key).status_code == 200


def test_address_behind_a_trusted_proxy_is_the_one_the_proxy_saw(client, ana, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for attempt in range(LIMIT):
        client.post(
            reverse("login"),
            {"username": f"nobody-{attempt}", "password": "wrong"},
            REMOTE_ADDR="10.0.0.2",
            # The client forges a new left-hand address each time; the proxy appends the real one.
            HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}, 198.51.100.30",
        )
    assert AccessAttempt.objects.filter(ip_address="198.51.100.30").exists()
    assert not AccessAttempt.objects.filter(ip_address__startswith="192.0.2.").exists()
    other_client_same_proxy = client.post(
        reverse("login"),
        {"username": "ana-lock", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.31",
    )
    assert other_client_same_proxy.status_code == 302


def test_limits_come_from_the_environment():
    env = {**os.environ, "LOGIN_FAILURE_LIMIT": "3", "LOGIN_LOCKOUT_MINUTES": "2.5"}
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )
    assert result.stdout.split()[-2:] == ["3", "150.0"], result.stderr
