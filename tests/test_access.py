"""Every URL of the app refuses anonymous people: a redirect to login, or 401/403 for the API."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

PUBLIC = {
    "login",
    "logout",
    # Someone who forgot their password is not signed in.
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
}


def _all_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _all_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _concrete(route: str) -> str:
    """Fill converters with plausible values: access is checked before the object is looked up."""
    import re

    route = re.sub(r"<int:\w+>", "1", route)
    route = re.sub(r"<(?:slug|str|uuid|path):?\w*>", "x", route)
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")
    return "/" + route


def _app_routes():
    for route, pattern in _all_patterns():
        if route.startswith("admin/") or (pattern.name in PUBLIC):
            continue
        if "(?P" in route or "static" in route:
            continue
        yield _concrete(route)


@pytest.mark.parametrize("path", sorted(set(_app_routes())))
def test_anonymous_people_are_refused(client, path):
    for method in (client.get, client.post):
        response = method(path)
        if path.startswith("/api/"):
            assert response.status_code in (401, 403), f"{method.__name__.upper()} {path}"
        else:
            assert response.status_code == 302, f"{method.__name__.upper()} {path}"
            assert response["Location"].startswith("/accounts/login/"), path
