"""Run one export: stream approved conversations → render → tokenize → split → write → publish.

The Celery task and `manage.py export_dataset` both call `export_run`. Everything it
decides comes from the `ExportConfig` and the database rows, read in id order, so the
same data and settings give the same bytes. Only `manifest.json` carries a time, and
only in its `created_at` field (set SOURCE_DATE_EPOCH to pin it too).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from exports.models import TokenizerAsset
from exports.selectors import DEFAULT_CHUNK_SIZE, ExportRow, export_conversations_queryset
from exports.selectors import export_row_chunks as _row_chunks
from sftpipeline.card import CardConfig, render_dataset_card
from sftpipeline.packing import Packer
from sftpipeline.publish import atomic_directory, write_manifest
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
    JsonlWriter,
    OpenAIJsonlWriter,
    PackedParquetWriter,
    ParquetWriter,
    split_filename,
)

from .config import ExportConfig
from .preference import PairOutput
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
        self, folder: Path, config: ExportConfig, pad_id: int, stack: contextlib.ExitStack
    ) -> None:
        self.jsonl: dict[str, JsonlWriter] = {}
        self.openai: dict[str, OpenAIJsonlWriter] = {}
        self.parquet: dict[str, ParquetWriter] = {}
        self.packed: dict[str, PackedParquetWriter] = {}
        self.packers: dict[str, Packer] = {}
        for split in SPLITS:
            if "jsonl" in config.formats:
                self.jsonl[split] = stack.enter_context(
                    JsonlWriter(folder / split_filename(split, "jsonl"))
                )
            if "openai" in config.formats:
                self.openai[split] = stack.enter_context(
                    OpenAIJsonlWriter(folder / split_filename(split, "openai"))
                )
            if "parquet" in config.formats:
                self.parquet[split] = stack.enter_context(
                    ParquetWriter(folder / split_filename(split, "parquet"))
                )
            if config.pack_length:
                self.packed[split] = stack.enter_context(
                    PackedParquetWriter(folder / split_filename(split, "packed"))
                )
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


def export_run(
    *,
    config: ExportConfig,
    destination: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    created_at: dt.datetime | None = None,
    publish_guard: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
) -> dict[str, Any]:
    """Write the export into a staging folder and publish it at `destination` atomically.

    `progress(done, total)` runs after every chunk; it may raise `ExportCancelled`.
    `publish_guard()` is entered once everything is written, just before the rename, and
    left after it: it may raise to publish nothing, and it stays open while the folder is
    renamed into place (the job holds its row lock there, see `export_job_execute`).
    Any exception leaves nothing at `destination` (an earlier export there is only
    replaced by a complete new one). Returns the manifest.
    """
    destination = Path(destination)
    tokenizer = export_tokenizer(config)
    specials = special_token_ids(tokenizer, config.template)
    total = export_conversations_queryset(config).count()
    stats = Stats()
    selection = Selection(config)
    _remove_stale_staging(destination)
    # Entered first so that it is left last: a guard entered into it at the end of the
    # inner block is still open while atomic_directory renames the staging folder.
    guards = contextlib.ExitStack()
    with guards, atomic_directory(destination, overwrite=True) as staging:
        with contextlib.ExitStack() as stack:
            writers = _SplitWriters(staging, config, _pad_id(tokenizer), stack)
            pairs = (
                PairOutput(staging, config, tokenizer, selection, stack)
                if config.writes_pairs
                else None
            )
            if progress:
                progress(0, total)
            for rows in _row_chunks(config, chunk_size=chunk_size):
                kept = selection.keep(rows)
                if config.writes_sft:
                    examples = tokenize_rows(kept, config, tokenizer, selection.tools_of)
                    for (row, messages), example in zip(kept, examples, strict=True):
                        _export_one(row, messages, example, config, stats, selection, writers)
                if pairs is not None:
                    pairs.add(kept)
                if progress:
                    progress(selection.read, total)
            packing = writers.finish()
        stats.duplicates = selection.duplicates
        collection = {
            "labelers": len(selection.labelers),
            "reviewers": len(selection.reviewers),
            "approving reviews": selection.reviews,
            "imported conversations": selection.imported,
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
            preference=pairs.counts.to_dict(config) if pairs is not None else {},
        )
        (staging / "README.md").write_text(
            render_dataset_card(stats, card), encoding="utf-8", newline="\n"
        )
        counts = {
            "matched": total,
            "read": selection.read,
            "exported": stats.conversations,
            "per_split": {split: stats.per_split.get(split, 0) for split in SPLITS},
            "left_out": {
                "empty": selection.empty,
                "below_min_score": selection.below_min_score,
                "unedited_ai_drafts": selection.unedited_ai_drafts,
                "duplicates": selection.duplicates,
                "too_long_dropped": stats.dropped,
            },
            "truncated": stats.truncated,
            "collection": collection,
        }
        if packing:
            counts["packing"] = packing
        if pairs is not None:
            counts["preference"] = pairs.counts.to_dict(config)
        manifest = write_manifest(
            staging,
            config=config.to_dict(),
            counts=counts,
            token_statistics=stats.to_dict(),
            tokenizer={
                "name": tokenizer.name,
                "sha256": tokenizer.fingerprint,
                "special_tokens": specials,
            },
            created_at=_manifest_time(created_at),
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
