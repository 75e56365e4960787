"""Uploaded tokenizer vocabularies: o200k_base's `.tiktoken` file or a Hugging Face tokenizer."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import transaction

from exports.models import TokenizerAsset
from labeling.models import User
from sftpipeline.hashing import sha256_bytes
from sftpipeline.tokenizers import O200K_BASE, TokenizerError, get_tokenizer

from .config import ExportConfigError

HF_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def _copy(source: IO[bytes], target: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(target, "wb") as out:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


@transaction.atomic
def tokenizer_asset_upload(
    *, kind: str, label: str, files: Mapping[str, IO[bytes]], uploaded_by: User
) -> TokenizerAsset:
    """Store an uploaded vocabulary after loading it once with the real loader.

    `files` maps file names to readable binary files: for o200k_base one `.tiktoken`
    file (checked against the published sha256); for Hugging Face `tokenizer.json`
    and optionally `tokenizer_config.json` and `chat_template.jinja`. Raises
    ExportConfigError saying what is wrong; nothing is kept on failure.
    """
    if kind not in TokenizerAsset.Kind.values:
        raise ExportConfigError({"kind": f"unknown tokenizer kind {kind!r}"})
    if kind == O200K_BASE:
        if len(files) != 1:
            raise ExportConfigError({"files": "upload exactly one o200k_base.tiktoken file"})
        main_name = "o200k_base.tiktoken"
        wanted = {main_name: next(iter(files.values()))}
    else:
        unknown = sorted(set(files) - set(HF_FILES))
        if unknown or "tokenizer.json" not in files:
            raise ExportConfigError(
                {
                    "files": "upload tokenizer.json, optionally with tokenizer_config.json "
                    "or chat_template.jinja" + (f" (not {', '.join(unknown)})" if unknown else "")
                }
            )
        main_name = "tokenizer.json"
        wanted = dict(files)
    root = Path(settings.MEDIA_ROOT) / "tokenizers"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".upload-"))
    try:
        digests = {name: _copy(handle, staging / name) for name, handle in wanted.items()}
        try:
            loaded = get_tokenizer(kind, staging / main_name if kind == O200K_BASE else staging)
        except TokenizerError as error:
            raise ExportConfigError({"files": str(error).replace(str(staging) + "/", "")}) from None
        size, main_digest = digests[main_name]
        combined = sha256_bytes(
            "".join(f"{name}:{digests[name][1]}\n" for name in sorted(digests)).encode()
        )
        folder = root / combined
        if folder.exists():
            shutil.rmtree(staging)
        else:
            staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TokenizerAsset.objects.create(
        kind=kind,
        label=label.strip() or main_name,
        folder=str(folder.relative_to(settings.MEDIA_ROOT)),
        file_name=main_name,
        sha256=loaded.fingerprint if kind == O200K_BASE else main_digest,
        size=size,
        uploaded_by=uploaded_by,
    )
