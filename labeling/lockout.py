"""Sign-in throttling with django-axes: wrong passwords and bad API tokens count against the
account and against the address they came from; past `LOGIN_FAILURE_LIMIT` within
`LOGIN_LOCKOUT_MINUTES`, that account or address waits, and is told how long.

Axes keeps the counts in the database (shared by every web process) and hooks into
Django's `authenticate()`; DRF's own throttles run only after authentication succeeded,
so they cannot see a wrong token. Here the token check reports its failures to axes the
way `authenticate()` does, so passwords and tokens share one limit per address.
"""

import math
from datetime import datetime

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.timesince import timeuntil
from drf_spectacular.authentication import TokenScheme
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

# A token names no account: its failures count against the address only.
_NO_ACCOUNT = {"username": None}
_NBSP = "\xa0"  # timeuntil joins number and unit with it; API messages are plain text


def lockout_parameters(request_or_attempt, credentials: dict | None = None) -> list[str]:
    """Count by address always, and by account when one was named (AXES_LOCKOUT_PARAMETERS).

    Without a name, a "username" bucket would be the shared bucket of everyone nameless.
    """
    username = (credentials or {}).get("username") or getattr(request_or_attempt, "username", None)
    return ["ip_address", "username"] if username else ["ip_address"]


def client_address(request: HttpRequest) -> str:
    """The caller's address (AXES_CLIENT_IP_CALLABLE). Behind `TRUSTED_PROXY_COUNT` proxies
    it is the entry the outermost of them appended to X-Forwarded-For; anything further
    left was written by the client and could be forged to dodge the limit."""
    remote = request.META.get("REMOTE_ADDR", "")
    if not settings.TRUSTED_PROXY_COUNT:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if len(forwarded) < settings.TRUSTED_PROXY_COUNT:
        return remote
    return forwarded[-settings.TRUSTED_PROXY_COUNT]


def unlocked_at(request: HttpRequest, credentials: dict | None) -> datetime:
    """When the lock on this request's account and address lifts at the latest: the cool-off
    after the last failure that still counts."""
    attempts = AxesProxyHandler.get_implementation().get_user_attempts(request, credentials)
    latest = max(
        (
            found
            for found in (qs.aggregate(last=Max("attempt_time"))["last"] for qs in attempts)
            if found
        ),
        default=timezone.now(),
    )
    return latest + settings.AXES_COOLOFF_TIME


def _retry_after(request: HttpRequest, credentials: dict | None) -> tuple[int, str]:
    until = unlocked_at(request, credentials)
    seconds = max(1, math.ceil((until - timezone.now()).total_seconds()))
    when = timezone.localtime(until).strftime("%H:%M %Z")
    message = (
        "Too many failed sign-in attempts for this account or from this address. "
        f"Try again in {timeuntil(until).replace(_NBSP, ' ')} (at {when})."
    )
    return seconds, message


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The page a locked-out sign-in gets (AXES_LOCKOUT_CALLABLE): the login form, 429,
    with when to try again in words and in Retry-After."""
    if original_response is not None and original_response.status_code == 429:
        return original_response  # the API already answered with its own 429
    seconds, message = _retry_after(request, credentials)
    response = render(
        request,
        "registration/login.html",
        {
            "form": AuthenticationForm(request),
            "lockout": message,
            "next": request.GET.get("next", ""),
        },
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


class LockoutTokenAuthentication(TokenAuthentication):
    """`Authorization: Token …` whose failures count against the caller's address."""

    def authenticate(self, request):
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None
        http_request = request._request
        if not AxesProxyHandler.is_allowed(http_request, _NO_ACCOUNT):
            raise self._locked(http_request)
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            # The same signal a failed `authenticate()` sends: axes counts it.
            user_login_failed.send(sender=__name__, credentials=_NO_ACCOUNT, request=http_request)
            if getattr(http_request, "axes_locked_out", False):
                raise self._locked(http_request) from None
            raise

    @staticmethod
    def _locked(http_request: HttpRequest) -> Throttled:
        seconds, message = _retry_after(http_request, _NO_ACCOUNT)
        locked = Throttled(detail=message)  # `wait` given here would append its own sentence
        locked.wait = seconds  # type: ignore[attr-defined]  # DRF's handler turns it into Retry-After
        return locked


class LockoutTokenScheme(TokenScheme):
    """Describes the token authentication above in the OpenAPI schema as DRF's own."""

    target_class = "labeling.lockout.LockoutTokenAuthentication"
