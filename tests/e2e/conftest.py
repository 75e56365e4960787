"""Browser fixtures shared by the end-to-end tests."""

import pytest
from django.conf import settings
from django.test import Client


@pytest.fixture
def open_as(browser, live_server):
    """A fresh browser context (its own cookies) signed in as `user`."""
    contexts = []

    def open_page(user):
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context = browser.new_context()
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
        )
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
