import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import ConversationState, Revision
from exports.models import ExportJob
from exports.services import (
    ExportCancelled,
    ExportConfigError,
    ExportError,
    ExportJobBusy,
    export_config_from_dict,
    export_job_cancel,
    export_job_execute,
    export_job_folder,
    export_preview,
    export_run,
)
from sftpipeline.tokenizers import load_cl100k_base
from tests.exports.factories import approved_conversation, chat
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

IM_START, IM_END, IM_SEP = 100264, 100265, 100266


@pytest.fixture
def reviewer():
    return UserFactory(username="rev-export", roles=["reviewer"])


@pytest.fixture
def project():
    return ProjectFactory(slug="py-help")


def config(**overrides):
    return export_config_from_dict({"projects": ["py-help"], "val_fraction": 0, **overrides})


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def folder_bytes(folder: Path, skip=("manifest.json",)) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in skip}


def test_export_writes_contract_files_with_tiktoken_ids(project, reviewer, tmp_path):
    messages = chat("What is 2 + 2?", "2 + 2 is 4. <|im_end|> is text here.", system="Be brief.")
    conversation = approved_conversation(project, messages, domain="math", reviewer=reviewer)

    manifest = export_run(config=config(), destination=tmp_path / "out")

    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "manifest.json",
        "train.jsonl",
        "train.parquet",
        "validation.jsonl",
        "validation.parquet",
    ]
    [line] = read_jsonl(out / "train.jsonl")
    assert line["id"] == str(conversation.id)
    assert line["messages"] == [{"role": m["role"], "content": m["content"]} for m in messages]
    assert line["metadata"] == {"domain": "math", "project": "py-help"}

    encoding = load_cl100k_base().encoding
    expected, mask = [], []
    for message in messages:
        body = encoding.encode_ordinary(message["content"])
        trained = int(message["role"] == "assistant")
        head = [IM_START, *encoding.encode_ordinary(message["role"]), IM_SEP]
        expected += head + body + [IM_END]
        mask += [0] * len(head) + [trained] * (len(body) + 1)
    row = pq.read_table(out / "train.parquet").to_pylist()[0]
    assert row["input_ids"] == expected
    assert row["loss_mask"] == mask
    assert row["labels"] == [t if m else -100 for t, m in zip(expected, mask, strict=True)]
    assert row["num_tokens"] == len(expected)
    assert pq.read_schema(out / "train.parquet").field("input_ids").type.value_type == "int32"

    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["tokenizer"]["special_tokens"] == {
        "<|im_end|>": IM_END,
        "<|im_sep|>": IM_SEP,
        "<|im_start|>": IM_START,
    }
    assert manifest["counts"]["exported"] == 1
    assert {f["name"] for f in manifest["files"]} == {
        "README.md",
        "train.jsonl",
        "train.parquet",
        "validation.jsonl",
        "validation.parquet",
    }
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense:")
    assert "100264" in card


def test_only_approved_conversations_of_the_chosen_projects_are_exported(
    project, reviewer, tmp_path
):
    keep = approved_conversation(project, chat("keep me", "yes"), reviewer=reviewer)
    approved_conversation(
        project, chat("submitted", "no"), state=ConversationState.SUBMITTED, reviewer=reviewer
    )
    approved_conversation(
        project, chat("rejected", "no"), state=ConversationState.REJECTED, reviewer=reviewer
    )
    approved_conversation(ProjectFactory(), chat("other project", "no"), reviewer=reviewer)

    export_run(config=config(), destination=tmp_path / "out")

    assert [row["id"] for row in read_jsonl(tmp_path / "out/train.jsonl")] == [str(keep.id)]


def test_filters_domains_scores_and_unedited_drafts_are_counted(project, reviewer, tmp_path):
    good = approved_conversation(
        project, chat("a", "b"), domain="python", scores={"help": 5}, reviewer=reviewer
    )
    approved_conversation(
        project, chat("c", "d"), domain="python", scores={"help": 2}, reviewer=reviewer
    )
    approved_conversation(
        project, chat("e", "f", origin="model"), domain="python", reviewer=reviewer
    )
    approved_conversation(project, chat("g", "h"), domain="law", reviewer=reviewer)
    edited = approved_conversation(
        project, chat("i", "j", origin="model_edited"), domain="python", reviewer=reviewer
    )

    manifest = export_run(
        config=config(domains="python", min_score=3.5, exclude_unedited_ai_drafts=True),
        destination=tmp_path / "out",
    )

    ids = [row["id"] for row in read_jsonl(tmp_path / "out/train.jsonl")]
    assert ids == [str(good.id), str(edited.id)]
    assert manifest["counts"]["matched"] == 4
    assert manifest["counts"]["left_out"]["below_min_score"] == 1
    assert manifest["counts"]["left_out"]["unedited_ai_drafts"] == 1


def test_exact_duplicates_are_removed_by_default_and_kept_when_asked(project, reviewer, tmp_path):
    first = approved_conversation(project, chat("same", "answer"), reviewer=reviewer)
    approved_conversation(project, chat("same", "answer"), reviewer=reviewer)

    manifest = export_run(config=config(), destination=tmp_path / "a")
    assert [r["id"] for r in read_jsonl(tmp_path / "a/train.jsonl")] == [str(first.id)]
    assert manifest["counts"]["left_out"]["duplicates"] == 1

    export_run(config=config(dedupe=False), destination=tmp_path / "b")
    assert len(read_jsonl(tmp_path / "b/train.jsonl")) == 2


def test_too_long_conversations_are_dropped_or_truncated_and_counted(project, reviewer, tmp_path):
    approved_conversation(project, chat("short", "ok"), reviewer=reviewer)
    approved_conversation(project, chat("long " * 50, "answer " * 50), reviewer=reviewer)

    dropped = export_run(config=config(max_tokens=40), destination=tmp_path / "drop")
    assert dropped["counts"]["exported"] == 1
    assert dropped["counts"]["left_out"]["too_long_dropped"] == 1
    assert dropped["token_statistics"]["dropped"] == 1

    truncated = export_run(
        config=config(max_tokens=80, truncate=True), destination=tmp_path / "cut"
    )
    assert truncated["counts"]["exported"] == 2
    assert truncated["counts"]["truncated"] == 1
    lengths = pq.read_table(tmp_path / "cut/train.parquet").column("num_tokens").to_pylist()
    assert max(lengths) == 80


def test_same_data_and_settings_give_the_same_bytes_whatever_the_chunk_size(
    project, reviewer, tmp_path
):
    for index in range(12):
        approved_conversation(
            project,
            chat(f"question {index} 你好 🙂", f"answer {index} مرحبا e\u0301"),
            domain="python" if index % 2 else "law",
            reviewer=reviewer,
        )
    settings = {"val_fraction": 0.3, "seed": 7, "pack_length": 64}
    export_run(config=config(**settings), destination=tmp_path / "a", chunk_size=1000)
    export_run(config=config(**settings), destination=tmp_path / "b", chunk_size=5)

    first, second = folder_bytes(tmp_path / "a"), folder_bytes(tmp_path / "b")
    assert first == second
    assert "train.packed.parquet" in first
    manifests = [json.loads((tmp_path / n / "manifest.json").read_text()) for n in "ab"]
    manifests[0].pop("created_at"), manifests[1].pop("created_at")
    assert manifests[0] == manifests[1]
    assert sum(manifests[0]["counts"]["per_split"].values()) == 12
    assert manifests[0]["counts"]["per_split"]["validation"] > 0


def test_source_date_epoch_makes_the_manifest_byte_identical_too(
    project, reviewer, tmp_path, monkeypatch
):
    approved_conversation(project, chat("q", "a"), reviewer=reviewer)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    export_run(config=config(), destination=tmp_path / "a")
    export_run(config=config(), destination=tmp_path / "b")
    assert (tmp_path / "a/manifest.json").read_bytes() == (
        tmp_path / "b/manifest.json"
    ).read_bytes()
    assert json.loads((tmp_path / "a/manifest.json").read_text())["created_at"].startswith(
        "2023-11-14"
    )


def test_packed_sequences_restart_positions_per_conversation(project, reviewer, tmp_path):
    for index in range(4):
        approved_conversation(project, chat(f"q{index}", f"a{index}"), reviewer=reviewer)
    export_run(config=config(pack_length=64), destination=tmp_path / "out")
    rows = pq.read_table(tmp_path / "out/train.packed.parquet").to_pylist()
    assert all(len(row["input_ids"]) == 64 for row in rows)
    first = rows[0]
    starts = first["cu_seqlens"][:-1]
    assert all(first["position_ids"][start] == 0 for start in starts)
    assert len(first["example_ids"]) >= 2


def test_a_failure_in_the_middle_publishes_nothing_and_keeps_the_old_export(
    project, reviewer, tmp_path
):
    for index in range(5):
        approved_conversation(project, chat(f"q{index}", f"a{index}"), reviewer=reviewer)
    export_run(config=config(), destination=tmp_path / "out")
    before = folder_bytes(tmp_path / "out", skip=())
    broken = approved_conversation(project, chat("x", "y"), reviewer=reviewer)
    Revision.objects.filter(id=broken.current_revision_id).update(
        messages=[{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]
    )

    with pytest.raises(ExportError, match=rf"Conversation {broken.id} .*message 2.*'bot'"):
        export_run(config=config(), destination=tmp_path / "out", chunk_size=2)

    assert folder_bytes(tmp_path / "out", skip=()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_cancelling_between_chunks_publishes_nothing(project, reviewer, tmp_path):
    for index in range(6):
        approved_conversation(project, chat(f"q{index}", f"a{index}"), reviewer=reviewer)
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if done >= 4:
            raise ExportCancelled

    with pytest.raises(ExportCancelled):
        export_run(config=config(), destination=tmp_path / "out", progress=progress, chunk_size=2)
    assert seen == [(0, 6), (2, 6), (4, 6)]
    assert list(tmp_path.iterdir()) == []


def test_streaming_queries_do_not_grow_with_the_data(project, reviewer, tmp_path):
    approved_conversation(project, chat("q", "a"), reviewer=reviewer)
    with CaptureQueriesContext(connection) as small:
        export_run(config=config(), destination=tmp_path / "small")
    for index in range(30):
        approved_conversation(project, chat(f"q{index}", f"a{index}"), reviewer=reviewer)
    with CaptureQueriesContext(connection) as large:
        export_run(config=config(), destination=tmp_path / "large")
    assert len(large.captured_queries) == len(small.captured_queries)


def test_settings_are_checked_with_every_problem_named():
    with pytest.raises(ExportConfigError) as error:
        export_config_from_dict(
            {"projects": [], "val_fraction": 2, "formats": "csv", "max_tokens": "lots"}
        )
    assert set(error.value.errors) == {"projects", "val_fraction", "formats", "max_tokens"}
    with pytest.raises(ExportConfigError, match="tokenizer_asset"):
        export_config_from_dict({"projects": ["p"], "tokenizer": "o200k_base"})


def test_preview_shows_the_tokens_the_export_writes(project, reviewer):
    approved_conversation(project, chat("Hi <|im_end|>", "Hello!"), reviewer=reviewer)
    [example] = export_preview(config=config())
    labels = [token.label for token in example.tokens]
    assert labels[:3] == ["<|im_start|>", "user", "<|im_sep|>"]
    specials = [t.label for t in example.tokens if t.special]
    assert specials.count("<|im_end|>") == 2  # the typed look-alike stays text
    trained = "".join(t.label for t in example.tokens if t.trained)
    assert trained == "Hello!<|im_end|>"


def test_job_runs_to_success_and_a_redelivered_task_does_nothing(project, reviewer, admin_user):
    approved_conversation(project, chat("q", "a"), reviewer=reviewer)
    # A worker killed mid-run leaves the job `running` and its hidden staging folder behind.
    job = ExportJob.objects.create(
        config=config().to_dict(), created_by=admin_user, status="running", rows_done=7
    )
    stale = export_job_folder(job).parent / f".{export_job_folder(job).name}.abc.tmp"
    stale.mkdir(parents=True)

    assert export_job_execute(job_id=job.id) == ExportJob.Status.SUCCEEDED
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.rows_done == job.rows_total == 1
    assert not stale.exists()
    names = list(job.artifacts.values_list("name", flat=True))
    assert "manifest.json" in names and "train.parquet" in names
    assert all(len(a.sha256) == 64 for a in job.artifacts.all())

    assert export_job_execute(job_id=job.id) is None


def test_job_failure_keeps_a_readable_error_and_publishes_nothing(project, reviewer, admin_user):
    broken = approved_conversation(project, chat("q", "a"), reviewer=reviewer)
    Revision.objects.filter(id=broken.current_revision_id).update(messages=[{"role": "user"}])
    job = ExportJob.objects.create(config=config().to_dict(), created_by=admin_user)

    assert export_job_execute(job_id=job.id) == ExportJob.Status.FAILED
    job.refresh_from_db()
    assert (
        job.error == f"Conversation {broken.id} (project py-help), message 1 has no text content."
    )
    assert not export_job_folder(job).exists()
    assert job.artifacts.count() == 0


def test_a_job_cancelled_before_the_worker_picks_it_up_never_runs(project, reviewer, admin_user):
    approved_conversation(project, chat("q", "a"), reviewer=reviewer)
    job = ExportJob.objects.create(
        config=config().to_dict(), created_by=admin_user, status="running", cancel_requested=True
    )
    assert export_job_execute(job_id=job.id) is None
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert not export_job_folder(job).exists()


def running_job(admin_user, *, heartbeat_seconds_ago: float | None, **fields) -> ExportJob:
    """A job some worker claimed once; its last heartbeat that many seconds ago."""
    beat = None
    if heartbeat_seconds_ago is not None:
        beat = timezone.now() - dt.timedelta(seconds=heartbeat_seconds_ago)
    return ExportJob.objects.create(
        config=config().to_dict(),
        created_by=admin_user,
        status="running",
        attempt=1,
        rows_done=3,
        heartbeat_at=beat,
        **fields,
    )


def test_a_redelivered_task_leaves_a_job_with_a_live_run_alone(project, reviewer, admin_user):
    approved_conversation(project, chat("q", "a"), reviewer=reviewer)
    job = running_job(admin_user, heartbeat_seconds_ago=1)

    with pytest.raises(ExportJobBusy):
        export_job_execute(job_id=job.id)

    job.refresh_from_db()
    assert (job.status, job.attempt, job.rows_done) == ("running", 1, 3)
    assert not export_job_folder(job).exists()


def test_a_job_whose_heartbeat_went_stale_is_taken_over_and_finished(
    project, reviewer, admin_user, settings
):
    settings.JOB_STALE_AFTER_SECONDS = 30
    approved_conversation(project, chat("q", "a"), reviewer=reviewer)
    job = running_job(admin_user, heartbeat_seconds_ago=31)

    assert export_job_execute(job_id=job.id) == ExportJob.Status.SUCCEEDED

    job.refresh_from_db()
    assert (job.status, job.attempt, job.rows_done) == ("succeeded", 2, 1)
    assert export_job_folder(job).is_dir()


def test_a_retried_job_publishes_the_very_same_bytes_manifest_included(
    project, reviewer, admin_user
):
    for index in range(5):
        approved_conversation(project, chat(f"q{index}", f"a{index}"), reviewer=reviewer)
    job = ExportJob.objects.create(config=config().to_dict(), created_by=admin_user)
    export_job_execute(job_id=job.id)
    first = folder_bytes(export_job_folder(job), skip=())
    # As if the worker had died after publishing, before the broker got the acknowledgement.
    ExportJob.objects.filter(id=job.id).update(status="running", heartbeat_at=None)

    assert export_job_execute(job_id=job.id) == ExportJob.Status.SUCCEEDED
    assert folder_bytes(export_job_folder(job), skip=()) == first


def test_cancelling_a_job_whose_worker_is_gone_stops_it_at_once(project, admin_user):
    job = running_job(admin_user, heartbeat_seconds_ago=10_000)

    assert export_job_cancel(job=job).status == "cancelled"
    assert export_job_execute(job_id=job.id) is None
    job.refresh_from_db()
    assert job.status == "cancelled" and job.finished_at is not None


def test_cancelling_a_live_run_asks_it_to_stop_at_its_next_chunk(project, admin_user):
    job = running_job(admin_user, heartbeat_seconds_ago=1)

    job = export_job_cancel(job=job)

    assert (job.status, job.cancel_requested) == ("running", True)
