"""Import files on their way in: the size limit, and the file kept between preview and
confirm, or until a worker imports it."""

import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.template.defaultfilters import filesizeformat


def too_large_message(size: int | None = None) -> str:
    limit = filesizeformat(settings.UPLOAD_MAX_BYTES)
    if size:
        return f"The file is {filesizeformat(size)}; the upload limit is {limit}."
    return f"The file is larger than the upload limit of {limit}."


def imports_in_background(size: int) -> bool:
    """A file this large is imported by a worker, never inside a web request."""
    return size > settings.IMPORT_SYNC_MAX_BYTES


class UploadLimitHandler(FileUploadHandler):
    """Drops a file part once it passes UPLOAD_MAX_BYTES, so an oversized upload never
    fills the disk; the view then sees `request.upload_too_large`."""

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.UPLOAD_MAX_BYTES:
            # A flag for the view; HttpRequest declares no such attribute.
            self.request.upload_too_large = True  # type: ignore[union-attr]
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None


def limit_uploads(request) -> None:
    """Call before anything reads the request body."""
    request.upload_too_large = False
    request.upload_handlers.insert(0, UploadLimitHandler(request))


def tmp_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


KEPT_PREFIXES = ("prompts", "conversations")


def keep_upload(uploaded, prefix: str = "prompts") -> Path:
    """Copy an uploaded file to MEDIA_ROOT/tmp in chunks; returns its path. Files left
    behind (a preview never confirmed) are removed by the periodic `stale_uploads_remove`."""
    if prefix not in KEPT_PREFIXES:
        raise ValueError(f"prefix: use {' or '.join(KEPT_PREFIXES)}")
    suffix = Path(uploaded.name).suffix.lower()[:10]
    path = tmp_dir() / f"{prefix}-{uuid.uuid4().hex}{suffix}"
    with path.open("wb") as out:
        for chunk in uploaded.chunks():
            out.write(chunk)
    return path


def kept_upload(token: str) -> Path | None:
    """The kept file for a token (from the session, or a queued batch), if it is still there."""
    if not token or "/" in token or not token.startswith(tuple(f"{p}-" for p in KEPT_PREFIXES)):
        return None
    path = tmp_dir() / token
    return path if path.is_file() else None
