"""Integration fixtures. Importing tests.chat_server at collection starts the loopback
chat-completions server and sets AI_DRAFT_* in the environment before any worker starts."""

import pytest

from tests.chat_server import point_settings_at_server


@pytest.fixture
def chat_server(settings):
    """The loopback chat-completions server, with this process's settings pointing at it."""
    return point_settings_at_server(settings)
