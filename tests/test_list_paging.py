"""Every list page and API list pages by keyset: the 60th of 60 items is reached by
following the pages' next links (HTML) and the `next` cursor (API), and a page makes the
same number of SQL queries with a few items as with many."""

import re
from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from exports.models import ExportJob
from labeling.models import Domain, Project, User
from labeling.services import domain_get_or_create
from tests.labeling.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

ITEMS = 60


def _projects(count: int, admin: User) -> list[str]:
    # One priority for all: only the name and the id order them, ties must not be lost.
    for _ in range(count - Project.objects.count()):
        ProjectFactory(priority=3, domains=["python"])
    return list(Project.objects.values_list("slug", flat=True))


def _people(count: int, admin: User) -> list[str]:
    for _ in range(count - User.objects.count()):
        UserFactory(labeler_domains=["python"])
    return [str(pk) for pk in User.objects.values_list("pk", flat=True)]


def _exports(count: int, admin: User) -> list[str]:
    project = Project.objects.first() or ProjectFactory()
    for _ in range(count - ExportJob.objects.count()):
        job = ExportJob.objects.create(config={"projects": [project.slug]}, created_by=admin)
        job.projects.set([project])
    return [str(pk) for pk in ExportJob.objects.values_list("pk", flat=True)]


def _domains(count: int, admin: User) -> list[str]:
    for number in range(Domain.objects.count(), count):
        domain_get_or_create(name=f"domain-{number:03}")
    return list(Domain.objects.values_list("slug", flat=True))


# (page, items made, the item a row links to)
HTML_LISTS = [
    ("conversations:project-list", _projects, r'href="/projects/([\w-]+)/"><strong>'),
    ("labeling:people", _people, r'href="/people/(\d+)/"'),
    ("exports:export-list", _exports, r'href="/exports/(\d+)/"'),
]
# (endpoint, items made, the item's key in the API's output)
API_LISTS = [
    ("/api/projects/", _projects, "slug"),
    ("/api/members/", _people, "id"),
    ("/api/exports/", _exports, "id"),
    ("/api/domains/", _domains, "slug"),
]


def _queries(request: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        request()
    return len(captured)


@pytest.mark.parametrize(("name", "make", "row"), HTML_LISTS)
def test_a_list_page_reaches_its_last_item_through_next_links(client, admin_user, name, make, row):
    expected = make(ITEMS, admin_user)
    client.force_login(admin_user)
    seen: list[str] = []
    url = reverse(name)
    pages = 0
    while url:
        pages += 1
        response = client.get(url)
        assert response.status_code == 200
        body = response.content.decode()
        assert "{#" not in body, "a template comment shown as text"
        seen += re.findall(row, body)
        following = re.search(r'href="([^"]*cursor=[^"]+)" rel="next"', body)
        url = following.group(1).replace("&amp;", "&") if following else ""
        if url.startswith("?"):
            url = reverse(name) + url
    assert len(seen) == len(set(seen)) == ITEMS  # each once: the 60th of 60 too
    assert set(seen) == set(expected)
    assert pages > 1  # a page holds fewer than 60


@pytest.mark.parametrize(("name", "make", "row"), HTML_LISTS)
def test_a_list_page_makes_the_same_queries_with_few_and_many_items(
    client, admin_user, name, make, row
):
    client.force_login(admin_user)
    make(5, admin_user)
    few = _queries(lambda: client.get(reverse(name)))
    make(ITEMS, admin_user)
    assert _queries(lambda: client.get(reverse(name))) == few


@pytest.mark.parametrize(("endpoint", "make", "key"), API_LISTS)
def test_an_api_list_reaches_its_last_item_through_the_cursor(admin_user, endpoint, make, key):
    expected = make(ITEMS, admin_user)
    api = APIClient()
    api.force_authenticate(admin_user)
    seen: list[str] = []
    page = api.get(endpoint).json()
    pages = 1
    while True:
        seen += [str(item[key]) for item in page["results"]]
        if page["next"] is None:
            break
        page = api.get(page["next"]).json()
        pages += 1
    assert len(seen) == len(set(seen)) == ITEMS
    assert set(seen) == set(expected)
    assert pages > 1


@pytest.mark.parametrize(("endpoint", "make", "key"), API_LISTS)
def test_an_api_list_makes_the_same_queries_with_few_and_many_items(
    admin_user, endpoint, make, key
):
    api = APIClient()
    api.force_authenticate(admin_user)
    make(5, admin_user)
    few = _queries(lambda: api.get(endpoint))
    make(ITEMS, admin_user)
    assert _queries(lambda: api.get(endpoint)) == few


def test_an_edited_page_link_shows_the_first_page(client, admin_user):
    _people(ITEMS, admin_user)
    client.force_login(admin_user)
    response = client.get(reverse("labeling:people"), {"cursor": "bm90LWEtY3Vyc29y"})
    assert response.status_code == 200
    assert 'rel="next"' in response.content.decode()
    assert 'rel="first"' not in response.content.decode()
