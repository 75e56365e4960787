from pathlib import Path

import pytest

from conversations.models import Revision
from exports.models import ExportJob
from exports.services import export_config_from_dict, export_job_create, export_run
from tests.conftest import wait_for
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def finished(job: ExportJob) -> ExportJob | None:
    job.refresh_from_db()
    return job if not job.is_active else None


def test_the_worker_runs_an_export_that_matches_the_cli_byte_for_byte(
    celery_worker_process, tmp_path
):
    admin = UserFactory(roles=["admin"])
    reviewer = UserFactory(roles=["reviewer"])
    project = ProjectFactory(slug="worker-export")
    for index in range(25):
        approved_conversation(
            project,
            chat(f"Question {index}: 2+{index}?", f"It is {2 + index}. 🙂"),
            domain="math",
            reviewer=reviewer,
        )
    config = export_config_from_dict(
        {"projects": ["worker-export"], "val_fraction": 0.2, "seed": 1, "pack_length": 128}
    )

    job = export_job_create(config=config, created_by=admin)
    job = wait_for(lambda: finished(job), timeout=60, message="the export job to finish")

    assert job.status == "succeeded", job.error
    assert job.rows_done == job.rows_total == 25
    published = Path(job.output_dir)
    local = tmp_path / "cli"
    export_run(config=config, destination=local)
    for artifact in job.artifacts.exclude(name="manifest.json"):
        assert (published / artifact.name).read_bytes() == (local / artifact.name).read_bytes()
    assert {a.name for a in job.artifacts.all()} >= {"train.parquet", "validation.jsonl"}


def test_a_failing_export_in_the_worker_publishes_nothing_and_says_why(celery_worker_process):
    admin = UserFactory(roles=["admin"])
    reviewer = UserFactory(roles=["reviewer"])
    project = ProjectFactory(slug="worker-broken")
    approved_conversation(project, chat("fine", "fine"), reviewer=reviewer)
    broken = approved_conversation(project, chat("bad", "bad"), reviewer=reviewer)
    Revision.objects.filter(id=broken.current_revision_id).update(
        messages=[{"role": "user", "content": "bad"}, {"role": "assistant", "content": None}]
    )

    job = export_job_create(
        config=export_config_from_dict({"projects": ["worker-broken"]}), created_by=admin
    )
    job = wait_for(lambda: finished(job), timeout=60, message="the export job to fail")

    assert job.status == "failed"
    assert f"Conversation {broken.id}" in job.error and "message 2 has no text content" in job.error
    assert job.output_dir == "" and job.artifacts.count() == 0
