"""Prompt import: one validator behind the browser upload, the bulk API and the CLI.

Files are streamed twice and never held whole: the first pass validates every line and
finds duplicates (keeping only a 64-bit text key per row) without writing anything, the
second inserts in batches inside one transaction. Any error imports nothing.
"""

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.db import transaction

from labeling.models import Domain, ImportBatch, Project, Prompt, User

FIELDS = ("prompt", "messages", "system", "domain", "draft", "metadata", "id")
PREVIEW_ROWS = 10
MESSAGES_KEPT = 200
BATCH_SIZE = 1000
MAX_TEXT_CHARS = 100_000
ON_DUPLICATE = ("skip", "fail")


def text_key(text: str) -> str:
    """sha256 of the whitespace-folded text: what "the same prompt" means."""
    return hashlib.sha256(re.sub(r"\s+", " ", text).strip().encode()).hexdigest()


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
        with open(self.path, "rb") as handle:
            head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        return "jsonl" if head[:1] in (b"{", b'"', b"[") else "csv"

    def records(self) -> Iterator[tuple[str, Any]]:
        """("line 7", parsed object | _Bad) for every row, in file order."""
        if self.items is not None:
            for number, item in enumerate(self.items, start=1):
                yield f"item {number}", item
            return
        with open(self.path, "rb") as handle:
            lines = decoded_lines(handle)
            if self.kind == "csv":
                yield from _csv_records(lines)
            else:
                yield from _jsonl_records(lines)


@dataclass
class _Bad:
    message: str


@dataclass
class _Row:
    where: str
    text: str
    system: str
    draft: str
    messages: list
    domain: Domain | None
    metadata: dict
    source_id: str

    @property
    def key(self) -> str:
        earlier = "\n".join(f"{m['role']}: {m['content']}" for m in self.messages)
        return text_key(f"{earlier}\nuser: {self.text}" if earlier else self.text)


@dataclass
class ImportReport:
    """What a file holds and what is wrong with it, line by line."""

    file_name: str
    on_duplicate: str = "skip"
    rows_read: int = 0
    rows_valid: int = 0
    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    duplicate_count: int = 0
    duplicates: list[str] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)
    rows_imported: int = 0
    batch_id: int | None = None
    status: str = "preview"

    @property
    def ok(self) -> bool:
        return not self.error_count and not (self.on_duplicate == "fail" and self.duplicate_count)

    @property
    def rows_to_import(self) -> int:
        return self.rows_valid - self.duplicate_count

    def add_error(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MESSAGES_KEPT:
            self.errors.append(message)

    def add_duplicate(self, message: str) -> None:
        self.duplicate_count += 1
        if len(self.duplicates) < MESSAGES_KEPT:
            self.duplicates.append(message)

    def all_messages(self) -> list[str]:
        messages = list(self.errors)
        if self.error_count > len(self.errors):
            messages.append(f"… and {self.error_count - len(self.errors)} more errors")
        if self.on_duplicate == "fail":
            messages += self.duplicates
            if self.duplicate_count > len(self.duplicates):
                more = self.duplicate_count - len(self.duplicates)
                messages.append(f"… and {more} more duplicates")
        return messages

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "file_name": self.file_name,
            "batch": self.batch_id,
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_imported": self.rows_imported,
            "duplicates_found": self.duplicate_count,
            "on_duplicate": self.on_duplicate,
            "error_count": self.error_count,
            "errors": self.all_messages() if self.error_count else [],
            "duplicates": self.duplicates,
            "preview": self.preview,
        }


# Reading ------------------------------------------------------------------------------


def decoded_lines(handle: IO[bytes]) -> Iterator[tuple[int, str]]:
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
                _Bad(f"line {number}: not valid JSON: {error.msg} (column {error.colno})"),
            )


def _csv_records(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[str, Any]]:
    lines = iter(lines)
    numbers = [0]

    def texts():
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
        if name not in FIELDS or name == "messages":
            allowed = ", ".join(f for f in FIELDS if f != "messages")
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
            yield f"line {start}", _Bad(f"line {start}: the CSV cannot be read here: {error}")
            return
        where, start = f"line {start}", numbers[0] + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield where, _Bad(f"{where}: {len(row)} columns, the header has {len(header)}")
            continue
        record = {name: value for name, value in zip(header, row, strict=True) if value != ""}
        record.setdefault("prompt", "")
        if "metadata" in record:
            try:
                record["metadata"] = json.loads(record["metadata"])
            except json.JSONDecodeError as error:
                yield where, _Bad(f'{where}: column "metadata": not valid JSON: {error.msg}')
                continue
        yield where, record


# Validating ---------------------------------------------------------------------------


class _Validator:
    """Turns one parsed record into a `_Row`, or into the messages of what is wrong."""

    def __init__(self, project: Project):
        self.domains = {d.slug: d for d in Domain.objects.all()}
        self.project_domains = {d.slug for d in project.domains.all()}

    def __call__(self, where: str, record: Any) -> _Row | list[str]:
        if isinstance(record, _Bad):
            return [record.message]
        if isinstance(record, str):
            record = {"prompt": record}
        if not isinstance(record, dict):
            kind = type(record).__name__.replace("dict", "object").replace("list", "array")
            return [f"{where}: expected a JSON object or a JSON string, got {kind}"]
        errors: list[str] = []

        def bad(name: str, problem: str) -> None:
            errors.append(f'{where}: field "{name}": {problem}')

        for name in record:
            if name not in FIELDS:
                bad(name, f"unknown field; use {', '.join(FIELDS)}")
        strings = {}
        for name in ("prompt", "system", "draft", "domain"):
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                bad(name, f"must be text, got {type(value).__name__}")
                value = None
            if value is not None and len(value) > MAX_TEXT_CHARS:
                bad(name, f"longer than {MAX_TEXT_CHARS:,} characters")
            strings[name] = value or ""

        text, system, earlier = strings["prompt"], strings["system"], []
        if "messages" in record:
            if "prompt" in record:
                bad("messages", 'give either "prompt" or "messages", not both')
            else:
                text, system, earlier = self._messages(record["messages"], system, bad)
        elif not text.strip():
            bad("prompt", "required and not empty" if "prompt" in record else "missing")

        domain = None
        if strings["domain"]:
            domain = self.domains.get(strings["domain"].strip())
            if domain is None:
                bad("domain", f'unknown domain "{strings["domain"]}"')
            elif self.project_domains and domain.slug not in self.project_domains:
                allowed = ", ".join(sorted(self.project_domains))
                bad("domain", f'"{domain.slug}" is not a domain of this project ({allowed})')

        metadata = record.get("metadata", {})
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            bad("metadata", "must be a JSON object")
        source_id = record.get("id", "")
        if source_id is None:
            source_id = ""
        if isinstance(source_id, bool) or not isinstance(source_id, str | int):
            bad("id", "must be text or a number")
        elif len(str(source_id)) > 255:
            bad("id", "longer than 255 characters")
        if errors:
            return errors
        return _Row(
            where=where,
            text=text,
            system=system,
            draft=strings["draft"],
            messages=earlier,
            domain=domain,
            metadata=metadata,
            source_id=str(source_id),
        )

    @staticmethod
    def _messages(messages: Any, system: str, bad: Callable) -> tuple[str, str, list]:
        if not isinstance(messages, list) or not messages:
            bad("messages", "must be a non-empty array of {role, content}")
            return "", system, []
        turns = []
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                bad("messages", f"message {index + 1}: needs a role and a text content")
                return "", system, []
            turns.append((message.get("role"), message["content"]))
        if turns[0][0] == "system":
            if system:
                bad("messages", 'a system message in "messages" and in "system": keep one')
            system = turns.pop(0)[1]
        for index, (role, _) in enumerate(turns):
            expected = "user" if index % 2 == 0 else "assistant"
            if role != expected:
                position = index + 1 + (len(messages) - len(turns))
                bad("messages", f'message {position}: role "{role}", expected "{expected}"')
                return "", system, []
        if not turns or turns[-1][0] != "user":
            bad("messages", "must end with a user message (the prompt to answer)")
            return "", system, []
        text = turns[-1][1]
        if not text.strip():
            bad("messages", "the last user message is empty")
        earlier = [{"role": role, "content": content} for role, content in turns[:-1]]
        return text, system, earlier


def _preview_row(row: _Row) -> dict:
    return {
        "line": row.where,
        "prompt": row.text[:300],
        "system": row.system[:200],
        "domain": row.domain.slug if row.domain else "",
        "draft": row.draft[:200],
        "turns_before": len(row.messages) // 2,
        "id": row.source_id,
    }


def _chunks(rows: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _valid_rows(
    source: ImportSource, validate: _Validator, report: ImportReport | None
) -> Iterator[_Row]:
    for where, record in source.records():
        result = validate(where, record)
        if report is not None:
            report.rows_read += 1
        if isinstance(result, list):
            if report is not None:
                for message in result:
                    report.add_error(message)
            continue
        if report is not None:
            report.rows_valid += 1
            if len(report.preview) < PREVIEW_ROWS:
                report.preview.append(_preview_row(result))
        yield result


# Progress: `progress(step, rows_done, rows_total or None)` after every chunk of rows.
Progress = Callable[[str, int, int | None], None]


def _scan(
    project: Project,
    source: ImportSource,
    on_duplicate: str,
    progress: Progress | None = None,
) -> tuple[ImportReport, set]:
    """First pass: validate every row and find duplicates. Returns the report and the
    positions ("line 7") of duplicate rows. Memory: one small entry per row."""
    if on_duplicate not in ON_DUPLICATE:
        raise ValueError(f"on_duplicate: use {' or '.join(ON_DUPLICATE)}")
    report = ImportReport(file_name=source.name, on_duplicate=on_duplicate)
    validate = _Validator(project)
    first_seen: dict[int, str] = {}
    duplicate_rows: set[str] = set()
    try:
        for chunk in _chunks(_valid_rows(source, validate, report), BATCH_SIZE):
            keys = [row.key for row in chunk]
            in_project = _keys_in_project(project, keys)
            for row, key in zip(chunk, keys, strict=True):
                short = int(key[:16], 16)
                if key in in_project:
                    report.add_duplicate(f"{row.where}: the project already has this prompt")
                    duplicate_rows.add(row.where)
                elif short in first_seen:
                    report.add_duplicate(f"{row.where}: same prompt as {first_seen[short]}")
                    duplicate_rows.add(row.where)
                else:
                    first_seen[short] = row.where
            if progress:
                progress(ImportBatch.Step.CHECKING, report.rows_read, None)
    except ImportFileError as error:
        report.add_error(str(error))
    if report.rows_read == 0 and not report.error_count:
        report.add_error("the file has no prompts")
    return report, duplicate_rows


def _keys_in_project(project: Project, keys: list[str]) -> set[str]:
    return set(
        Prompt.objects.filter(project=project, text_key__in=keys).values_list("text_key", flat=True)
    )


def prompts_preview(*, project: Project, source: ImportSource, on_duplicate: str = "skip"):
    """Validate a file without saving anything: counts, first rows, errors and duplicates."""
    report, _ = _scan(project, source, on_duplicate)
    return report


class _Failed(Exception):
    pass


def prompts_import(
    *,
    project: Project,
    source: ImportSource,
    user: User | None,
    on_duplicate: str = "skip",
    batch: ImportBatch | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a file of prompts into a project: all of it, or (on any error) nothing.

    Either way an `ImportBatch` records who, when, the file, the counts and the errors
    (`batch`, when given, is the queued batch a background import fills in). Duplicates
    (same whitespace-folded text in the project or earlier in the file) are skipped, or
    fail the import with `on_duplicate="fail"`.

    Pass 1 validates the whole file outside any transaction: it writes nothing, holds no
    lock, and `progress` may commit figures others can read meanwhile. Pass 2 inserts in
    one transaction under the project's row lock, so two imports into one project save one
    after the other; it checks again for prompts the project gained since pass 1.
    """
    report, duplicate_rows = _scan(project, source, on_duplicate, progress)
    if report.ok:
        if progress:
            # Every row is checked; what is left is one transaction with no figures.
            progress(ImportBatch.Step.SAVING, report.rows_read, report.rows_read)
        try:
            with transaction.atomic():
                return _insert(project, source, user, batch, report, duplicate_rows)
        except _Failed:
            pass
        except ImportFileError as error:
            report.add_error(str(error))
    batch = _batch_record(
        batch,
        project=project,
        file_name=source.name,
        user=user,
        status=ImportBatch.Status.FAILED,
        rows_read=report.rows_read,
        errors=report.all_messages(),
    )
    report.batch_id, report.status = batch.pk, "failed"
    return report


def _insert(
    project: Project,
    source: ImportSource,
    user: User | None,
    batch: ImportBatch | None,
    report: ImportReport,
    duplicate_rows: set[str],
) -> ImportReport:
    """Pass 2. Caller holds a transaction; raises `_Failed` to roll everything back."""
    # NO KEY: labelers keep taking tasks in this project meanwhile.
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    batch = _batch_record(
        batch,
        project=project,
        file_name=source.name,
        user=user,
        status=ImportBatch.Status.IMPORTED,
        rows_read=report.rows_read,
    )
    # Rows are validated again as they are read; one that turned bad since pass 1 (a domain
    # deleted meanwhile) fails the import like any other error.
    recheck = ImportReport(file_name=source.name)
    rows = _valid_rows(source, _Validator(project), recheck)
    rows = (row for row in rows if row.where not in duplicate_rows)
    for chunk in _chunks(rows, BATCH_SIZE):
        keys = [row.key for row in chunk]
        in_project = _keys_in_project(project, keys)
        fresh = []
        for row, key in zip(chunk, keys, strict=True):
            if key in in_project:
                report.add_duplicate(f"{row.where}: the project already has this prompt")
            else:
                fresh.append(_prompt(project, batch, row))
        if not report.ok:
            raise _Failed
        Prompt.objects.bulk_create(fresh)
        report.rows_imported += len(fresh)
    if recheck.error_count:
        for message in recheck.all_messages():
            report.add_error(message)
        raise _Failed
    batch.rows_imported = report.rows_imported
    batch.duplicates_skipped = report.duplicate_count
    batch.save(update_fields=["rows_imported", "duplicates_skipped"])
    report.batch_id, report.status = batch.pk, "imported"
    return report


def _batch_record(batch: ImportBatch | None, **fields) -> ImportBatch:
    """Create the batch row, or fill in the queued one a background import started with."""
    file_name = fields.pop("file_name")[:255]
    user = fields.pop("user")
    if batch is None:
        return ImportBatch.objects.create(
            kind=ImportBatch.Kind.PROMPTS, file_name=file_name, created_by=user, **fields
        )
    for name, value in fields.items():
        setattr(batch, name, value)
    batch.save(update_fields=list(fields))
    return batch


def _prompt(project: Project, batch: ImportBatch, row: _Row) -> Prompt:
    return Prompt(
        project=project,
        text=row.text,
        text_key=row.key,
        system=row.system,
        draft=row.draft,
        messages=row.messages,
        domain=row.domain,
        metadata=row.metadata,
        source_id=row.source_id,
        import_batch=batch,
    )
