"""The token preview: the first examples exactly as the export tokenizes them, token by token."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from exports.models import ExportJob
from exports.selectors import export_row_chunks
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
