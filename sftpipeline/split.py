"""Deterministic train/validation split and exact-duplicate keys.

A conversation's split depends only on its id, the seed and the fraction —
never on the order or the number of conversations — so re-exporting a grown
project keeps every old conversation on its side of the split.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .turns import ASSISTANT, STRUCTURED_KEYS, export_message

TRAIN = "train"
VALIDATION = "validation"
SPLITS: tuple[str, str] = (TRAIN, VALIDATION)

_UNIT_SCALE = float(1 << 64)


def split_score(conversation_id: str | int, seed: int | str) -> float:
    """A uniform number in [0, 1) from the first 8 bytes of sha256(f"{seed}:{id}")."""
    digest = hashlib.sha256(f"{seed}:{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _UNIT_SCALE


def assign_split(conversation_id: str | int, *, seed: int | str, val_fraction: float) -> str:
    """``"validation"`` for about ``val_fraction`` of ids, ``"train"`` for the rest.

    Raising ``val_fraction`` only moves conversations from train to
    validation, never the other way.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError("val_fraction must be between 0 and 1")
    return VALIDATION if split_score(conversation_id, seed) < val_fraction else TRAIN


def canonical_messages_json(messages: Sequence[Mapping[str, Any]]) -> str:
    """The messages' role, content and structured keys (reasoning, calls, call id) as compact
    JSON with sorted keys; other fields (e.g. origin) are ignored."""
    keys = ("role", "content", *STRUCTURED_KEYS)
    return json.dumps(
        [{key: m[key] for key in keys if key in m} for m in messages],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def dedup_key(messages: Sequence[Mapping[str, Any]]) -> str:
    """sha256 hex of :func:`canonical_messages_json`: equal iff the messages say the same."""
    return hashlib.sha256(canonical_messages_json(messages).encode("utf-8")).hexdigest()


def snapshot_dedup_key(snapshot: Any) -> str:
    """:func:`dedup_key` of a stored revision's messages, shaped as the export writes them
    (reasoning included): the content hash a revision keeps so that an export decides
    duplicates in the database, not in memory.

    A snapshot the export cannot read (it fails on it anyway) hashes its raw JSON.
    """
    try:
        messages = [
            export_message(
                m["role"],
                m["content"],
                reasoning=m.get("reasoning") or "",
                tool_calls=(m.get("tool_calls") or ()) if m["role"] == ASSISTANT else (),
                tool_call_id=m.get("tool_call_id") or "",
            )
            for m in snapshot
        ]
    except (TypeError, KeyError, AttributeError, ValueError):
        raw = json.dumps(snapshot, ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()
    return dedup_key(messages)


class Deduplicator:
    """Remembers the conversations seen so far; keeps the first of each exact duplicate.

    Holds a 32-byte digest per distinct conversation.
    """

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        self.duplicates = 0

    def is_duplicate(self, messages: Sequence[Mapping[str, Any]]) -> bool:
        """True if these messages were seen before (and count it); otherwise remember them."""
        digest = bytes.fromhex(dedup_key(messages))
        if digest in self._seen:
            self.duplicates += 1
            return True
        self._seen.add(digest)
        return False
