"""Sharded exports in one process: names, order independence, duplicates across shards."""

import gc
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from exports.models import ExportJob, ExportShard
from exports.services import export_config_from_dict, export_run
from exports.services.running import (
    SHARD_GC_YOUNG_THRESHOLD,
    export_shard_plan,
    export_shard_run,
)
from exports.services.sharding import export_job_continue, export_job_plan, export_shard_execute
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversations():
    reviewer = UserFactory(roles=["reviewer"])
    project = ProjectFactory(slug="shards")
    made = [
        approved_conversation(project, chat(f"Q{i}: 7×{i}?", f"{7 * i} ✅"), reviewer=reviewer)
        for i in range(7)
    ]
    # The same words as the first conversation, in the last shard: a duplicate.
    made.append(approved_conversation(project, chat("Q0: 7×0?", "0 ✅"), reviewer=reviewer))
    return made


def config():
    return export_config_from_dict(
        {"projects": ["shards"], "val_fraction": 0.3, "seed": 5, "pack_length": 64}
    )


def files(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.name != "manifest.json"
    }


def run_job(admin, order) -> ExportJob:
    """The job's shard tasks in `order`, then the chord's final step, all in this process."""
    job = ExportJob.objects.create(
        config=config().to_dict(), created_by=admin, status="running", attempt=1
    )
    shards = export_job_plan(job=job)
    for index in order(range(len(shards))):
        assert export_shard_execute(job_id=job.id, index=index) == "done"
    assert export_job_continue(job_id=job.id, attempt=1) == "succeeded"
    job.refresh_from_db()
    return job


def test_shards_get_hugging_face_names_and_the_card_lists_them(conversations, tmp_path):
    manifest = export_run(config=config(), destination=tmp_path / "out", shard_size=2)

    names = {entry["name"] for entry in manifest["files"]}
    assert {f"train-{i:05d}-of-00004.jsonl" for i in range(4)} <= names
    assert {f"validation-{i:05d}-of-00004.packed.parquet" for i in range(4)} <= names
    assert "train.jsonl" not in names
    assert manifest["counts"]["shards"] == 4
    assert manifest["counts"]["matched"] == 8
    assert manifest["counts"]["exported"] == 7
    assert manifest["counts"]["left_out"]["duplicates"] == 1
    card = (tmp_path / "out" / "README.md").read_text()
    assert '    - "train-00003-of-00004.parquet"' in card
    assert "packing happens within each shard" in card
    ids = [
        json.loads(line)["id"]
        for i in range(4)
        for split in ("train", "validation")
        for line in (tmp_path / "out" / f"{split}-{i:05d}-of-00004.jsonl").read_text().splitlines()
    ]
    assert sorted(ids, key=int) == sorted(str(c.id) for c in conversations[:7])
    for entry in manifest["files"]:
        data = (tmp_path / "out" / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    packed = pq.read_table(tmp_path / "out" / "train-00000-of-00004.packed.parquet").to_pylist()
    assert all(
        set(row["example_ids"]) <= {str(conversations[0].id), str(conversations[1].id)}
        for row in packed
    )


def test_the_job_writes_the_same_bytes_whatever_order_its_shards_finish_in(
    conversations, tmp_path, settings
):
    settings.EXPORT_SHARD_SIZE = 2
    admin = UserFactory(roles=["admin"])

    forward = run_job(admin, lambda r: list(r))
    backward = run_job(admin, lambda r: list(reversed(r)))
    export_run(config=config(), destination=tmp_path / "cli", shard_size=2)

    assert files(Path(forward.output_dir)) == files(Path(backward.output_dir))
    assert files(Path(forward.output_dir)) == files(tmp_path / "cli")
    assert forward.rows_done == forward.rows_total == 8
    assert list(backward.shards.values_list("status", flat=True)) == ["done"] * 4
    artifacts = dict(backward.artifacts.values_list("name", "sha256"))
    assert set(artifacts) == set(files(Path(backward.output_dir))) | {"manifest.json"}


def test_a_done_shard_is_not_run_again_and_one_shard_keeps_the_plain_names(conversations, settings):
    settings.EXPORT_SHARD_SIZE = 100
    admin = UserFactory(roles=["admin"])
    job = ExportJob.objects.create(
        config=config().to_dict(), created_by=admin, status="running", attempt=1
    )

    assert export_job_continue(job_id=job.id, attempt=1) == "succeeded"
    job.refresh_from_db()
    [shard] = job.shards.all()
    assert (shard.status, shard.attempt, shard.conversations) == ("done", 1, 8)
    assert export_shard_execute(job_id=job.id, index=0) is None  # the job is finished
    assert ExportShard.objects.get(id=shard.id).attempt == 1
    assert {"train.jsonl", "train.parquet"} <= set(job.artifacts.values_list("name", flat=True))


def test_a_failing_shard_fails_the_job_and_the_other_shards_stop(conversations, settings):
    from conversations.models import Revision

    settings.EXPORT_SHARD_SIZE = 2
    admin = UserFactory(roles=["admin"])
    broken = conversations[5]
    Revision.objects.filter(id=broken.current_revision_id).update(messages=[{"role": "user"}])
    job = ExportJob.objects.create(
        config=config().to_dict(), created_by=admin, status="running", attempt=1
    )
    export_job_plan(job=job)

    assert export_shard_execute(job_id=job.id, index=2) == "failed"
    assert export_shard_execute(job_id=job.id, index=0) is None
    assert export_job_continue(job_id=job.id, attempt=1) is None
    job.refresh_from_db()
    assert job.status == "failed" and f"Conversation {broken.id}" in job.error
    assert job.artifacts.count() == 0 and job.output_dir == ""


def test_a_shard_gives_the_worker_its_garbage_collector_back_as_it_found_it(
    conversations, tmp_path
):
    """A shard collects less often while it runs (see `_fewer_collections`); the worker's
    next task must find Python's own settings, after a shard that stops half-way too."""
    before = (gc.get_threshold(), gc.get_freeze_count(), gc.isenabled())
    export_run(config=config(), destination=tmp_path / "out", shard_size=3)
    assert (gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()) == before

    def stop(read: int) -> None:
        assert gc.get_threshold()[0] == SHARD_GC_YOUNG_THRESHOLD
        raise RuntimeError("cancelled")

    (shard, *_) = export_shard_plan(config(), shard_size=3)
    with pytest.raises(RuntimeError, match="cancelled"):
        export_shard_run(config=config(), shard=shard, folder=tmp_path, progress=stop)
    assert (gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()) == before
