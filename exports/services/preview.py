"""The token preview: the first examples exactly as the export tokenizes them, token by token."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from exports.models import ExportJob
from exports.selectors import export_conversations_queryset, export_row_chunks
from sftpipeline.preference import RANKING, PreferencePair
from sftpipeline.render import (
    PART_REASONING,
    PART_TOOL_CALL,
    PART_TOOL_RESULT,
    PART_TOOLS,
    TokenizedExample,
    apply_max_tokens,
    preview_tokens,
)
from sftpipeline.split import TRAIN, assign_split
from sftpipeline.tokenizers import ChatTokenizer
from sftpipeline.writers import split_filename

from .config import ExportConfig, export_config_from_dict
from .preference import PairCounts, chunk_pairs, tokenize_chunk_pairs
from .ranking_pairs import ranking_pairs
from .rows import Selection
from .running import export_tokenizer, special_token_ids, tokenize_rows

PREVIEW_EXAMPLES = 3
# The preview reads at most this many conversations looking for examples that pass the filters.
PREVIEW_READ_LIMIT = 200
PREVIEW_MAX_TOKENS = 600
# The parts of structured turns the chips mark; headers, plain text and answers look as before.
MARKED_PARTS = frozenset({PART_TOOLS, PART_REASONING, PART_TOOL_CALL, PART_TOOL_RESULT})


@dataclass(frozen=True)
class PreviewToken:
    token_id: int
    label: str
    special: bool
    trained: bool
    part: str = ""


@dataclass(frozen=True)
class PreviewExample:
    conversation_id: str
    split: str
    status: str
    num_tokens: int
    trained_tokens: int
    tokens: list[PreviewToken]
    hidden_tokens: int
    reasoning_tokens: int = 0
    tool_call_tokens: int = 0
    tool_result_tokens: int = 0


def _visible(text: str) -> str:
    # Whitespace would vanish inside a chip: show newlines and tabs as symbols.
    return text.replace("\n", "↵").replace("\t", "⇥")


def _example(
    conversation_id: str,
    split: str,
    status: str,
    example: TokenizedExample,
    tokenizer: ChatTokenizer,
) -> PreviewExample:
    shown = TokenizedExample.from_ids_and_mask(
        example.input_ids[:PREVIEW_MAX_TOKENS],
        example.loss_mask[:PREVIEW_MAX_TOKENS],
        example.parts[:PREVIEW_MAX_TOKENS],
    )
    pieces = preview_tokens(shown, tokenizer)
    parts = shown.parts or ("",) * shown.num_tokens
    tokens = [
        PreviewToken(
            token_id,
            _visible(piece.text),
            piece.is_special,
            piece.trained,
            part if part in MARKED_PARTS else "",
        )
        for token_id, piece, part in zip(shown.input_ids, pieces, parts, strict=True)
    ]
    return PreviewExample(
        conversation_id=conversation_id,
        split=split,
        status=status,
        num_tokens=example.num_tokens,
        trained_tokens=example.num_trained_tokens,
        tokens=tokens,
        hidden_tokens=max(0, example.num_tokens - PREVIEW_MAX_TOKENS),
        reasoning_tokens=example.tokens_in(PART_REASONING),
        tool_call_tokens=example.tokens_in(PART_TOOL_CALL),
        tool_result_tokens=example.tokens_in(PART_TOOL_RESULT),
    )


def export_preview(*, config: ExportConfig, limit: int = PREVIEW_EXAMPLES) -> list[PreviewExample]:
    """The first `limit` conversations the export would write, with the same filters,
    template, tokenizer and length policy. Reads at most PREVIEW_READ_LIMIT conversations."""
    tokenizer = export_tokenizer(config)
    special_token_ids(tokenizer, config.template)
    selection = Selection(config)
    examples: list[PreviewExample] = []
    for rows in export_row_chunks(config, chunk_size=50):
        kept = selection.keep(rows)
        examples_read = tokenize_rows(kept, config, tokenizer, selection.tools_of)
        for (row, _), example in zip(kept, examples_read, strict=True):
            limited, status = apply_max_tokens(example, config.max_tokens, config.overflow)
            split = assign_split(row.id, seed=config.seed, val_fraction=config.val_fraction)
            # A dropped conversation (limited is None) is shown whole.
            shown = example if limited is None else limited
            examples.append(_example(str(row.id), split, status.value, shown, tokenizer))
            if len(examples) >= limit:
                return examples
        if selection.read >= PREVIEW_READ_LIMIT:
            break
    return examples


@dataclass(frozen=True)
class PreviewPair:
    """One preference pair: chosen and rejected, each prompt + reply with the prompt untrained."""

    pair_id: str
    source: str
    split: str
    chosen: PreviewExample
    rejected: PreviewExample


def export_pair_preview(*, config: ExportConfig, limit: int = 1) -> list[PreviewPair]:
    """The first `limit` preference pairs the export would write (none unless the config
    asks for the preference or KTO files). Reads at most PREVIEW_READ_LIMIT conversations."""
    if not config.writes_pairs:
        return []
    tokenizer = export_tokenizer(config)
    special_token_ids(tokenizer, config.template)
    selection = Selection(config)
    shown: list[PreviewPair] = []

    def tools(pair: PreferencePair) -> list[dict]:
        return selection.tools.get(pair.metadata["project"], [])

    def show(pairs: Sequence[PreferencePair]) -> None:
        for pair, tokens in zip(
            pairs, tokenize_chunk_pairs(pairs, config, tokenizer, tools), strict=True
        ):
            split = assign_split(
                pair.conversation_id, seed=config.seed, val_fraction=config.val_fraction
            )
            sides = [
                _example(pair.id, split, "kept", side, tokenizer)
                for side in (tokens.chosen, tokens.rejected)
            ]
            shown.append(PreviewPair(pair.id, pair.source, split, *sides))

    for rows in export_row_chunks(config, chunk_size=50):
        show(chunk_pairs(selection.keep(rows), config, PairCounts())[: limit - len(shown)])
        if len(shown) >= limit or selection.read >= PREVIEW_READ_LIMIT:
            break
    if len(shown) < limit and RANKING in config.preference_sources:
        show(ranking_pairs(config, Counter())[0][: limit - len(shown)])
    return shown


def export_job_preview(*, job: ExportJob, limit: int = PREVIEW_EXAMPLES) -> list[PreviewExample]:
    """The first rows of a finished job's published (first) train Parquet, token by token.

    Falls back to recomputing from the job's settings when no Parquet was written (or it
    is in a bucket).
    """
    config = export_config_from_dict(job.config)
    shards = job.manifest.get("counts", {}).get("shards", 1) if job.manifest else 1
    first = split_filename(TRAIN, "parquet", shard=0, shards=shards)
    path = Path(job.output_dir or "") / first
    if job.status != ExportJob.Status.SUCCEEDED or not path.is_file():
        return export_preview(config=config, limit=limit)
    tokenizer = export_tokenizer(config)
    parquet = pq.ParquetFile(path)
    examples: list[PreviewExample] = []
    for batch in parquet.iter_batches(
        batch_size=limit, columns=["id", "input_ids", "loss_mask", "num_tokens"]
    ):
        for record in batch.to_pylist():
            example = TokenizedExample.from_ids_and_mask(record["input_ids"], record["loss_mask"])
            examples.append(_example(record["id"], TRAIN, "published", example, tokenizer))
        break
    return examples[:limit]


# The count reads at most this many conversations; beyond, it scales what it saw to the rest.
ESTIMATE_READ_LIMIT = 20_000
# Conversations tokenized for real to measure the tokens per character of this data.
ESTIMATE_SAMPLE = 20


@dataclass(frozen=True)
class ExportEstimate:
    """What an export with these settings would hold, before it runs."""

    conversations: int
    train: int
    validation: int
    tokens: int
    # False when only the first ESTIMATE_READ_LIMIT conversations were read and scaled up.
    complete: bool

    @property
    def empty_splits(self) -> list[str]:
        if not self.conversations:
            return []
        return [
            name
            for name, count in (("train", self.train), ("validation", self.validation))
            if not count
        ]


def export_estimate(*, config: ExportConfig) -> ExportEstimate:
    """How many conversations match `config` (the export's own filters, dedupe included), how
    they split, and about how many tokens they make: characters times the tokens per character
    measured by tokenizing the first ESTIMATE_SAMPLE of them with the export's tokenizer and
    template (no length limit applied). Two queries per thousand conversations read."""
    tokenizer = export_tokenizer(config)
    special_token_ids(tokenizer, config.template)
    selection = Selection(config)
    counts = {"train": 0, "validation": 0}
    characters = 0
    sample: list = []
    for rows in export_row_chunks(config):
        for row, messages in selection.keep(rows):
            counts[assign_split(row.id, seed=config.seed, val_fraction=config.val_fraction)] += 1
            characters += sum(_characters(m) for m in messages)
            if len(sample) < ESTIMATE_SAMPLE:
                sample.append((row, messages))
        if selection.read >= ESTIMATE_READ_LIMIT:
            break
    sampled = tokenize_rows(sample, config, tokenizer, selection.tools_of)
    sample_characters = sum(_characters(m) for _, messages in sample for m in messages)
    sample_tokens = sum(len(example.input_ids) for example in sampled)
    tokens = round(characters * sample_tokens / sample_characters) if sample_characters else 0
    scale, complete = 1.0, True
    if selection.read >= ESTIMATE_READ_LIMIT:
        total = export_conversations_queryset(config).count()
        scale, complete = total / selection.read, total <= selection.read
    return ExportEstimate(
        conversations=round((counts["train"] + counts["validation"]) * scale),
        train=round(counts["train"] * scale),
        validation=round(counts["validation"] * scale),
        tokens=round(tokens * scale),
        complete=complete,
    )


def _characters(message: dict[str, Any]) -> int:
    """The text a message adds to the rendering: content, reasoning and tool calls."""
    calls = message.get("tool_calls")
    return (
        len(message["content"])
        + len(message.get("reasoning_content") or "")
        + (len(json.dumps(calls, ensure_ascii=False)) if calls else 0)
    )
