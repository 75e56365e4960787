"""The whole published export as one zip, streamed: never built in memory or on disk."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import IO

from exports.models import ExportJob

from .jobs import export_artifact_stream

_CHUNK = 1 << 20


class _Pipe:
    """A write-only file for ZipFile that hands out what was written since the last take.
    Not seekable, so zipfile writes data descriptors after each member (streamable)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def export_zip_stream(*, job: ExportJob) -> Iterator[bytes]:
    """The job's published files (the same ones, checked the same way as each download) in a
    zip under `export-<id>/`, a megabyte at a time, read through the job's storage (local
    folder or S3 bucket). The caller has checked who may read it."""
    folder = f"export-{job.id}"
    names = [artifact.name for artifact in job.artifacts.all()]
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[call-overload]
        for name in names:
            opened: IO[bytes] | None = export_artifact_stream(job=job, name=name)
            if opened is None:
                continue
            with (
                opened as source,
                archive.open(f"{folder}/{name}", "w", force_zip64=True) as member,
            ):
                while chunk := source.read(_CHUNK):
                    member.write(chunk)
                    yield pipe.take()
            yield pipe.take()
    yield pipe.take()
