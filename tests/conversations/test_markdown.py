"""Labeler markdown never makes a reader's browser call another server."""

import re

import pytest
from django.urls import reverse

from core.markdown import render_markdown
from tests.conversations.factories import reviewer_factory, submitted_conversation

FOREIGN_IMAGES = [
    "![tracker](https://tracker.example/pixel.png)",
    "![tracker](http://tracker.example/pixel.png)",
    "![tracker](//tracker.example/pixel.png)",
    '![tracker](HTTPS://tracker.example/pixel.png "title")',
]


@pytest.mark.parametrize("source", FOREIGN_IMAGES)
def test_images_from_other_origins_become_links(source):
    html = str(render_markdown(source))
    assert "<img" not in html
    link = re.search(r'<a href="([^"]+)"[^>]*>Image: tracker</a>', html)
    assert link, html
    assert "tracker.example/pixel.png" in link.group(1)


def test_same_origin_images_still_show():
    html = str(render_markdown("![chart](/static/chart.png)"))
    assert '<img src="/static/chart.png" alt="chart">' in html


@pytest.mark.django_db
def test_opening_a_review_loads_no_foreign_image(client):
    conversation = submitted_conversation(
        answer="See ![diagram](https://tracker.example/who-looked.png) for the idea."
    )
    client.force_login(reviewer_factory())
    html = client.get(reverse("conversations:review", args=[conversation.pk])).content.decode()
    assert "tracker.example" in html  # the reviewer can still see where it points
    assert not re.search(r"<img[^>]+tracker\.example", html)
