"""Benchmark: the project dashboard and the project list at 1,000 and 1,000,000 conversations.

On an emptied PostgreSQL database of its own, builds a project of each size in turn, with
that many prompts, assignments and conversations (unique texts, inserted by `INSERT …
SELECT … FROM generate_series`, not one by one), fills the maintained counts the way the
data migration does (conversations/migrations/0009_project_counts_fill.py) and checks
they equal the rows. In-process, with Django's test client signed in as an admin, it
counts the SQL queries of one request to a page and times `--requests` more after
`--warmups`: the project list after each project is added (it lists them all), then the
dashboards of all the projects, in turn in every round. Prints median and p95 per page and
size, then the time ratios of the largest size to the smallest (target: the dashboard
within 2×) and whether each page made the same number of queries at every size.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sft_bench_dashboard \\
        .venv/bin/python bench/dashboard.py [--sizes 1000,1000000] [--requests 30]

The projects are deleted at the end.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import create_database, percentile, production_environment  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/sft_bench_dashboard"
DOMAINS = ["python", "biology", "law", "math"]
LABELERS = 20
LEASED = 20  # leases held at once: the dashboard counts these live
# Conversation states of the written tasks, in turn (the leased ones are drafts).
WRITTEN_STATES = ["submitted", "approved", "approved", "rejected", "changes_requested"]


@dataclass
class Measured:
    page: str
    size: int
    queries: int
    median_ms: float
    p95_ms: float


def _copy_rows(model: Any, template_pk: int, source: str, overrides: dict[str, str]) -> int:
    """Insert a row per row of `source` (SQL, aliased `s`) into `model`'s table: a copy of
    the template row with the columns in `overrides` set from SQL expressions. Copying a
    template fills every other NOT NULL column the way the ORM would."""
    from django.db import connection

    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [field.column for field in model._meta.concrete_fields if not field.primary_key]
    unknown = set(overrides) - set(columns)
    assert not unknown, f"not columns of {table}: {unknown}"
    values = [overrides.get(column, f"t.{quote(column)}") for column in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
            f"SELECT {', '.join(values)} FROM {table} t CROSS JOIN {source} WHERE t.id = %s",
            [template_pk],
        )
        return cursor.rowcount


def _reset() -> None:
    """An empty bench: no projects (and nothing that hangs off them)."""
    from django.db import connection

    from labeling.models import Project

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {connection.ops.quote_name(Project._meta.db_table)} CASCADE")


def _build(size: int, admin: Any, labelers: list[Any]) -> Any:
    """One project with `size` prompts, assignments and conversations; returns it."""
    from django.db import connection, transaction
    from django.utils import timezone

    from conversations.models import Conversation
    from labeling.models import Assignment, Domain, Project, ProjectStatus, Prompt

    domains = list(Domain.objects.filter(slug__in=DOMAINS).order_by("pk"))
    project = Project.objects.create(
        name=f"Bench {size:,}",
        slug=f"bench-{size}",
        status=ProjectStatus.ACTIVE,
        created_by=admin,
    )
    project.domains.set(domains)
    domain_array = f"(ARRAY[NULL, {', '.join(str(d.pk) for d in domains)}]::bigint[])"
    labeler_array = f"(ARRAY[{', '.join(str(u.pk) for u in labelers)}]::bigint[])"
    text = (
        f"'Bench question ' || s.n || ' of the {size}-conversation project: how does it work, "
        "and why does it matter?'"
    )
    with transaction.atomic():
        prompt = Prompt.objects.create(project=project, text="template", text_key="template")
        _copy_rows(
            Prompt,
            prompt.pk,
            f"generate_series(1, {size}) AS s(n)",
            {
                "text": text,
                "text_key": f"encode(sha256(convert_to({text}, 'UTF8')), 'hex')",
                "domain_id": f"{domain_array}[1 + mod(s.n, 5)]",
                "slots_taken": "1",
            },
        )
        assignment = Assignment.objects.create(
            prompt=prompt,
            project=project,
            labeler=labelers[0],
            lease_expires_at=timezone.now(),
        )
        prompts = (
            f"(SELECT id, row_number() OVER (ORDER BY id) AS n FROM "
            f"{connection.ops.quote_name(Prompt._meta.db_table)} "
            f"WHERE project_id = {project.pk} AND id <> {prompt.pk}) AS s"
        )
        leased = f"s.n > {size - LEASED}"
        _copy_rows(
            Assignment,
            assignment.pk,
            prompts,
            {
                "prompt_id": "s.id",
                "labeler_id": f"{labeler_array}[1 + mod(s.n, {len(labelers)})]",
                "status": f"CASE WHEN {leased} THEN 'leased' ELSE 'submitted' END",
                "lease_expires_at": "now() + interval '1 hour'",
                "completed_at": f"CASE WHEN {leased} THEN NULL ELSE now() END",
            },
        )
        conversation = Conversation.objects.create(
            project=project, prompt=prompt, assignment=assignment, labeler=labelers[0]
        )
        assignments = (
            f"(SELECT id, prompt_id, labeler_id, status, row_number() OVER (ORDER BY id) AS n "
            f"FROM {connection.ops.quote_name(Assignment._meta.db_table)} "
            f"WHERE project_id = {project.pk} AND id <> {assignment.pk}) AS s"
        )
        states = f"(ARRAY[{', '.join(repr(state) for state in WRITTEN_STATES)}])"
        written = "s.status = 'submitted'"
        _copy_rows(
            Conversation,
            conversation.pk,
            assignments,
            {
                "prompt_id": "s.prompt_id",
                "assignment_id": "s.id",
                "labeler_id": "s.labeler_id",
                "state": f"CASE WHEN {written} THEN {states}[1 + mod(s.n, {len(WRITTEN_STATES)})] "
                "ELSE 'draft' END",
                "created_at": "now() - s.n * interval '1 second'",
                "updated_at": "now() - s.n * interval '1 second'",
                "submitted_at": f"CASE WHEN {written} THEN now() END",
            },
        )
        conversation.delete()
        assignment.delete()
        prompt.delete()
    return project


def _fill_counts(project: Any, size: int) -> None:
    """The maintained counts from the rows, as the data migration fills them; checked."""
    from django.apps import apps
    from django.db.models import Sum

    from labeling.models import ProjectCount

    migration = importlib.import_module("conversations.migrations.0009_project_counts_fill")
    migration.fill(apps, None)
    counted = ProjectCount.objects.filter(project=project)
    conversations = counted.exclude(name__in=["prompts", "retired", "written"])
    assert conversations.aggregate(n=Sum("value"))["n"] == size, "counts differ from the rows"
    assert counted.filter(name="prompts").aggregate(n=Sum("value"))["n"] == size


def _measure(
    client: Any, targets: list[tuple[str, int, str]], requests: int, warmups: int
) -> list[Measured]:
    """Each (page, size, url) of `targets`: the SQL queries of one request, then
    `requests` timed ones after `warmups`, the targets in turn in every round (so that a
    busy moment of the machine falls on all of them alike)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries = []
    for _page, _size, url in targets:
        for _ in range(warmups):
            assert client.get(url).status_code == 200, url
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200, url
        # Read now: the next request empties the query log the count is read from.
        queries.append(len(captured.captured_queries))
    times: list[list[float]] = [[] for _ in targets]
    for _ in range(requests):
        for index, (_page, _size, url) in enumerate(targets):
            started = time.perf_counter()
            response = client.get(url)
            times[index].append(time.perf_counter() - started)
            assert response.status_code == 200, url
    measured = []
    for (page, size, _url), count, seconds in zip(targets, queries, times, strict=True):
        result = Measured(
            page,
            size,
            count,
            statistics.median(seconds) * 1000,
            percentile(seconds, 0.95) * 1000,
        )
        print(
            f"{page:12} {size:>10,} conversations: median {result.median_ms:7.2f} ms  "
            f"p95 {result.p95_ms:7.2f} ms  queries {result.queries}",
            flush=True,
        )
        measured.append(result)
    return measured


def _settle() -> None:
    """Statistics up to date and the writes flushed, so that no background work of the
    build falls into the measurement."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("CHECKPOINT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000", help="conversations per project")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--warmups", type=int, default=3)
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))

    database_url = os.environ.get("DATABASE_URL", DEFAULT_DB)
    if not database_url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database: the benchmark is for it.")
    # DEBUG is off, as in production: the pages need collected static files.
    static_root = tempfile.mkdtemp(prefix="bench-static-")
    os.environ.update({**production_environment(database_url), "STATIC_ROOT": static_root})
    create_database(database_url)
    try:
        _run(sizes, args.requests, args.warmups)
    finally:
        shutil.rmtree(static_root, ignore_errors=True)


def _run(sizes: list[int], requests: int, warmups: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from labeling.services import domain_get_or_create, member_save

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    for name in DOMAINS:
        domain_get_or_create(name=name)
    admin, _ = member_save(username="bench-admin", roles=["admin"])
    labelers = [
        member_save(username=f"bench-labeler-{n}", roles=["labeler"], labeler_domains=DOMAINS)[0]
        for n in range(LABELERS)
    ]
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)
    rounds = (requests, warmups)

    # The project list is measured after each project is added (it lists them all); the
    # dashboards once every project exists, in turn.
    results: list[Measured] = []
    _reset()
    _settle()
    try:
        dashboards = []
        for size in sizes:
            started = time.monotonic()
            project = _build(size, admin, labelers)
            _fill_counts(project, size)
            _settle()
            print(f"setup: {size:,} conversations in {time.monotonic() - started:.1f}s", flush=True)
            results += _measure(
                client, [("project list", size, reverse("conversations:project-list"))], *rounds
            )
            url = reverse("conversations:project-detail", args=[project.slug])
            dashboards.append(("dashboard", size, url))
        results += _measure(client, dashboards, *rounds)
    finally:
        # Emptied now rather than at the next start: freeing a million rows' pages keeps
        # the machine busy for a while, which would slow the next run's small size.
        _reset()

    def ratio(page: str) -> float:
        by_size = {measured.size: measured for measured in results if measured.page == page}
        return by_size[sizes[-1]].median_ms / by_size[sizes[0]].median_ms

    same = all(
        len({measured.queries for measured in results if measured.page == page}) == 1
        for page in ("dashboard", "project list")
    )
    print(f"requests: {requests} per page and size after {warmups} warm-ups (median)")
    print(
        f"dashboard time ratio ({sizes[-1]:,} / {sizes[0]:,}): {ratio('dashboard'):.2f} "
        "(target <= 2.0)"
    )
    print(
        f"project list time ratio (with the {sizes[-1]:,} project / without): "
        f"{ratio('project list'):.2f}"
    )
    print(f"queries equal: {'yes' if same else 'no'}")


if __name__ == "__main__":
    main()
