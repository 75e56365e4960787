"""Export files: byte-identical reruns, readable Parquet, the card, atomic publication."""

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sftpipeline.card import CardConfig, render_dataset_card, size_category
from sftpipeline.packing import pack_examples
from sftpipeline.publish import atomic_directory, write_manifest
from sftpipeline.render import tokenize_conversations
from sftpipeline.split import assign_split
from sftpipeline.stats import Stats
from sftpipeline.tokenizers import CL100K_CHAT_SPECIALS, load_cl100k_base
from sftpipeline.writers import (
    JsonlWriter,
    PackedParquetWriter,
    ParquetWriter,
    sha256_file,
    split_filename,
)

CONVERSATIONS = [
    (
        f"conv-{i}",
        [
            {"role": "user", "content": f"Question {i}: שלום 你好 👋🏽", "origin": "human"},
            {
                "role": "assistant",
                "content": f"Answer {i} — é\u0301 مرحبا",
                "origin": "model_edited",
            },
        ],
        {"domain": ["python", "biology"][i % 2], "reviews": i % 3},
    )
    for i in range(25)
]


def export_folder(folder, *, created_at=None):
    """The whole pipeline as the export job runs it, into ``folder``."""
    cl100k = load_cl100k_base()
    examples = tokenize_conversations([m for _, m, _ in CONVERSATIONS], "chatml-sep", cl100k)
    stats = Stats()
    writers = {
        split: (
            JsonlWriter(folder / split_filename(split, "jsonl")),
            ParquetWriter(folder / split_filename(split, "parquet"), row_group_size=4),
        )
        for split in ("train", "validation")
    }
    for (conversation_id, messages, metadata), example in zip(CONVERSATIONS, examples, strict=True):
        split = assign_split(conversation_id, seed=1, val_fraction=0.2)
        jsonl, parquet = writers[split]
        jsonl.write(conversation_id, messages, metadata)
        parquet.write(conversation_id, example)
        stats.add(messages, example, split=split, domain=metadata["domain"])
    for jsonl, parquet in writers.values():
        jsonl.close()
        parquet.close()
    with PackedParquetWriter(folder / split_filename("train", "packed"), row_group_size=2) as w:
        for sequence in pack_examples(
            [(c[0], e) for c, e in zip(CONVERSATIONS, examples, strict=True)],
            seq_len=128,
            pad_id=100257,
        ):
            w.write(sequence)
    config = CardConfig(
        title="Test export",
        template="chatml-sep",
        tokenizer="cl100k_base",
        tokenizer_sha256=cl100k.fingerprint,
        special_token_ids=CL100K_CHAT_SPECIALS,
        license="cc-by-4.0",
        packed_seq_len=128,
        packed_splits=("train",),
        val_fraction=0.2,
        seed=1,
        filters={"state": "approved"},
        collection={"labelers": 3, "reviewers": 2},
    )
    (folder / "README.md").write_text(render_dataset_card(stats, config), encoding="utf-8")
    write_manifest(
        folder,
        config={"template": "chatml-sep", "seed": 1},
        counts=stats.per_split,
        token_statistics=stats.to_dict(),
        created_at=created_at,
    )
    return stats


def test_same_data_gives_the_same_bytes(tmp_path):
    fixed = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        export_folder(tmp_path / name, created_at=fixed)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert "train.parquet" in names and "validation.jsonl" in names
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_jsonl_lines_are_the_contract_format(tmp_path):
    export_folder(tmp_path)
    lines = (tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    assert sorted(record) == ["id", "messages", "metadata"]
    assert all(sorted(m) == ["content", "role"] for m in record["messages"])
    assert "שלום 你好 👋🏽" in lines[0]  # not \u-escaped
    assert lines[0] == json.dumps(record, ensure_ascii=False, sort_keys=True)


def test_parquet_is_readable_with_int32_ids_and_matches_the_tokenizer(tmp_path):
    export_folder(tmp_path)
    table = pq.read_table(tmp_path / "train.parquet")
    assert table.schema.field("input_ids").type == pa.list_(pa.int32())
    assert table.schema.field("labels").type == pa.list_(pa.int32())
    assert table.schema.field("loss_mask").type == pa.list_(pa.int8())
    assert table.schema.field("num_tokens").type == pa.int32()
    assert pq.ParquetFile(tmp_path / "train.parquet").metadata.num_row_groups > 1
    cl100k = load_cl100k_base()
    row = table.slice(0, 1).to_pylist()[0]
    messages = dict((c[0], c[1]) for c in CONVERSATIONS)[row["id"]]
    expected = tokenize_conversations([messages], "chatml-sep", cl100k)[0]
    assert row["input_ids"] == expected.input_ids
    assert row["labels"] == expected.labels
    assert row["num_tokens"] == len(row["input_ids"])
    packed = pq.read_table(tmp_path / "train.packed.parquet").to_pylist()
    assert all(len(r["input_ids"]) == 128 and r["cu_seqlens"][-1] == 128 for r in packed)
    assert sum(len(r["example_ids"]) for r in packed) == len(CONVERSATIONS)


def test_manifest_lists_every_file_with_its_hash(tmp_path):
    export_folder(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    listed = {f["name"]: f for f in manifest["files"]}
    on_disk = {p.name for p in tmp_path.iterdir()} - {"manifest.json"}
    assert set(listed) == on_disk
    for name, entry in listed.items():
        assert entry["sha256"] == sha256_file(tmp_path / name)
        assert entry["bytes"] == (tmp_path / name).stat().st_size
    assert "created_at" not in manifest
    assert manifest["code_version"]


def test_dataset_card_has_front_matter_and_statistics(tmp_path):
    stats = export_folder(tmp_path)
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    front, body = card.split("---\n")[1], card.split("---\n", 2)[2]
    assert 'license: "cc-by-4.0"' in front
    assert '- "n<1K"' in front and "- text-generation" in front
    assert 'path: "train.parquet"' in front and "sequence: int32" in front
    assert f"| conversations | {stats.conversations} |" in body
    assert f"| trained tokens (loss mask 1) | {stats.trained_tokens} |" in body
    assert "| python |" in body and "| biology |" in body
    assert "| `<\\|im_sep\\|>` | 100266 |" in body
    assert "validation.packed.parquet" not in front
    assert load_cl100k_base().fingerprint in body
    assert "| labelers | 3 |" in body and "| model_edited messages | 25 |" in body
    assert stats.trained_tokens < stats.tokens and stats.per_split["validation"] > 0


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 54_321, 2_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "10K<n<100K",
        "1M<n<10M",
    ]


def test_stats_merge_equals_one_pass():
    cl100k = load_cl100k_base()
    examples = tokenize_conversations([m for _, m, _ in CONVERSATIONS], "chatml", cl100k)
    whole, first, second = Stats(), Stats(), Stats()
    for index, ((_, messages, metadata), example) in enumerate(
        zip(CONVERSATIONS, examples, strict=True)
    ):
        for stats in (whole, first if index < 10 else second):
            stats.add(messages, example, split="train", domain=metadata["domain"])
    first.merge(second)
    assert first.to_dict() == whole.to_dict()
    assert whole.to_dict()["token_histogram"]["≤128"] == len(CONVERSATIONS)


def test_a_failure_in_the_middle_publishes_nothing(tmp_path):
    destination = tmp_path / "exports" / "run-1"
    with (
        pytest.raises(RuntimeError, match="disk on fire"),
        atomic_directory(destination) as staging,
    ):
        JsonlWriter(staging / "train.jsonl").close()
        assert staging.parent == destination.parent  # same filesystem, so rename is atomic
        raise RuntimeError("disk on fire")
    assert not destination.exists()
    assert list((tmp_path / "exports").iterdir()) == []  # staging folder removed too


def test_publish_moves_a_complete_folder_into_place(tmp_path):
    destination = tmp_path / "run-1"
    with atomic_directory(destination) as staging:
        export_folder(staging)
        assert not destination.exists()
    assert (destination / "manifest.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["run-1"]
    with pytest.raises(FileExistsError), atomic_directory(destination):
        pass
    with atomic_directory(destination, overwrite=True) as staging:
        (staging / "only.txt").write_text("new")
    assert [p.name for p in destination.iterdir()] == ["only.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run-1"]
