"""Reading prompt files: UTF-8 lines, JSONL and CSV records, one line at a time.

Nothing here judges a record; `import_rows` does. Shared with the conversation import
(`decoded_lines`, `ImportFileError`).
"""

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIELDS = ("prompt", "messages", "candidates", "system", "domain", "draft", "metadata", "id")
# Fields with a structure a CSV cell cannot hold: JSONL only.
JSON_ONLY_FIELDS = ("messages", "candidates")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, format, header)."""


@dataclass
class ImportSource:
    """Where rows come from: a file on disk (read twice, streamed) or a list from the API."""

    name: str
    path: Path | None = None
    items: list | None = None

    @property
    def kind(self) -> str:
        if self.items is not None:
            return "json"
        suffix = Path(self.name).suffix.lower()
        if suffix == ".csv":
            return "csv"
        if suffix in (".jsonl", ".ndjson", ".json", ".txt"):
            return "jsonl"
        assert self.path is not None  # without items, the rows are in the file
        with open(self.path, "rb") as handle:
            head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        return "jsonl" if head[:1] in (b"{", b'"', b"[") else "csv"

    def records(self) -> Iterator[tuple[str, Any]]:
        """("line 7", parsed object | BadRecord) for every row, in file order."""
        if self.items is not None:
            for number, item in enumerate(self.items, start=1):
                yield f"item {number}", item
            return
        assert self.path is not None  # without items, the rows are in the file
        with open(self.path, "rb") as handle:
            lines = decoded_lines(handle)
            if self.kind == "csv":
                yield from _csv_records(lines)
            else:
                yield from _jsonl_records(lines)


@dataclass
class BadRecord:
    """A record that cannot be parsed; the message names the line and why."""

    message: str


def decoded_lines(handle: Iterable[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file (BOM or not), one line at a time.

    Any other encoding raises ImportFileError naming the line. Shared by every import.
    """
    for number, raw in enumerate(handle, start=1):
        if number == 1:
            if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise ImportFileError(
                    "line 1: the file is UTF-16; save it as UTF-8 and upload it again"
                )
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ImportFileError(
                f"line {number}: not UTF-8 text (byte 0x{raw[error.start]:02x} at column "
                f"{error.start + 1}); save the file as UTF-8 and upload it again"
            ) from None


def _jsonl_records(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[str, Any]]:
    for number, text in lines:
        if not text.strip():
            continue
        try:
            yield f"line {number}", json.loads(text)
        except json.JSONDecodeError as error:
            yield (
                f"line {number}",
                BadRecord(f"line {number}: not valid JSON: {error.msg} (column {error.colno})"),
            )


def _csv_records(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[str, Any]]:
    lines = iter(lines)
    numbers = [0]

    def texts() -> Iterator[str]:
        for number, text in lines:
            numbers[0] = number
            yield text

    reader = csv.reader(texts())
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as error:
        raise ImportFileError(f"line 1: the CSV header cannot be read: {error}") from None
    if "prompt" not in header:
        found = ", ".join(f'"{h}"' for h in header) or "nothing"
        raise ImportFileError(f'line 1: the CSV header needs a "prompt" column (found {found})')
    for name in header:
        if name not in FIELDS or name in JSON_ONLY_FIELDS:
            allowed = ", ".join(f for f in FIELDS if f not in JSON_ONLY_FIELDS)
            raise ImportFileError(f'line 1: column "{name}": unknown column; use {allowed}')
        if header.count(name) > 1:
            raise ImportFileError(f'line 1: column "{name}" appears twice')
    start = numbers[0] + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield f"line {start}", BadRecord(f"line {start}: the CSV cannot be read here: {error}")
            return
        where, start = f"line {start}", numbers[0] + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield where, BadRecord(f"{where}: {len(row)} columns, the header has {len(header)}")
            continue
        record = {name: value for name, value in zip(header, row, strict=True) if value != ""}
        record.setdefault("prompt", "")
        if "metadata" in record:
            try:
                record["metadata"] = json.loads(record["metadata"])
            except json.JSONDecodeError as error:
                yield where, BadRecord(f'{where}: column "metadata": not valid JSON: {error.msg}')
                continue
        yield where, record
