"""Run one export: stream approved conversations → render → tokenize → split → write → publish.

The Celery task and `manage.py export_dataset` both call `export_run`. Everything it
decides comes from the `ExportConfig` and the database rows, read in id order, so the
same data and settings give the same bytes. Only `manifest.json` carries a time, and
only in its `created_at` field (set SOURCE_DATE_EPOCH to pin it too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from exports.models import TokenizerAsset
from exports.selectors import DEFAULT_CHUNK_SIZE, ExportRow, export_shard_bounds
from exports.selectors import export_row_chunks as _row_chunks
from sftpipeline.card import CardConfig, render_dataset_card
from sftpipeline.hashing import sha256_file
from sftpipeline.packing import Packer
from sftpipeline.publish import CARD_NAME, atomic_directory, write_manifest
from sftpipeline.render import (
    CHATML_SEP,
    HF_CHAT_TEMPLATE,
    OverflowStatus,
    TokenizedExample,
    apply_max_tokens,
    assistant_turns_trained,
    tokenize_conversations,
)
from sftpipeline.split import SPLITS, assign_split
from sftpipeline.stats import Stats
from sftpipeline.tokenizers import (
    CHAT_SPECIAL_TOKENS,
    CL100K_BASE,
    IM_END,
    IM_SEP,
    ChatTokenizer,
    TokenizerError,
    get_tokenizer,
)
from sftpipeline.turns import ASSISTANT, ToolSpecs
from sftpipeline.writers import (
    FileKind,
    JsonlWriter,
    OpenAIJsonlWriter,
    PackedParquetWriter,
    ParquetWriter,
    split_filename,
)

from .config import ExportConfig
from .preference import PairCounts, PairOutput
from .rows import ExportError, Selection

ProgressCallback = Callable[[int, int], None]


class ExportCancelled(Exception):
    """Someone asked the job to stop; nothing was published."""


def export_tokenizer(config: ExportConfig) -> ChatTokenizer:
    """The tokenizer the config names, loaded from its uploaded vocabulary when needed."""
    if config.tokenizer == CL100K_BASE:
        return get_tokenizer(CL100K_BASE)
    asset = (
        TokenizerAsset.objects.filter(id=config.tokenizer_asset, kind=config.tokenizer).first()
        if config.tokenizer_asset is not None
        else None
    )
    if asset is None:
        raise ExportError(
            f"The uploaded {config.tokenizer} vocabulary #{config.tokenizer_asset} no longer exists."
        )
    folder = Path(settings.MEDIA_ROOT) / asset.folder
    path = folder if config.tokenizer == "huggingface" else folder / asset.file_name
    try:
        tokenizer = get_tokenizer(config.tokenizer, path)
    except TokenizerError as error:
        raise ExportError(f"The tokenizer could not be loaded: {error}") from error
    if tokenizer.fingerprint != asset.sha256 and config.tokenizer != "huggingface":
        raise ExportError(f"The vocabulary file of {asset.label} changed since it was uploaded.")
    return tokenizer


def special_token_ids(tokenizer: ChatTokenizer, template: str) -> dict[str, int]:
    """The special tokens the template writes, with this tokenizer's ids."""
    names = [t for t in CHAT_SPECIAL_TOKENS if template == CHATML_SEP or t != IM_SEP]
    ids = {}
    for name in names:
        try:
            ids[name] = tokenizer.special_token_id(name)
        except TokenizerError:
            if template != HF_CHAT_TEMPLATE:
                raise ExportError(
                    f"The {tokenizer.name} tokenizer has no {name} token, which the "
                    f"{template} template needs; choose the tokenizer's own chat template."
                ) from None
    return ids


def tokenize_rows(
    kept: Sequence[tuple[ExportRow, list[dict[str, Any]]]],
    config: ExportConfig,
    tokenizer: ChatTokenizer,
    tools: Callable[[ExportRow], ToolSpecs],
) -> list[TokenizedExample]:
    """One batched tokenizer call for a chunk's conversations; `tools(row)` are its tools."""
    if not kept:
        return []
    try:
        return tokenize_conversations(
            [m for _, m in kept], config.template, tokenizer, [tools(row) for row, _ in kept]
        )
    except (TokenizerError, ValueError) as error:
        first, last = kept[0][0].id, kept[-1][0].id
        raise ExportError(
            f"Conversations {first}–{last} could not be tokenized with {config.template}: {error}"
        ) from error


def _pad_id(tokenizer: ChatTokenizer) -> int:
    for name in ("<|endoftext|>", IM_END):
        try:
            return tokenizer.special_token_id(name)
        except TokenizerError:
            continue
    return 0


def _manifest_time(created_at: dt.datetime | None) -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        moment = dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
    else:
        moment = created_at or dt.datetime.now(tz=dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


class _SplitWriters:
    """The open files of one export: per split, JSONL / Parquet / packed Parquet as configured."""

    def __init__(
        self,
        folder: Path,
        config: ExportConfig,
        pad_id: int,
        stack: contextlib.ExitStack,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        index, shards = shard

        def name(split: str, kind: FileKind) -> Path:
            return folder / split_filename(split, kind, shard=index, shards=shards)

        self.jsonl: dict[str, JsonlWriter] = {}
        self.openai: dict[str, OpenAIJsonlWriter] = {}
        self.parquet: dict[str, ParquetWriter] = {}
        self.packed: dict[str, PackedParquetWriter] = {}
        self.packers: dict[str, Packer] = {}
        for split in SPLITS:
            if "jsonl" in config.formats:
                self.jsonl[split] = stack.enter_context(JsonlWriter(name(split, "jsonl")))
            if "openai" in config.formats:
                self.openai[split] = stack.enter_context(OpenAIJsonlWriter(name(split, "openai")))
            if "parquet" in config.formats:
                self.parquet[split] = stack.enter_context(ParquetWriter(name(split, "parquet")))
            if config.pack_length:
                self.packed[split] = stack.enter_context(PackedParquetWriter(name(split, "packed")))
                self.packers[split] = Packer(
                    seq_len=config.pack_length, pad_id=pad_id, overflow=config.overflow
                )

    def write(
        self,
        split: str,
        row: ExportRow,
        conversation: tuple[list[dict[str, Any]], list[dict[str, Any]]],
        example: TokenizedExample,
        turns_trained: Callable[[], list[bool]],
    ) -> None:
        """`conversation` is (messages, tools); `turns_trained()` gives the OpenAI weights."""
        messages, tools = conversation
        example_id = str(row.id)
        if split in self.jsonl:
            metadata: dict[str, Any] = {"project": row.project, "domain": row.domain}
            if row.source_id:
                metadata["source_id"] = row.source_id
            if row.imported:
                metadata["imported"] = True
            self.jsonl[split].write(example_id, messages, metadata, tools=tools)
        if split in self.openai:
            self.openai[split].write(messages, tools=tools, assistant_weights=turns_trained())
        if split in self.parquet:
            self.parquet[split].write(example_id, example)
        if split in self.packers:
            for sequence in self.packers[split].add(example_id, example):
                self.packed[split].write(sequence)

    def paths(self) -> list[str]:
        """Every file this shard writes, sorted."""
        return sorted(
            [w.path for w in self.jsonl.values()]
            + [w.path for w in self.openai.values()]
            + [w.path for w in self.parquet.values()]
            + [w.path for w in self.packed.values()]
        )

    def finish(self) -> dict[str, Any]:
        packing: dict[str, Any] = {}
        for split, packer in self.packers.items():
            for sequence in packer.finish():
                self.packed[split].write(sequence)
            packing[split] = {
                "sequences": self.packed[split].rows,
                "truncated": packer.truncated,
                "dropped": packer.dropped,
            }
        return packing


def _remove_stale_staging(destination: Path) -> None:
    """A worker killed mid-run leaves its hidden staging folder; a retry starts afresh."""
    if destination.parent.is_dir():
        for stale in destination.parent.glob(f".{destination.name}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)


@dataclass(frozen=True)
class ShardSpec:
    """One shard of an export: the conversations with ids in [id_from, id_to]."""

    index: int
    shards: int
    id_from: int
    id_to: int
    conversations: int


def export_shard_plan(config: ExportConfig, *, shard_size: int) -> list[ShardSpec]:
    """The export's shards: its matching conversations in id order, `shard_size` each."""
    bounds = export_shard_bounds(config, shard_size=shard_size)
    return [
        ShardSpec(index, len(bounds), first, last, count)
        for index, (first, last, count) in enumerate(bounds)
    ] or [ShardSpec(0, 1, 0, 0, 0)]


#: New containers between two young-generation collections while a shard runs (Python's
#: default is 700).
SHARD_GC_YOUNG_THRESHOLD = 100_000


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run Python's cycle collector less often while a shard is written.

    By default it runs after every 700 new containers. Each run walks every young
    container's references, including every id in a token list. A shard makes millions
    of rows, messages and token lists, and none of them is part of a cycle. Collecting
    that often took about a fifth of an SFT export's CPU and a third of a preference
    export's. So, during the shard:

    - the collector runs after every `SHARD_GC_YOUNG_THRESHOLD` containers instead;
    - what existed before the shard (Django, the tokenizer) is set aside with
      `gc.freeze`, so that full collections do not walk it again and again.
    """
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(SHARD_GC_YOUNG_THRESHOLD, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def export_shard_run(
    *,
    config: ExportConfig,
    shard: ShardSpec,
    folder: Path,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> dict[str, Any]:
    """Write one shard's files into `folder`; return what the final step merges (JSON-ready):
    statistics, filter counts, packing counts and every file with its size and sha256.

    `progress(read)` runs after every chunk (it may raise to stop). Packing happens within
    the shard: a packed sequence never mixes two shards' conversations.
    """
    tokenizer = export_tokenizer(config)
    stats = Stats()
    selection = Selection(config)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_fewer_collections())
        writers = _SplitWriters(
            folder, config, _pad_id(tokenizer), stack, (shard.index, shard.shards)
        )
        pairs = (
            PairOutput(folder, config, tokenizer, selection, stack, (shard.index, shard.shards))
            if config.writes_pairs
            else None
        )
        chunks = _row_chunks(
            config, chunk_size=chunk_size, id_from=shard.id_from, id_to=shard.id_to
        )
        for rows in chunks if shard.conversations else ():
            kept = selection.keep(rows)
            if config.writes_sft:
                examples = tokenize_rows(kept, config, tokenizer, selection.tools_of)
                for (row, messages), example in zip(kept, examples, strict=True):
                    _export_one(row, messages, example, config, stats, selection, writers)
            if pairs is not None:
                pairs.add(kept)
            if progress:
                progress(selection.read)
        if pairs is not None and shard.index == 0:
            pairs.add_rankings()
        packing = writers.finish()
    names = sorted(writers.paths() + (pairs.paths() if pairs is not None else []))
    return {
        "stats": dataclasses.asdict(stats),
        "selection": {
            "read": selection.read,
            "empty": selection.empty,
            "below_min_score": selection.below_min_score,
            "unedited_ai_drafts": selection.unedited_ai_drafts,
            "duplicates": selection.duplicates,
            "labelers": sorted(selection.labelers),
            "reviewers": sorted(selection.reviewers),
            "reviews": selection.reviews,
            "imported": selection.imported,
        },
        "packing": packing,
        "preference": pairs.counts.to_result() if pairs is not None else None,
        "files": [
            {"name": Path(path).name, "bytes": os.path.getsize(path), "sha256": sha256_file(path)}
            for path in names
        ],
    }


def export_finish(
    *,
    config: ExportConfig,
    results: Sequence[Mapping[str, Any]],
    matched: int,
    folder: Path,
    created_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Merge the shards' results (in shard order) and write the dataset card and then
    `manifest.json` (sha256 of every file) into `folder`; return the manifest."""
    tokenizer = export_tokenizer(config)
    specials = special_token_ids(tokenizer, config.template)
    stats = Stats()
    left_out = dict.fromkeys(("empty", "below_min_score", "unedited_ai_drafts", "duplicates"), 0)
    labelers: set[int] = set()
    reviewers: set[int] = set()
    read = reviews = imported = 0
    packing: dict[str, dict[str, int]] = {}
    files: list[dict[str, Any]] = []
    pairs = PairCounts()
    for result in results:
        stats.merge(Stats(**result["stats"]))
        if result.get("preference"):
            pairs.merge(result["preference"])
        filtered = result["selection"]
        for key in left_out:
            left_out[key] += filtered[key]
        read += filtered["read"]
        reviews += filtered["reviews"]
        imported += filtered["imported"]
        labelers.update(filtered["labelers"])
        reviewers.update(filtered["reviewers"])
        for split, numbers in result["packing"].items():
            merged = packing.setdefault(split, dict.fromkeys(numbers, 0))
            for key, value in numbers.items():
                merged[key] += value
        files += result["files"]
    stats.duplicates = left_out["duplicates"]
    collection = {
        "labelers": len(labelers),
        "reviewers": len(reviewers),
        "approving reviews": reviews,
        "imported conversations": imported,
    }
    card = CardConfig(
        # From the config only: the job and the CLI write the same card for the same data.
        title=f"SFT export of {', '.join(config.projects)}",
        template=config.template,
        tokenizer=tokenizer.name,
        tokenizer_sha256=tokenizer.fingerprint,
        special_token_ids=specials,
        license=config.license,
        languages=config.language,
        formats=config.formats,
        drop_reasoning=config.drop_reasoning,
        packed_seq_len=config.pack_length,
        max_tokens=config.max_tokens,
        overflow=config.overflow,
        seed=config.seed,
        val_fraction=config.val_fraction,
        filters=config.filters,
        collection=collection,
        shards=len(results),
        preference=pairs.to_dict(config) if config.writes_pairs else {},
    )
    card_path = folder / CARD_NAME
    card_path.write_text(render_dataset_card(stats, card), encoding="utf-8", newline="\n")
    files.append(
        {"name": CARD_NAME, "bytes": card_path.stat().st_size, "sha256": sha256_file(card_path)}
    )
    counts: dict[str, Any] = {
        "matched": matched,
        "read": read,
        "exported": stats.conversations,
        "per_split": {split: stats.per_split.get(split, 0) for split in SPLITS},
        "left_out": {**left_out, "too_long_dropped": stats.dropped},
        "truncated": stats.truncated,
        "collection": collection,
    }
    if packing:
        counts["packing"] = packing
    if config.writes_pairs:
        counts["preference"] = pairs.to_dict(config)
    if len(results) > 1:
        counts["shards"] = len(results)
    return write_manifest(
        folder,
        config=config.to_dict(),
        counts=counts,
        token_statistics=stats.to_dict(),
        tokenizer={
            "name": tokenizer.name,
            "sha256": tokenizer.fingerprint,
            "special_tokens": specials,
        },
        created_at=_manifest_time(created_at),
        files=sorted(files, key=lambda entry: entry["name"]),
    )


def export_run(
    *,
    config: ExportConfig,
    destination: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    created_at: dt.datetime | None = None,
    publish_guard: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    shard_size: int | None = None,
) -> dict[str, Any]:
    """Write the export, shard after shard in this process, into a staging folder and
    publish it at `destination` atomically: the same bytes as the sharded Celery job
    with the same `shard_size` (default EXPORT_SHARD_SIZE).

    `progress(done, total)` runs after every chunk; it may raise `ExportCancelled`.
    `publish_guard()` is entered once everything is written, just before the rename, and
    left after it: it may raise to publish nothing, and it stays open while the folder is
    renamed into place (the job holds its row lock there, see `export_job_execute`).
    Any exception leaves nothing at `destination` (an earlier export there is only
    replaced by a complete new one). Returns the manifest.
    """
    destination = Path(destination)
    special_token_ids(export_tokenizer(config), config.template)
    plan = export_shard_plan(config, shard_size=shard_size or settings.EXPORT_SHARD_SIZE)
    total = sum(shard.conversations for shard in plan)
    _remove_stale_staging(destination)
    # Entered first so that it is left last: a guard entered into it at the end of the
    # inner block is still open while atomic_directory renames the staging folder.
    guards = contextlib.ExitStack()
    with guards, atomic_directory(destination, overwrite=True) as staging:
        if progress:
            progress(0, total)
        results: list[dict[str, Any]] = []
        done = 0

        def shard_progress(read: int) -> None:
            if progress:
                progress(done + read, total)

        for shard in plan:
            results.append(
                export_shard_run(
                    config=config,
                    shard=shard,
                    folder=staging,
                    progress=shard_progress,
                    chunk_size=chunk_size,
                )
            )
            done += results[-1]["selection"]["read"]
        manifest = export_finish(
            config=config, results=results, matched=total, folder=staging, created_at=created_at
        )
        if publish_guard is not None:
            guards.enter_context(publish_guard())
    return manifest


def _export_one(
    row: ExportRow,
    messages: list[dict[str, Any]],
    example: TokenizedExample,
    config: ExportConfig,
    stats: Stats,
    selection: Selection,
    writers: _SplitWriters,
) -> None:
    kept, status = apply_max_tokens(example, config.max_tokens, config.overflow)
    if kept is None or (status is OverflowStatus.TRUNCATED and not kept.num_trained_tokens):
        # A truncation that leaves nothing to learn counts as dropped.
        stats.dropped += 1
        return
    if status is OverflowStatus.TRUNCATED:
        stats.truncated += 1
    split = assign_split(row.id, seed=config.seed, val_fraction=config.val_fraction)
    stats.add(messages, kept, split=split, domain=row.domain)
    selection.count_provenance(row)
    assistant_turns = sum(m["role"] == ASSISTANT for m in messages)
    writers.write(
        split,
        row,
        (messages, selection.tools_of(row)),
        kept,
        lambda: assistant_turns_trained(example, kept, assistant_turns),
    )
