"""Streaming writers for the export files: JSONL conversations, tokenized and packed Parquet.

Every writer is a context manager holding at most one row group in memory and
writes the same bytes for the same rows: JSON with sorted keys, Parquet with a
fixed schema, fixed compression and no timestamps (pyarrow's only
``created_by`` value is the constant "parquet-cpp-arrow version X").
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self

import pyarrow as pa
import pyarrow.parquet as pq

from .hashing import sha256_file
from .packing import PackedSequence
from .render import TokenizedExample

__all__ = [
    "PACKED_SCHEMA",
    "TOKENIZED_SCHEMA",
    "JsonlWriter",
    "PackedParquetWriter",
    "ParquetWriter",
    "sha256_file",
    "split_filename",
]

FileKind = Literal["jsonl", "parquet", "packed"]

TOKENIZED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("labels", pa.list_(pa.int32()), nullable=False),
        pa.field("loss_mask", pa.list_(pa.int8()), nullable=False),
        pa.field("num_tokens", pa.int32(), nullable=False),
    ]
)

PACKED_SCHEMA = pa.schema(
    [
        pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("labels", pa.list_(pa.int32()), nullable=False),
        pa.field("loss_mask", pa.list_(pa.int8()), nullable=False),
        pa.field("position_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("sequence_lengths", pa.list_(pa.int32()), nullable=False),
        pa.field("cu_seqlens", pa.list_(pa.int32()), nullable=False),
        pa.field("example_ids", pa.list_(pa.string()), nullable=False),
        pa.field("num_padding", pa.int32(), nullable=False),
    ]
)

DEFAULT_ROW_GROUP_SIZE = 1024


def split_filename(split: str, kind: FileKind) -> str:
    """The file name of a split's artifact: ``train.jsonl``, ``train.parquet``,
    ``train.packed.parquet``."""
    suffix = {"jsonl": ".jsonl", "parquet": ".parquet", "packed": ".packed.parquet"}[kind]
    return f"{split}{suffix}"


class _ClosingWriter:
    """Context manager protocol for the writers: leaving the block calls ``close()``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class JsonlWriter(_ClosingWriter):
    """Conversations as JSON Lines: ``{"id", "messages": [{"role", "content"}], "metadata"}``.

    The format Hugging Face ``datasets`` and TRL load as conversational data.
    One ``json.dumps(..., ensure_ascii=False, sort_keys=True)`` per line, UTF-8.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.rows = 0
        self._file = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115

    def write(
        self,
        conversation_id: str,
        messages: Sequence[Mapping[str, str]],
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one conversation; only ``role`` and ``content`` of each message are kept."""
        record = {
            "id": str(conversation_id),
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "metadata": dict(metadata or {}),
        }
        self._file.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self.rows += 1

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


class _BufferedParquetWriter(_ClosingWriter):
    """Buffers ``row_group_size`` rows per column, then writes them as one row group."""

    schema: pa.Schema

    def __init__(
        self, path: str | os.PathLike[str], *, row_group_size: int = DEFAULT_ROW_GROUP_SIZE
    ) -> None:
        if row_group_size < 1:
            raise ValueError("row_group_size must be at least 1")
        self.path = os.fspath(path)
        self.rows = 0
        self.row_group_size = row_group_size
        self._columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self._writer = pq.ParquetWriter(
            self.path,
            self.schema,
            compression="zstd",
            compression_level=3,
            use_dictionary=["id"] if "id" in self.schema.names else False,
            write_statistics=True,
            store_schema=True,
        )

    def _append(self, row: Mapping[str, Any]) -> None:
        for name, values in self._columns.items():
            values.append(row[name])
        self.rows += 1
        if len(self._columns[self.schema.names[0]]) >= self.row_group_size:
            self._flush()

    def _flush(self) -> None:
        if not self._columns[self.schema.names[0]]:
            return
        table = pa.Table.from_pydict(self._columns, schema=self.schema)
        self._writer.write_table(table, row_group_size=self.row_group_size)
        self._columns = {name: [] for name in self.schema.names}

    def close(self) -> None:
        """Write the buffered rows and the footer."""
        self._flush()
        self._writer.close()


class ParquetWriter(_BufferedParquetWriter):
    """Tokenized conversations: ``id``, ``input_ids``, ``labels``, ``loss_mask``, ``num_tokens``."""

    schema = TOKENIZED_SCHEMA

    def write(self, example_id: str, example: TokenizedExample) -> None:
        """Write one tokenized conversation."""
        self._append(
            {
                "id": str(example_id),
                "input_ids": example.input_ids,
                "labels": example.labels,
                "loss_mask": example.loss_mask,
                "num_tokens": example.num_tokens,
            }
        )


class PackedParquetWriter(_BufferedParquetWriter):
    """Packed fixed-length sequences (see :class:`~sftpipeline.packing.PackedSequence`)."""

    schema = PACKED_SCHEMA

    def write(self, sequence: PackedSequence) -> None:
        """Write one packed sequence."""
        self._append(
            {
                "input_ids": sequence.input_ids,
                "labels": sequence.labels,
                "loss_mask": sequence.loss_mask,
                "position_ids": sequence.position_ids,
                "sequence_lengths": sequence.sequence_lengths,
                "cu_seqlens": sequence.cu_seqlens,
                "example_ids": sequence.example_ids,
                "num_padding": sequence.num_padding,
            }
        )
