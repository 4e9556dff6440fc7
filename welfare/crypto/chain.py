"""Keyed hash-chain primitives for the access records: canonical payloads, link and head MACs.

A plain hash chain can be recomputed by anyone who can write to the database; keying it with
HMAC-SHA256 under the audit key (kept outside the database) means a rewritten row can only be
made to verify by someone who also holds the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

# The prev_hash of the very first link of every chain.
GENESIS_HASH = "0" * 64
HASH_HEX_LENGTH = 64

# Head MAC messages start with this prefix; link messages start with a lowercase hex digest, and
# "h" is not a hex digit, so the two kinds of message can never be mistaken for each other.
_HEAD_PREFIX = b"head:"


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no whitespace, UTF-8, UUIDs and instants as text."""
    return json.dumps(
        value,
        default=_to_json,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def canonical_instant(value: datetime) -> str:
    """An aware instant as ISO-8601 UTC with microseconds, identical on every backend."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime in an access record")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def link_hash(key: bytes, prev_hash: str, payload: bytes) -> str:
    """HMAC-SHA256(key, prev_hash || payload) as lowercase hex."""
    if len(prev_hash) != HASH_HEX_LENGTH:
        raise ValueError("prev_hash must be 64 hex characters")
    return hmac.new(key, prev_hash.encode("ascii") + payload, hashlib.sha256).hexdigest()


def head_mac(key: bytes, fields: Mapping[str, Any]) -> str:
    """The MAC of a chain head, so the head cannot be rewound without the key."""
    return hmac.new(key, _HEAD_PREFIX + canonical_json(fields), hashlib.sha256).hexdigest()


def same_digest(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two hex digests (None never matches)."""
    if a is None or b is None:
        return False
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))


def _to_json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return canonical_instant(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(_to_json(v) if not isinstance(v, str) else v for v in value)
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")
