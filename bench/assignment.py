"""Benchmark: next-task latency on PostgreSQL with 100,000 prompts and 16 concurrent clients.

Creates its own database content, runs a real gunicorn server on 127.0.0.1 and real HTTP
clients (threads with keep-alive connections). Every client, in a loop, times
`GET /api/me/` (the baseline: a trivial authenticated endpoint) and
`POST /api/tasks/next/`, then skips the task it got (not timed) so that the next call
selects and leases a fresh prompt instead of resuming. Before that, one lease in-process
counts its SQL statements. Prints the statements per lease, p50 and p95 of both calls and
their ratios last; the targets are at most 8 statements for the lease (besides the
authentication every API call makes, and BEGIN/COMMIT) and a p95 ratio of at most 1.5.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sft_bench_assignment \\
        .venv/bin/python bench/assignment.py [--prompts 100000] [--clients 16] [--seconds 30]
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
from itertools import cycle
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    create_database,
    percentile,
    production_environment,
    start_gunicorn,
)

DATA = ROOT.parent / "shared" / "data" / "oasst_prompts_en_250.jsonl"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/sft_bench_assignment"
DOMAINS = ["python", "biology", "law", "math"]


def _texts():
    if DATA.exists():
        with DATA.open(encoding="utf-8") as handle:
            texts = [json.loads(line) for line in handle if line.strip()]
        return [t if isinstance(t, str) else t.get("prompt", "") for t in texts]
    return [f"Generated question about topic {n}: how does it work and why?" for n in range(250)]


def _setup(prompt_count: int, client_count: int) -> list[str]:
    """Fresh bench data: one active project with domains, prompts, labelers. Returns tokens."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from labeling.models import Domain, Project, ProjectStatus, Prompt, User
    from labeling.services import domain_get_or_create, member_save, member_token, text_key

    Project.objects.filter(slug__startswith="bench-").delete()
    User.objects.filter(username__startswith="bench-").delete()
    domains = [domain_get_or_create(name=name) for name in DOMAINS]
    project = Project.objects.create(
        name="Bench", slug="bench-assignment", status=ProjectStatus.ACTIVE, replications=2
    )
    project.domains.set(domains)
    texts = cycle(_texts())
    batch = []
    for number in range(prompt_count):
        text = f"{next(texts)} (#{number})"
        domain = domains[number % len(domains)] if number % 5 else None
        batch.append(Prompt(project=project, text=text, text_key=text_key(text), domain=domain))
        if len(batch) == 5000:
            Prompt.objects.bulk_create(batch)
            batch = []
    Prompt.objects.bulk_create(batch)
    tokens = []
    for index in range(client_count):
        slugs = [DOMAINS[index % 4], DOMAINS[(index + 1) % 4]][: 1 + index % 2]
        user, _ = member_save(username=f"bench-{index}", roles=["labeler"], labeler_domains=slugs)
        tokens.append(member_token(user=user))
    assert Domain.objects.count() >= 4
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return tokens


def _statements_per_lease(token: str) -> tuple[int, int]:
    """(statements the lease makes, all the request makes but BEGIN/COMMIT), measured
    in-process on one real `POST /api/tasks/next/`; the task is then skipped."""
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
    # A request's start empties the query log: start from an empty one, and read what was
    # captured before the next request.
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/tasks/next/", b"{}", content_type="application/json")
    statements = [
        q["sql"] for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")
    ]
    if response.status_code != 200 or response.json()["resumed"]:
        raise SystemExit(f"the measured call did not lease: {response.status_code}")
    client.post(
        f"/api/tasks/{response.json()['id']}/skip/",
        json.dumps({"reason": "bench"}),
        content_type="application/json",
    )
    authentication = [
        sql for sql in statements if "axes_accessattempt" in sql or "authtoken_token" in sql
    ]
    return len(statements) - len(authentication), len(statements)


def _client(port, token, stop_at, warmup_until, me_times, next_times, errors):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def call(method, path, body=None):
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        return time.perf_counter() - started, response.status, payload

    while time.monotonic() < stop_at:
        try:
            me_seconds, me_status, _ = call("GET", "/api/me/")
            next_seconds, next_status, payload = call("POST", "/api/tasks/next/", b"{}")
            if me_status != 200 or next_status not in (200, 204):
                errors.append((me_status, next_status, payload[:200]))
                continue
            if time.monotonic() > warmup_until:
                me_times.append(me_seconds)
                next_times.append(next_seconds)
            if next_status == 200:
                task = json.loads(payload)
                body = json.dumps({"reason": "bench"}).encode()
                call("POST", f"/api/tasks/{task['id']}/skip/", body)
        except (OSError, http.client.HTTPException) as error:
            errors.append(repr(error))
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", DEFAULT_DB)
    if not database_url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database: the benchmark is for it.")
    env = production_environment(database_url)
    os.environ.update(env)
    create_database(database_url)
    started = time.monotonic()
    tokens = _setup(args.prompts, args.clients)
    print(
        f"setup: {args.prompts:,} prompts, {args.clients} labelers in {time.monotonic() - started:.1f}s"
    )
    lease_statements, request_statements = _statements_per_lease(tokens[0])

    server = start_gunicorn(env, args.port, workers=4, threads=4, probe="/api/me/")
    try:
        me_times: list[float] = []
        next_times: list[float] = []
        errors: list = []
        now = time.monotonic()
        warmup_until, stop_at = now + 3, now + 3 + args.seconds
        threads = [
            threading.Thread(
                target=_client,
                args=(args.port, token, stop_at, warmup_until, me_times, next_times, errors),
            )
            for token in tokens
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=20)

    if errors:
        print(f"errors: {len(errors)} (first: {errors[0]})")
    if not next_times:
        raise SystemExit("no measurements")
    me_p50, me_p95 = statistics.median(me_times) * 1000, percentile(me_times, 0.95) * 1000
    next_p50, next_p95 = statistics.median(next_times) * 1000, percentile(next_times, 0.95) * 1000
    print(f"clients: {args.clients}, measured for {args.seconds:.0f}s after a 3s warm-up")
    print(
        f"GET  /api/me/          n={len(me_times):6d}  p50 {me_p50:7.2f} ms  p95 {me_p95:7.2f} ms"
    )
    print(
        f"POST /api/tasks/next/  n={len(next_times):6d}  p50 {next_p50:7.2f} ms  p95 {next_p95:7.2f} ms"
    )
    print(
        f"next-task statements per lease: {lease_statements} "
        f"({request_statements} with the authentication; target <= 8)"
    )
    print(f"ratio next/me p50: {next_p50 / me_p50:.2f}")
    print(f"ratio next/me p95: {next_p95 / me_p95:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
