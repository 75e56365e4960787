"""Atomic publication of an export folder and its ``manifest.json``.

Files are written into a hidden staging folder beside the destination (same
filesystem), fsynced, and renamed into place in one step: readers see either
no export or a complete one. On any exception the staging folder is removed
and nothing is published.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from .hashing import sha256_file

MANIFEST_NAME = "manifest.json"
CARD_NAME = "README.md"
MANIFEST_VERSION = 1
_PACKAGE = "sft-studio"


@contextmanager
def atomic_directory(
    destination: str | os.PathLike[str], *, overwrite: bool = False
) -> Iterator[Path]:
    """Yield a staging folder; on normal exit publish it as ``destination`` atomically.

    ``destination`` must not exist unless ``overwrite`` is true, in which case
    the old folder is swapped out and removed after the new one is in place.
    """
    target = Path(destination)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging
        os.chmod(staging, 0o755)
        _fsync_tree(staging)
        if target.exists() and overwrite:
            retired = target.parent / f".{target.name}.{uuid.uuid4().hex}.old"
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
        _fsync_directory(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_directory(folder)


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe --tags --always --dirty`` of this checkout, else the package version.

    Stable across runs of the same code, so it may go into hashed output.
    """
    repository = Path(__file__).resolve().parents[1]
    try:
        described = subprocess.run(
            ["git", "describe", "--tags", "--always", "--dirty"],
            cwd=repository,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        if described:
            return described
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return metadata.version(_PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown"


def describe_files(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Name (POSIX path relative to ``folder``), size and sha256 of every file but the manifest."""
    root = Path(folder)
    files = []
    for path in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
        name = path.relative_to(root).as_posix()
        if path.is_file() and name != MANIFEST_NAME:
            files.append({"name": name, "bytes": path.stat().st_size, "sha256": sha256_file(path)})
    return files


def write_manifest(
    folder: str | os.PathLike[str],
    *,
    config: Mapping[str, Any],
    counts: Mapping[str, Any],
    token_statistics: Mapping[str, Any],
    tokenizer: Mapping[str, Any] | None = None,
    version: str | None = None,
    created_at: datetime | str | None = None,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write ``manifest.json`` into ``folder`` (call it last) and return its content.

    Lists every other file with its size and sha256: ``files`` when given (the files
    may live elsewhere, e.g. in a bucket), else those in ``folder``. Time appears only if the
    caller passes ``created_at``: with the same data, config and a fixed (or
    no) ``created_at`` the manifest is byte-identical across runs. ``version``
    defaults to :func:`code_version`.
    """
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "code_version": version if version is not None else code_version(),
        "config": dict(config),
        "counts": dict(counts),
        "token_statistics": dict(token_statistics),
        "files": describe_files(folder) if files is None else files,
    }
    if tokenizer is not None:
        manifest["tokenizer"] = dict(tokenizer)
    if created_at is not None:
        manifest["created_at"] = (
            created_at.isoformat() if isinstance(created_at, datetime) else created_at
        )
    text = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    (Path(folder) / MANIFEST_NAME).write_text(text, encoding="utf-8", newline="\n")
    return manifest
