"""What the benchmark scripts share: a database of their own, a real server, percentiles."""

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def create_database(database_url: str) -> None:
    """Create the PostgreSQL database named in `database_url` unless it exists."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(database_url)
    if "postgresql" not in config["ENGINE"]:
        sys.exit("The benchmarks measure PostgreSQL: set DATABASE_URL=postgres://…")
    with psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{config["NAME"]}"')


def production_environment(database_url: str) -> dict:
    """The environment of a production-like process (DEBUG off, plain HTTP on loopback)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }


def start_gunicorn(
    env: dict, port: int, *, workers: int = 4, threads: int = 1, probe: str = "/accounts/login/"
) -> subprocess.Popen:
    """A real gunicorn serving the app on 127.0.0.1:`port`, returned once it answers."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    if threads > 1:
        command += ["--threads", str(threads), "--worker-class", "gthread"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", probe)
            connection.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("gunicorn did not start")


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: `fraction` 0.95 gives p95."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]
