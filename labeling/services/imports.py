"""Prompt import: one validator behind the browser upload, the bulk API and the CLI.

Files are streamed twice and never held whole: the first pass validates every line and
finds duplicates (keeping only a 64-bit text key per row) without writing anything, the
second inserts in batches inside one transaction. Any error imports nothing.

Reading files is in `import_files`, checking each record in `import_rows`.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.db import transaction

from config.nul import without_nul
from core.exceptions import ApplicationError
from core.jobs import JobLost
from labeling.models import Candidate, Domain, ImportBatch, Project, Prompt, User

from .counters import PROMPTS, counts_add
from .import_files import ImportFileError, ImportSource, decoded_lines
from .import_rows import PromptRow, RowValidator, text_key

# Names other modules import from here.
__all__ = [
    "ON_DUPLICATE",
    "ImportFileError",
    "ImportReport",
    "ImportReportStatus",
    "ImportSource",
    "decoded_lines",
    "prompts_import",
    "prompts_preview",
    "text_key",
]

PREVIEW_ROWS = 10
MESSAGES_KEPT = 200
BATCH_SIZE = 1000
ON_DUPLICATE = ("skip", "fail")


class ImportReportStatus(StrEnum):
    """Where a report stands: checked only, saved as a batch, or refused (nothing saved)."""

    PREVIEW = "preview"
    IMPORTED = "imported"
    FAILED = "failed"

    @classmethod
    def values(cls) -> list[str]:
        """The bare values: the API's choices, labelled by themselves."""
        return [status.value for status in cls]


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
    status: ImportReportStatus = ImportReportStatus.PREVIEW

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


# Checking and saving -----------------------------------------------------------------


def _preview_row(row: PromptRow) -> dict:
    return {
        "line": row.where,
        "prompt": row.text[:300],
        "system": row.system[:200],
        "domain": row.domain.slug if row.domain else "",
        "draft": row.draft[:200],
        "turns_before": len(row.messages) // 2,
        "id": row.source_id,
        "candidates": len(row.candidates),
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
    source: ImportSource, validate: RowValidator, report: ImportReport | None
) -> Iterator[PromptRow]:
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
    default_domain: Domain | None = None,
) -> tuple[ImportReport, set]:
    """First pass: validate every row and find duplicates. Returns the report and the
    positions ("line 7") of duplicate rows. Memory: one small entry per row."""
    if on_duplicate not in ON_DUPLICATE:
        raise ApplicationError(f"use {' or '.join(ON_DUPLICATE)}", field="on_duplicate")
    report = ImportReport(file_name=source.name, on_duplicate=on_duplicate)
    allowed = {d.slug for d in project.domains.all()}
    if default_domain is not None and allowed and default_domain.slug not in allowed:
        report.add_error(
            f'domain: "{default_domain.slug}" is not a domain of this project '
            f"({', '.join(sorted(allowed))})"
        )
        return report, set()
    validate = RowValidator(project, default_domain)
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


def prompts_preview(
    *,
    project: Project,
    source: ImportSource,
    on_duplicate: str = "skip",
    default_domain: Domain | None = None,
) -> ImportReport:
    """Validate a file without saving anything: counts, first rows, errors and duplicates.
    `default_domain` goes to every row that names no domain of its own."""
    report, _ = _scan(project, source, on_duplicate, default_domain=default_domain)
    return report


class _Failed(Exception):
    pass


class ImportCancelled(Exception):
    """Someone asked the background import to stop; nothing was saved."""


def prompts_import(
    *,
    project: Project,
    source: ImportSource,
    user: User | None,
    on_duplicate: str = "skip",
    batch: ImportBatch | None = None,
    progress: Progress | None = None,
    default_domain: Domain | None = None,
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
    report, duplicate_rows = _scan(project, source, on_duplicate, progress, default_domain)
    if report.ok:
        if progress:
            # Every row is checked; what is left is one transaction with no figures.
            progress(ImportBatch.Step.SAVING, report.rows_read, report.rows_read)
        try:
            with transaction.atomic():
                return _insert(project, source, user, batch, report, duplicate_rows, default_domain)
        except _Failed:
            pass
        except ImportFileError as error:
            report.add_error(str(error))
    batch = import_batch_record(
        batch,
        project=project,
        file_name=source.name,
        user=user,
        status=ImportBatch.Status.FAILED,
        rows_read=report.rows_read,
        errors=report.all_messages(),
    )
    report.batch_id, report.status = batch.pk, ImportReportStatus.FAILED
    return report


def _insert(
    project: Project,
    source: ImportSource,
    user: User | None,
    batch: ImportBatch | None,
    report: ImportReport,
    duplicate_rows: set[str],
    default_domain: Domain | None,
) -> ImportReport:
    """Pass 2. Caller holds a transaction; raises `_Failed` to roll everything back."""
    # NO KEY: labelers keep taking tasks in this project meanwhile.
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    if batch is not None:
        import_batch_still_running(batch)
    batch = import_batch_record(
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
    rows = _valid_rows(source, RowValidator(project, default_domain), recheck)
    rows = (row for row in rows if row.where not in duplicate_rows)
    for chunk in _chunks(rows, BATCH_SIZE):
        keys = [row.key for row in chunk]
        in_project = _keys_in_project(project, keys)
        fresh, fresh_rows = [], []
        for row, key in zip(chunk, keys, strict=True):
            if key in in_project:
                report.add_duplicate(f"{row.where}: the project already has this prompt")
            else:
                fresh.append(_prompt(project, batch, row))
                fresh_rows.append(row)
        if not report.ok:
            raise _Failed
        Prompt.objects.bulk_create(fresh)
        if project.is_ranking:
            # bulk_create set each prompt's id (PostgreSQL, SQLite 3.35+): candidates follow.
            Candidate.objects.bulk_create(
                Candidate(prompt=prompt, position=position, **candidate)
                for prompt, row in zip(fresh, fresh_rows, strict=True)
                for position, candidate in enumerate(row.candidates)
            )
        counts_add(
            project_id=project.pk,
            changes=[(prompt.domain_id, PROMPTS, 1) for prompt in fresh],
        )
        report.rows_imported += len(fresh)
    if recheck.error_count:
        for message in recheck.all_messages():
            report.add_error(message)
        raise _Failed
    batch.rows_imported = report.rows_imported
    batch.duplicates_skipped = report.duplicate_count
    batch.save(update_fields=["rows_imported", "duplicates_skipped"])
    report.batch_id, report.status = batch.pk, ImportReportStatus.IMPORTED
    return report


def import_batch_still_running(batch: ImportBatch) -> None:
    """A background import saves only while its run owns the batch (a second delivery
    may have taken it over) and nobody asked it to stop; the batch row stays locked
    until the save commits, so a cancel comes before it or finds it imported."""
    cancel_requested = (
        ImportBatch.objects.select_for_update()
        .filter(pk=batch.pk, attempt=batch.attempt, status=ImportBatch.Status.RUNNING)
        .values_list("cancel_requested", flat=True)
        .first()
    )
    if cancel_requested is None:
        raise JobLost(f"import {batch.pk} was taken over")
    if cancel_requested:
        raise ImportCancelled


def import_batch_record(
    batch: ImportBatch | None, *, kind: str = ImportBatch.Kind.PROMPTS, **fields: Any
) -> ImportBatch:
    """Create the batch row of an import of `kind`, or fill in the queued one a background
    import started with.

    What it stores quotes the file (its name, its CSV header): a NUL there is shown, not
    stored, so a failed import is always recorded."""
    file_name = without_nul(fields.pop("file_name"))[:255]
    if "errors" in fields:
        fields["errors"] = [without_nul(message) for message in fields["errors"]]
    user = fields.pop("user")
    if batch is None:
        return ImportBatch.objects.create(kind=kind, file_name=file_name, created_by=user, **fields)
    # Only while this run still owns the batch (its attempt): a run taken over writes nothing.
    if not ImportBatch.objects.filter(pk=batch.pk, attempt=batch.attempt).update(**fields):
        raise JobLost(f"import {batch.pk} was taken over")
    for name, value in fields.items():
        setattr(batch, name, value)
    return batch


def _prompt(project: Project, batch: ImportBatch, row: PromptRow) -> Prompt:
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
