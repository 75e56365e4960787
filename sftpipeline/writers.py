"""Streaming writers for the export files: JSONL conversations, tokenized and packed Parquet.

Every writer is a context manager holding at most one row group in memory and
writes the same bytes for the same rows: JSON with sorted keys, Parquet with a
fixed schema, fixed compression and no timestamps (pyarrow's only
``created_by`` value is the constant "parquet-cpp-arrow version X").
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self

import pyarrow as pa
import pyarrow.parquet as pq

from .hashing import sha256_file
from .packing import PackedSequence
from .render import TokenizedExample
from .turns import STRUCTURED_KEYS, openai_message

__all__ = [
    "PACKED_SCHEMA",
    "TOKENIZED_SCHEMA",
    "JsonlWriter",
    "OpenAIJsonlWriter",
    "PackedParquetWriter",
    "ParquetWriter",
    "sha256_file",
    "split_filename",
]

FileKind = Literal[
    "jsonl", "parquet", "packed", "openai", "preference", "preference_parquet", "kto"
]

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


def split_filename(split: str, kind: FileKind, *, shard: int = 0, shards: int = 1) -> str:
    """The file name of a split's artifact: ``train.jsonl``, ``train.parquet``,
    ``train.packed.parquet``, ``train.openai.jsonl``, ``train.preference.jsonl``,
    ``train.preference.parquet``, ``train.kto.jsonl``; with several shards, Hugging Face's
    ``train-00003-of-00005.jsonl`` (and so on) for shard 3 of 5."""
    suffix = {
        "jsonl": ".jsonl",
        "parquet": ".parquet",
        "packed": ".packed.parquet",
        "openai": ".openai.jsonl",
        "preference": ".preference.jsonl",
        "preference_parquet": ".preference.parquet",
        "kto": ".kto.jsonl",
    }[kind]
    if shards > 1:
        return f"{split}-{shard:05d}-of-{shards:05d}{suffix}"
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


class _JsonLinesFile(_ClosingWriter):
    """One ``json.dumps(..., ensure_ascii=False, sort_keys=True)`` per line, UTF-8."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.rows = 0
        self._file = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115

    def _write_record(self, record: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self.rows += 1

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


class JsonlWriter(_JsonLinesFile):
    """Conversations as JSON Lines: ``{"id", "messages", "tools", "metadata"}``.

    The format Hugging Face ``datasets``, chat templates and TRL load as conversational
    data: each message is ``{"role", "content"}`` plus, where set, ``reasoning_content``
    and ``tool_calls`` (assistant) or ``tool_call_id`` (tool). ``tools`` is written only
    when the project declares tools, so a plain-text row stays exactly as before.
    """

    def write(
        self,
        conversation_id: str,
        messages: Sequence[Mapping[str, Any]],
        metadata: Mapping[str, Any] | None = None,
        *,
        tools: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Write one conversation; other keys of a message (e.g. ``origin``) are left out."""
        record: dict[str, Any] = {
            "id": str(conversation_id),
            "messages": [
                {key: m[key] for key in ("role", "content", *STRUCTURED_KEYS) if key in m}
                for m in messages
            ],
            "metadata": dict(metadata or {}),
        }
        if tools:
            record["tools"] = list(tools)
        self._write_record(record)


class OpenAIJsonlWriter(_JsonLinesFile):
    """OpenAI's fine-tuning chat format: ``{"messages", "tools"}`` per line, in the same
    order as ``{split}.jsonl``; see :func:`~sftpipeline.turns.openai_message`.

    ``assistant_weights[i]`` is whether the i-th assistant message is trained (``weight``
    1) or not (``weight`` 0).
    """

    def write(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        assistant_weights: Sequence[bool] = (),
    ) -> None:
        weights = iter(assistant_weights)
        rows = [
            openai_message(m, int(next(weights, True)) if m["role"] == "assistant" else None)
            for m in messages
        ]
        record: dict[str, Any] = {"messages": rows}
        if tools:
            record["tools"] = list(tools)
        self._write_record(record)


class _IntLists:
    """A ``list<int32>`` or ``list<int8>`` column's buffered rows as one flat C array and
    its offsets: no Python list per row for the garbage collector to walk again and again
    while the row group fills, and Arrow takes both buffers as they are."""

    _TYPECODES = {pa.int32(): "i", pa.int8(): "b"}

    def __init__(self, list_type: pa.ListType) -> None:
        self.type = list_type
        self.values = array(self._TYPECODES[list_type.value_type])
        self.offsets = array("i", [0])

    @classmethod
    def handles(cls, arrow_type: pa.DataType) -> bool:
        return pa.types.is_list(arrow_type) and arrow_type.value_type in cls._TYPECODES

    def append(self, parts: Sequence[Sequence[int]]) -> None:
        """One row: its parts joined (a pair's side is its prompt's ids then its reply's).
        A part already in an array of the column's type is copied as it is."""
        for part in parts:
            if isinstance(part, list):
                self.values.fromlist(part)
            else:
                self.values.extend(part)
        self.offsets.append(len(self.values))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def arrow(self) -> pa.Array:
        values = pa.Array.from_buffers(
            self.type.value_type, len(self.values), [None, pa.py_buffer(self.values)]
        )
        offsets = pa.Array.from_buffers(
            pa.int32(), len(self.offsets), [None, pa.py_buffer(self.offsets)]
        )
        return pa.ListArray.from_arrays(offsets, values, type=self.type)


class _BufferedParquetWriter(_ClosingWriter):
    """Buffers ``row_group_size`` rows per column, then writes them as one row group.

    A row gives each integer list column as a tuple of parts, joined in the file
    (``(example.input_ids,)`` or ``(prompt_ids, reply_ids)``); other columns as values.
    """

    schema: pa.Schema

    def __init__(
        self, path: str | os.PathLike[str], *, row_group_size: int = DEFAULT_ROW_GROUP_SIZE
    ) -> None:
        if row_group_size < 1:
            raise ValueError("row_group_size must be at least 1")
        self.path = os.fspath(path)
        self.rows = 0
        self.row_group_size = row_group_size
        self._buffered = 0
        self._columns = self._empty_columns()
        self._writer = pq.ParquetWriter(
            self.path,
            self.schema,
            compression="zstd",
            compression_level=3,
            use_dictionary=["id"] if "id" in self.schema.names else False,
            write_statistics=True,
            store_schema=True,
        )

    def _empty_columns(self) -> dict[str, _IntLists | list[Any]]:
        return {
            field.name: _IntLists(field.type) if _IntLists.handles(field.type) else []
            for field in self.schema
        }

    def _append(self, row: Mapping[str, Any]) -> None:
        for name, values in self._columns.items():
            values.append(row[name])
        self.rows += 1
        self._buffered += 1
        if self._buffered >= self.row_group_size:
            self._flush()

    def _flush(self) -> None:
        if not self._buffered:
            return
        arrays = [
            values.arrow() if isinstance(values, _IntLists) else pa.array(values, field.type)
            for field, values in zip(self.schema, self._columns.values(), strict=True)
        ]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        self._writer.write_table(table, row_group_size=self.row_group_size)
        self._buffered = 0
        self._columns = self._empty_columns()

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
                "input_ids": (example.input_ids,),
                "labels": (example.labels,),
                "loss_mask": (example.loss_mask,),
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
                "input_ids": (sequence.input_ids,),
                "labels": (sequence.labels,),
                "loss_mask": (sequence.loss_mask,),
                "position_ids": (sequence.position_ids,),
                "sequence_lengths": (sequence.sequence_lengths,),
                "cu_seqlens": (sequence.cu_seqlens,),
                "example_ids": sequence.example_ids,
                "num_padding": sequence.num_padding,
            }
        )
