"""Fixtures shared by the whole suite: people, a real Celery worker, a real Chromium."""

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.factories import UserFactory

# Playwright's sync API runs an event loop in this thread; the ORM calls tests make
# around it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    """Outside CI, without Chromium, leave out only the browser tests and say how to get them."""
    if IN_CI or Path(CHROMIUM).exists():
        return
    browser_tests = [item for item in items if item.get_closest_marker("e2e")]
    if browser_tests:
        items[:] = [item for item in items if not item.get_closest_marker("e2e")]
        config.hook.pytest_deselected(items=browser_tests)
        config._chromium_missing = len(browser_tests)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    missing = getattr(config, "_chromium_missing", 0)
    if missing:
        terminalreporter.write_line(
            f"Left out {missing} browser tests: Chromium is missing. "
            "Install it with: sudo apt-get install -y chromium",
            yellow=True,
        )


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure: nothing may be left unexercised."""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        print(f"\nCI: {skipped} tests were skipped; in CI that fails the run.", file=sys.stderr)
        session.exitstatus = 1


# People -----------------------------------------------------------------------------


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin-ada", roles=["admin"])


@pytest.fixture
def labeler(db):
    return UserFactory(username="lab-lea", roles=["labeler"], labeler_domains=["python"])


@pytest.fixture
def reviewer(db):
    return UserFactory(username="rev-rex", roles=["reviewer"], reviewer_domains=["python"])


# Celery ----------------------------------------------------------------------------


def _worker_database_url() -> str:
    from django.db import connection

    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def start_celery_worker(
    queue: str,
    log_path: Path,
    extra_env: dict | None = None,
    include: str | None = None,
    *,
    pool: str = "solo",
):
    """Start a real `celery worker` process reading `queue` and the test database; return it
    once it is ready. Its output is appended to `log_path`; `process.log_start` is where
    this worker's part of that log begins. Caller may use the database (the URL is read).
    `include` names a module the worker imports as it starts (tests' fault hooks);
    `pool="prefork"` runs tasks in one child process, so the worker's main process answers
    remote control (inspect) while a task runs."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": _worker_database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        *("-m", "celery", "-A", "config", "worker", f"--pool={pool}", "--loglevel=INFO"),
        *(("--concurrency=1",) if pool == "prefork" else ()),
        *("-Q", queue, "-n", f"{queue}-{uuid.uuid4().hex[:6]}@%h"),
        *("--without-heartbeat", "--without-mingle", "--without-gossip"),
        *(("--include", include) if include else ()),
    ]
    with open(log_path, "a") as log:
        log.write(f"\n--- starting worker on {queue}\n")
        log_start = log.tell()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log_path, process.log_start = log_path, log_start
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text()[log_start:]:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"Celery worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)
    return process


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real `celery worker` process on the configured broker, reading the test database.

    Tests that use it need `transactional_db` so that the worker sees their committed rows.
    """
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    with django_db_blocker.unblock():
        process = start_celery_worker(os.environ["CELERY_TASK_DEFAULT_QUEUE"], log_path)
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def broker_down():
    """This process's Celery app pointed at a Redis port nothing listens on, as when the
    broker is down; call the fixture's value to bring the real broker back (it is also
    brought back at the end). Workers keep the real broker."""
    from config.celery import app

    real = app.conf.broker_write_url

    def use(url: str) -> None:
        # What the app sends through (workers read with the real broker).
        app.conf.broker_write_url = url
        # Connections and producers are pooled per URL; the next send opens a new one.
        app._pool = None
        app.amqp._producer_pool = None

    use(f"redis://127.0.0.1:{free_port()}/0")
    yield lambda: use(real)
    use(real)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    """Poll until `predicate()` is truthy; the integration tests' way to wait for the worker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {message}")


# Browser ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium; Playwright's own browser download does not work here."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def login(live_server, context):
    """Log a person into the browser context through Django's session, like the login form would."""
    from django.conf import settings
    from django.test import Client

    def do_login(user):
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
        )
        return user

    return do_login
