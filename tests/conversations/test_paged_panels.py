"""The lists of the project dashboard (imports, active leases, skips) and of the labeler's
home (drafts, returned, skipped drafts, submissions) page by keyset, each by its own cursor:
following a list's Next links reaches its last row and shows no row twice, paging one list
keeps the others on the page they showed, a cursor a list did not give answers 400 with
the reason in that list, and a page makes the same SQL queries with a few rows as with
many, on its first page as on a next one."""

import html
import itertools
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation, ConversationState
from conversations.services import next_task, review_submit, task_skip
from labeling.models import Assignment, ImportBatch, Project, User
from tests.conversations.factories import reviewer_factory, submit, write_answer
from tests.factories import ImportBatchFactory, ProjectFactory, UserFactory, prompts_imported

pytestmark = pytest.mark.django_db

A_CURSOR_NO_LIST_GAVE = "bm90LWEtY3Vyc29y"
_question_numbers = itertools.count()


def _task(labeler: User, project: Project, *, answer: str = "") -> Conversation:
    """A new task of `labeler` in `project`, through Next task (on a freshly imported
    prompt), with `answer` written."""
    prompts_imported(project, [f"Question {next(_question_numbers)}?"])
    task = next_task(labeler, project)
    assert task.found and not task.resumed
    conversation = Conversation.objects.get(pk=task.conversation_id)
    if answer:
        write_answer(conversation, answer)
    return conversation


def _skip(labeler: User, project: Project, *, reason: str) -> None:
    """A task given back holding writing: kept as an abandoned draft."""
    draft = _task(labeler, project, answer="Half an answer")
    task_skip(user=labeler, assignment_id=draft.assignment_id, reason=reason)


class Dashboard:
    """An admin on a project's page."""

    # How a row of each list shows on the page.
    rows = {
        "imports": r'/imports/(\d+)/"',
        "leases": r"<tr><td>([\w.@+-]+)</td>",
        "skips": r"<td>(Needs a chemist #\d+)</td>",
    }
    # More rows than a page holds (20 imports, 50 leases, 50 skips).
    many = {"imports": 23, "leases": 52, "skips": 52}

    def __init__(self, client: Client, admin: User) -> None:
        self.project = ProjectFactory(domains=["python"])
        self.skipper = UserFactory(labeler_domains=["python"])
        self.client = client
        client.force_login(admin)
        self.url = reverse("conversations:project-detail", args=[self.project.slug])

    def add(self, *, imports: int, leases: int, skips: int) -> None:
        for _ in range(imports):
            ImportBatchFactory(project=self.project)
        for _ in range(leases):
            _task(UserFactory(labeler_domains=["python"]), self.project)
        for _ in range(skips):
            number = Assignment.objects.filter(status=Assignment.Status.SKIPPED).count()
            _skip(self.skipper, self.project, reason=f"Needs a chemist #{number}")

    def tie(self) -> None:
        """Every row of a list at the same time: only the id orders them."""
        moment = timezone.now()
        ImportBatch.objects.update(created_at=moment)
        Assignment.objects.filter(status=Assignment.Status.LEASED).update(
            lease_expires_at=moment + timedelta(hours=1)
        )
        Assignment.objects.filter(status=Assignment.Status.SKIPPED).update(completed_at=moment)

    def expected(self) -> dict[str, set[str]]:
        leased = Assignment.objects.filter(
            project=self.project,
            status=Assignment.Status.LEASED,
            lease_expires_at__gt=timezone.now(),
        )
        skipped = Assignment.objects.filter(project=self.project, status=Assignment.Status.SKIPPED)
        return {
            "imports": {str(pk) for pk in self.project.import_batches.values_list("pk", flat=True)},
            "leases": set(leased.values_list("labeler__username", flat=True)),
            "skips": set(skipped.values_list("skip_reason", flat=True)),
        }


class Home:
    """A labeler on their home page."""

    rows = dict.fromkeys(
        ("drafts", "returned", "abandoned", "recent"), r'href="/conversations/(\d+)/"'
    )
    # More rows than a page holds (20 drafts, returned, skipped drafts; 10 submissions).
    many = {"drafts": 22, "returned": 22, "abandoned": 22, "recent": 12}

    def __init__(self, client: Client, admin: User) -> None:
        self.project = ProjectFactory(domains=["python"])
        self.labeler = UserFactory(labeler_domains=["python"])
        self.reviewer = reviewer_factory()
        self.client = client
        client.force_login(self.labeler)
        self.url = reverse("conversations:labeler-home")

    def add(self, *, drafts: int, returned: int, abandoned: int, recent: int) -> None:
        for _ in range(drafts):
            # A draft whose lease ran out: listed under Drafts, no longer an active task.
            # Each in a project of its own, as Next task would give an expired draft back.
            draft = _task(self.labeler, ProjectFactory(domains=["python"]), answer="A start")
            Assignment.objects.filter(pk=draft.assignment_id).update(
                lease_expires_at=timezone.now() - timedelta(minutes=1)
            )
        for _ in range(returned):
            review_submit(
                conversation_id=submit(_task(self.labeler, self.project, answer="Yes.")).pk,
                reviewer=self.reviewer,
                decision="request_changes",
                comment="Say why.",
            )
        for _ in range(abandoned):
            _skip(self.labeler, self.project, reason="Not mine")
        for _ in range(recent):
            submit(_task(self.labeler, self.project, answer="Use sorted()."))

    def tie(self) -> None:
        moment = timezone.now()
        Conversation.objects.update(updated_at=moment)
        Conversation.objects.filter(submitted_at__isnull=False).update(submitted_at=moment)

    def expected(self) -> dict[str, set[str]]:
        def ids(*states: str) -> set[str]:
            rows = Conversation.objects.filter(labeler=self.labeler, state__in=states)
            return {str(pk) for pk in rows.values_list("pk", flat=True)}

        return {
            "drafts": ids(ConversationState.DRAFT),
            "returned": ids(ConversationState.CHANGES_REQUESTED),
            "abandoned": ids(ConversationState.ABANDONED),
            "recent": ids(
                ConversationState.SUBMITTED, ConversationState.APPROVED, ConversationState.REJECTED
            ),
        }


@pytest.fixture(params=[Dashboard, Home], ids=["dashboard", "labeler-home"])
def paged(request, client, admin_user) -> Dashboard | Home:
    return request.param(client, admin_user)


def _section(body: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', body, re.S)
    assert match, f"no list {name} on the page"
    return match.group(1)


def _link(section: str, rel: str) -> str:
    """The URL of the list's `rel` link ("next", "first"), or "" when it has none."""
    match = re.search(rf'href="([^"]*)" rel="{rel}"', section)
    return html.unescape(match.group(1)) if match else ""


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_each_list_reaches_its_last_row_through_its_next_links(paged):
    paged.add(**paged.many)
    paged.tie()
    for name, row in paged.rows.items():
        seen: list[str] = []
        url, pages = paged.url, 0
        while url:
            response = paged.client.get(url)
            assert response.status_code == 200
            section = _section(response.content.decode(), name)
            assert "{#" not in section, "a template comment shown as text"
            seen += re.findall(row, section)
            url = _link(section, "next")
            pages += 1
            assert url.startswith(paged.url + "?") or not url, "links lead back to this page"
        assert len(seen) == len(set(seen)), f"{name}: a row shown twice"
        assert set(seen) == paged.expected()[name], f"{name}: a row never shown"
        assert pages > 1, f"{name}: a page holds fewer rows than were made"


def test_paging_one_list_keeps_the_others_on_their_page(paged):
    paged.add(**paged.many)
    first, *others = list(paged.rows)
    start = paged.client.get(paged.url).content.decode()
    url = _link(_section(start, first), "next")
    page = paged.client.get(url).content.decode()
    rows_of_first = re.findall(paged.rows[first], _section(page, first))
    assert rows_of_first and not set(rows_of_first) & set(
        re.findall(paged.rows[first], _section(start, first))
    ), f"{first}: its second page"
    kept = _query(url)
    for name in others:
        # Paging on in this list keeps the first list's page, and then this list's page too.
        url = _link(_section(page, name), "next")
        assert _query(url) == {**kept, f"{name}_cursor": _query(url)[f"{name}_cursor"]}
        page = paged.client.get(url).content.decode()
        assert re.findall(paged.rows[first], _section(page, first)) == rows_of_first
        kept = _query(url)
        # Its First link goes back to its own first page only.
        back = _query(_link(_section(page, name), "first"))
        assert back == {key: value for key, value in kept.items() if key != f"{name}_cursor"}


def test_a_cursor_the_list_did_not_give_answers_400_in_that_list(paged):
    paged.add(**paged.many)
    first, *others = list(paged.rows)
    start = paged.client.get(paged.url).content.decode()
    second_page = _query(_link(_section(start, first), "next"))
    broken = others[-1]
    response = paged.client.get(
        paged.url, {**second_page, f"{broken}_cursor": A_CURSOR_NO_LIST_GAVE}
    )
    assert response.status_code == 400
    body = response.content.decode()
    section = _section(body, broken)
    assert 'role="alert"' in section and "not a page of this list" in section
    assert not re.findall(paged.rows[broken], section)
    assert _query(_link(section, "first")) == second_page, "back to its start, the rest kept"
    # The other lists still show their pages.
    assert re.findall(paged.rows[first], _section(body, first))
    assert re.findall(paged.rows[others[0]], _section(body, others[0]))


def test_a_page_makes_the_same_queries_with_few_and_many_rows_on_every_page(paged):
    paged.add(**{name: 1 for name in paged.rows})
    few = _queries(paged.client, paged.url)
    paged.add(**{name: count - 1 for name, count in paged.many.items()})
    assert _queries(paged.client, paged.url) == few
    start = paged.client.get(paged.url).content.decode()
    for name in paged.rows:
        second_page = _link(_section(start, name), "next")
        assert second_page, f"{name}: more rows than a page"
        assert _queries(paged.client, second_page) == few, f"{name}: its second page"
