"""Benchmark: the project dashboard and the project list at 1,000 and 1,000,000 conversations.

For each size, on an emptied PostgreSQL database of its own, builds one project with that
many prompts, assignments and conversations (unique texts, inserted by `INSERT … SELECT …
FROM generate_series`, not one by one), fills the maintained counts the way the data
migration does (conversations/migrations/0009_project_counts_fill.py) and checks they
equal the rows; then, in-process with Django's test client signed in as an admin, counts
the SQL queries of one request to each page and times `--requests` more after
`--warmups`. Prints median and p95 per page and size, then the time ratios of the largest
size to the smallest (target: the dashboard within 2×) and whether each page made the
same number of queries at every size.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sft_bench_dashboard \\
        .venv/bin/python bench/dashboard.py [--sizes 1000,1000000] [--requests 30]

The last size's data stays in the database; the next run empties it first.
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


def _measure(client: Any, page: str, url: str, size: int, requests: int, warmups: int) -> Measured:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmups):
        assert client.get(url).status_code == 200, url
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200, url
    # Read now: the next request empties the query log the count is read from.
    queries = len(captured.captured_queries)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, url
    return Measured(
        page,
        size,
        queries,
        statistics.median(times) * 1000,
        percentile(times, 0.95) * 1000,
    )


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
    from django.db import connection
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

    results: list[Measured] = []
    for size in sizes:
        started = time.monotonic()
        _reset()
        project = _build(size, admin, labelers)
        _fill_counts(project, size)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"setup: {size:,} conversations in {time.monotonic() - started:.1f}s", flush=True)
        pages = {
            "dashboard": reverse("conversations:project-detail", args=[project.slug]),
            "project list": reverse("conversations:project-list"),
        }
        for page, url in pages.items():
            measured = _measure(client, page, url, size, requests, warmups)
            results.append(measured)
            print(
                f"{page:12} {size:>10,} conversations: median {measured.median_ms:7.2f} ms  "
                f"p95 {measured.p95_ms:7.2f} ms  queries {measured.queries}",
                flush=True,
            )

    def ratio(page: str) -> float:
        by_size = {m.size: m for m in results if m.page == page}
        return by_size[sizes[-1]].median_ms / by_size[sizes[0]].median_ms

    same = all(
        len({m.queries for m in results if m.page == page}) == 1
        for page in ("dashboard", "project list")
    )
    print(f"requests: {requests} per page and size after {warmups} warm-ups (median)")
    print(
        f"dashboard time ratio ({sizes[-1]:,} / {sizes[0]:,}): {ratio('dashboard'):.2f} "
        "(target <= 2.0)"
    )
    print(f"project list time ratio: {ratio('project list'):.2f}")
    print(f"queries equal: {'yes' if same else 'no'}")


if __name__ == "__main__":
    main()
