"""Where export files live: a local folder (EXPORT_ROOT, the default) or an S3-compatible bucket.

`EXPORT_STORAGE_URL=s3://bucket/prefix` selects the bucket; the endpoint and keys come
from boto3's own variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION). boto3 rather than fsspec/s3fs: it is the reference S3 client, reads
those variables itself, uploads large files in parallel parts (`upload_file`), signs
download URLs, and has no async layer pinned to a botocore version in between.

Both keep the rule that a dataset exists only once its manifest does. Shards put their
finished files into the export's place as they finish; the final step writes the card
and then the manifest. Locally the shards' files wait in a hidden staging folder that is
renamed into place in one step after the manifest is written; in a bucket (no rename)
the files go straight to their keys and `manifest.json` is uploaded last.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from django.conf import settings

from sftpipeline.publish import MANIFEST_NAME, atomic_directory

S3_SCHEME = "s3://"


class LocalStorage:
    """Exports as folders under `root`; shared by every worker only if `root` is (NFS…)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def location(self, folder: str) -> str:
        return str(self.root / folder)

    def _staging(self, folder: str) -> Path:
        # Matches atomic_directory's `.{name}.*.tmp`, so an unsharded retry clears it.
        return self.root / f".{folder}.shards.tmp"

    @contextlib.contextmanager
    def shard_workspace(self, folder: str) -> Iterator[Path]:
        """A private folder for one shard run, on the staging folder's filesystem."""
        staging = self._staging(folder)
        staging.mkdir(parents=True, exist_ok=True)
        workspace = staging / f".shard-{uuid.uuid4().hex}"
        workspace.mkdir()
        try:
            yield workspace
        finally:
            shutil.rmtree(workspace, ignore_errors=True)

    def shard_commit(self, folder: str, workspace: Path) -> None:
        """Move a finished shard's files into the staging folder, each whole (fsync, rename)."""
        staging = self._staging(folder)
        for path in sorted(workspace.iterdir()):
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(path, staging / path.name)

    def present(self, folder: str) -> dict[str, int]:
        """The staged files with their sizes."""
        staging = self._staging(folder)
        if not staging.is_dir():
            return {}
        return {p.name: p.stat().st_size for p in staging.iterdir() if p.is_file()}

    def publish(self, folder: str, finish: Callable[[Path], Any]) -> None:
        """`finish(folder)` writes the card and the manifest beside the staged files; then
        the whole folder is published at once (renamed into place)."""
        staging = self._staging(folder)
        target = self.root / folder
        with atomic_directory(target, overwrite=True) as fresh:
            for path in staging.iterdir():
                if path.is_file():
                    os.replace(path, fresh / path.name)
            finish(fresh)
        shutil.rmtree(staging, ignore_errors=True)

    def unpublish(self, folder: str) -> None:
        shutil.rmtree(self.root / folder, ignore_errors=True)

    def discard(self, folder: str) -> None:
        """Drop an unfinished export's staged files."""
        shutil.rmtree(self._staging(folder), ignore_errors=True)

    def reset(self, folder: str) -> None:
        """Drop every hidden staging folder a killed run of this export left behind."""
        for stale in self.root.glob(f".{folder}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)

    def open(self, location: str, name: str) -> IO[bytes] | None:
        folder = Path(location).resolve()
        path = (folder / name).resolve()
        if folder not in path.parents or not path.is_file():
            return None
        return path.open("rb")

    def presigned_url(self, location: str, name: str) -> str | None:
        return None


class S3Storage:
    """Exports under `s3://bucket/prefix/<folder>/`; `manifest.json` is written last."""

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @property
    def client(self) -> Any:
        return _s3_client()

    def _key(self, folder: str, name: str = "") -> str:
        return "/".join(part for part in (self.prefix, folder, name) if part)

    def location(self, folder: str) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self._key(folder)}"

    @contextlib.contextmanager
    def shard_workspace(self, folder: str) -> Iterator[Path]:
        workspace = Path(tempfile.mkdtemp(prefix=f"{folder}-shard-"))
        try:
            yield workspace
        finally:
            shutil.rmtree(workspace, ignore_errors=True)

    def shard_commit(self, folder: str, workspace: Path) -> None:
        """Upload a finished shard's files to their final keys (an object appears whole)."""
        for path in sorted(workspace.iterdir()):
            self.client.upload_file(str(path), self.bucket, self._key(folder, path.name))

    def _objects(self, folder: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(folder) + "/"):
            yield from page.get("Contents", [])

    def present(self, folder: str) -> dict[str, int]:
        start = len(self._key(folder)) + 1
        return {item["Key"][start:]: item["Size"] for item in self._objects(folder)}

    def publish(self, folder: str, finish: Callable[[Path], Any]) -> None:
        """`finish(folder)` writes the card and the manifest locally; the card is uploaded,
        then the manifest: from that moment the dataset exists."""
        with tempfile.TemporaryDirectory(prefix=f"{folder}-final-") as workspace:
            finish(Path(workspace))
            names = sorted(p.name for p in Path(workspace).iterdir() if p.name != MANIFEST_NAME)
            for name in [*names, MANIFEST_NAME]:
                self.client.upload_file(
                    str(Path(workspace) / name), self.bucket, self._key(folder, name)
                )

    def unpublish(self, folder: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(folder, MANIFEST_NAME))

    def discard(self, folder: str) -> None:
        """Remove an unfinished export's objects (never one whose manifest is there)."""
        if MANIFEST_NAME in self.present(folder):
            return
        for item in self._objects(folder):
            self.client.delete_object(Bucket=self.bucket, Key=item["Key"])

    def reset(self, folder: str) -> None:
        self.discard(folder)

    def _location_key(self, location: str, name: str) -> tuple[str, str] | None:
        if not location.startswith(S3_SCHEME) or "/" in name or name in ("", ".", ".."):
            return None
        bucket, _, key = location.removeprefix(S3_SCHEME).partition("/")
        return bucket, f"{key}/{name}"

    def open(self, location: str, name: str) -> IO[bytes] | None:
        where = self._location_key(location, name)
        if where is None:
            return None
        response = self.client.get_object(Bucket=where[0], Key=where[1])
        return response["Body"]

    def presigned_url(self, location: str, name: str) -> str | None:
        where = self._location_key(location, name)
        if where is None or not settings.EXPORT_S3_PRESIGNED_SECONDS:
            return None
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": where[0],
                    "Key": where[1],
                    "ResponseContentDisposition": f'attachment; filename="{name}"',
                },
                ExpiresIn=settings.EXPORT_S3_PRESIGNED_SECONDS,
            )
        )


ExportStorage = LocalStorage | S3Storage


@cache
def _s3_client() -> Any:
    import boto3

    # boto3 reads AWS_ENDPOINT_URL, the keys and the region from the environment itself.
    return boto3.client("s3")


def export_storage(url: str | None = None) -> ExportStorage:
    """The storage EXPORT_STORAGE_URL names (`url` when given)."""
    url = settings.EXPORT_STORAGE_URL if url is None else url
    if url.startswith(S3_SCHEME):
        parsed = urlparse(url)
        return S3Storage(parsed.netloc, parsed.path)
    return LocalStorage(Path(url) if url else Path(settings.EXPORT_ROOT))


def storage_for_location(location: str) -> ExportStorage:
    """The storage a published job's `output_dir` is in (it may predate a settings change)."""
    if location.startswith(S3_SCHEME):
        bucket, _, _ = location.removeprefix(S3_SCHEME).partition("/")
        return S3Storage(bucket, "")
    return LocalStorage(Path(location).parent)
