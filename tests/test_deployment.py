"""The full stack's files: docker compose cannot run here, so its file is checked as data,
and the production settings are checked by Django's own deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


# boto3 reads these itself (exports/storage.py); config/settings.py never does.
BOTO3_VARIABLES = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
BOTO3_VARIABLES |= {"AWS_DEFAULT_REGION"}
APP_SERVICES = ("web", "worker", "beat")


def test_compose_has_every_service_with_command_and_healthcheck():
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "minio", "bucket", "web", "worker", "beat"}
    for name, service in services.items():
        if name != "bucket":  # a one-shot job: it exits once the bucket exists
            assert "healthcheck" in service, f"{name} has no healthcheck"
    assert "gunicorn config.wsgi:application" in services["web"]["command"]
    assert "migrate" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]


def test_compose_runs_several_workers_and_exactly_one_beat():
    services = _compose()["services"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert "--beat" not in services["worker"]["command"], "every replica would run beat"
    assert "deploy" not in services["beat"], "beat must not be replicated"
    beats = [
        name
        for name, service in services.items()
        if "beat" in (service.get("command") or []) or "--beat" in (service.get("command") or [])
    ]
    assert beats == ["beat"]


def test_compose_sends_exports_to_the_bucket_it_creates():
    compose = _compose()
    services = compose["services"]
    minio = services["minio"]
    assert minio["command"][:2] == ["server", "/data"]
    assert minio["environment"]["MINIO_ROOT_USER"].startswith("${AWS_ACCESS_KEY_ID")
    assert minio["environment"]["MINIO_ROOT_PASSWORD"].startswith("${AWS_SECRET_ACCESS_KEY")
    assert "minio-data" in compose["volumes"]
    assert services["bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    bucket_command = " ".join(services["bucket"]["command"])
    assert "http://minio:9000" in bucket_command
    for name in APP_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["EXPORT_STORAGE_URL"].startswith("s3://sft-exports/")
        assert f"mb --ignore-existing store/{env['EXPORT_STORAGE_URL'][5:].split('/')[0]}" in (
            bucket_command
        )
        assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
        assert service["depends_on"]["bucket"]["condition"] == "service_completed_successfully"
    # The keys come from .env, where the minio service reads them too.
    example = (ROOT / ".env.example").read_text()
    assert "AWS_ACCESS_KEY_ID=" in example and "AWS_SECRET_ACCESS_KEY=" in example


def test_compose_points_the_app_at_postgres_and_redis():
    compose = _compose()
    for name in APP_SERVICES:
        service = compose["services"][name]
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["build"] == "."
    assert set(compose["volumes"]) >= {"postgres-data", "redis-data", "app-data"}
    assert (ROOT / "Dockerfile").exists()


def test_compose_variables_are_settings_the_app_reads():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    compose = _compose()
    for name in APP_SERVICES:
        for variable in set(compose["services"][name]["environment"]) - BOTO3_VARIABLES:
            assert f'"{variable}"' in settings_source, (
                f"{variable} is not read by config/settings.py"
            )
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            variable = line.split("=", 1)[0]
            if variable in BOTO3_VARIABLES:
                continue
            assert f'"{variable}"' in settings_source, (
                f"{variable} is not read by config/settings.py"
            )


def test_production_settings_pass_the_deployment_checks(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_DEBUG", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="x7$Kp2-vQ9!mZr4#Lw8@Nd6^Ty3&Hb5*Jc1(Gf0)Se-Ua_Oi+Pl=Ek",
        ALLOWED_HOSTS="sft.example.com",
        SFT_VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_DEBUG", "SECRET_KEY"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", SFT_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr
