"""Autosave under load: 16 labelers autosaving 20-turn conversations on PostgreSQL.

Starts a real gunicorn server on a PostgreSQL database of its own, has 16 concurrent
clients alternate an autosave (PUT /api/conversations/<id>/ with the version edited)
and a trivial authenticated request (GET /api/me/), and prints the p50/p95 latency of
each and their ratio; then the SQL query count of one save with 2 and with 20 turns.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sft_editor_bench .venv/bin/python bench/autosave.py

Options (environment): BENCH_CLIENTS (16), BENCH_TURNS (20), BENCH_ROUNDS (40 per client),
BENCH_WORKERS (gunicorn workers, 4).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import create_database, percentile, start_gunicorn  # noqa: E402

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sft_editor_bench")
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
TURNS = int(os.environ.get("BENCH_TURNS", "20"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "40"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
PORT = int(os.environ.get("BENCH_PORT", "8765"))


def conversation_messages(prompt_text: str, turns: int, edit: str = "") -> list[dict]:
    messages = [{"role": "user", "content": prompt_text}]
    for turn in range(turns):
        if turn:
            messages.append({"role": "user", "content": f"Follow-up question {turn}: and then?"})
        messages.append(
            {"role": "assistant", "content": f"Answer {turn}. " + "A careful sentence. " * 40}
        )
    messages[-1]["content"] += edit
    return messages


def setup_data():
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from conversations.services import conversation_save, conversation_start
    from labeling.models import Assignment, Project, ProjectStatus, Prompt
    from labeling.services import member_save, member_token

    call_command("migrate", verbosity=0)
    run = str(int(time.time()))
    project = Project.objects.create(
        name=f"Bench {run}",
        slug=f"bench-{run}",
        status=ProjectStatus.ACTIVE,
        max_turns=TURNS + 5,
        max_tokens=100_000,
    )
    clients = []
    for index in range(CLIENTS + 2):
        user, _ = member_save(username=f"bench-{run}-{index}", roles=["labeler"])
        prompt = Prompt.objects.create(
            project=project, text=f"Bench prompt {run}-{index}", text_key=f"{run}-{index}"
        )
        assignment = Assignment.objects.create(
            prompt=prompt,
            project=project,
            labeler=user,
            lease_expires_at=timezone.now() + project.lease_length,
        )
        conversation = conversation_start(assignment=assignment)
        turns = TURNS if index < CLIENTS else (2 if index == CLIENTS else TURNS)
        saved = conversation_save(
            conversation_id=conversation.pk,
            user=user,
            expected_version=1,
            messages=conversation_messages(prompt.text, turns),
        )
        clients.append(
            {
                "token": member_token(user=user),
                "user": user,
                "conversation": conversation.pk,
                "version": saved.version,
                "prompt": prompt.text,
                "turns": turns,
            }
        )
    return clients[:CLIENTS], clients[CLIENTS:]


def queries_per_save(probes) -> dict[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.services import conversation_save

    counts = {}
    for probe in probes:
        messages = conversation_messages(probe["prompt"], probe["turns"], edit=" One more word.")
        with CaptureQueriesContext(connection) as captured:
            saved = conversation_save(
                conversation_id=probe["conversation"],
                user=probe["user"],
                expected_version=probe["version"],
                messages=messages,
            )
        probe["version"] = saved.version
        counts[probe["turns"]] = len(captured)
    return counts


def client_loop(client: dict, saves: list[float], mes: list[float], errors: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    headers = {"Authorization": f"Token {client['token']}", "Content-Type": "application/json"}
    for round_number in range(ROUNDS):
        body = json.dumps(
            {
                "version": client["version"],
                "messages": conversation_messages(
                    client["prompt"], client["turns"], f" typed {round_number}"
                ),
            }
        )
        started = time.perf_counter()
        connection.request("PUT", f"/api/conversations/{client['conversation']}/", body, headers)
        response = connection.getresponse()
        payload = response.read()
        saves.append(time.perf_counter() - started)
        if response.status != 200:
            errors.append(f"save {response.status}: {payload[:200]!r}")
            return
        client["version"] = json.loads(payload)["version"]

        started = time.perf_counter()
        connection.request("GET", "/api/me/", headers=headers)
        response = connection.getresponse()
        response.read()
        mes.append(time.perf_counter() - started)
        if response.status != 200:
            errors.append(f"me {response.status}")
            return


def main() -> None:
    create_database(os.environ["DATABASE_URL"])
    clients, probes = setup_data()
    counts = queries_per_save(probes)
    server = start_gunicorn(
        {**os.environ, "DATABASE_CONN_MAX_AGE": "60", "ALLOWED_HOSTS": "127.0.0.1"},
        PORT,
        workers=WORKERS,
    )
    saves: list[float] = []
    mes: list[float] = []
    errors: list[str] = []
    try:
        threads = [
            threading.Thread(target=client_loop, args=(client, saves, mes, errors))
            for client in clients
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=20)
    if errors:
        sys.exit(f"{len(errors)} requests failed, first: {errors[0]}")
    save_p50, save_p95 = percentile(saves, 0.5) * 1000, percentile(saves, 0.95) * 1000
    me_p50, me_p95 = percentile(mes, 0.5) * 1000, percentile(mes, 0.95) * 1000
    print(
        f"autosave bench: {CLIENTS} clients × {ROUNDS} rounds, {TURNS}-turn conversations "
        f"({2 * TURNS + 1} messages), gunicorn ×{WORKERS}, PostgreSQL; {elapsed:.1f}s"
    )
    print(
        f"  PUT /api/conversations/<id>/  n={len(saves)}  p50 {save_p50:.1f} ms  p95 {save_p95:.1f} ms"
    )
    print(f"  GET /api/me/                  n={len(mes)}  p50 {me_p50:.1f} ms  p95 {me_p95:.1f} ms")
    print(f"  p95 ratio save / me: {save_p95 / me_p95:.2f}")
    print(
        "  SQL queries per save (one edited message): "
        + ", ".join(f"{turns} turns: {count}" for turns, count in sorted(counts.items()))
    )


if __name__ == "__main__":
    main()
