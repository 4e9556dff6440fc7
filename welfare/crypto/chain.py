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

# The unkeyed placeholder a freshly migrated chain head holds until a process with the key writes
# the chain's keyed genesis (`genesis_hash`). Chains started before keyed geneses existed link
# their first record to it.
GENESIS_HASH = "0" * 64
HASH_HEX_LENGTH = 64

# Head, genesis, checkpoint and seal MAC messages start with these prefixes; link messages start
# with a lowercase hex digest, and "h", "g", "k" and "s" are not hex digits, so no two kinds of
# message can ever be mistaken for each other.
_HEAD_PREFIX = b"head:"
_SEAL_PREFIX = b"seal:"
_GENESIS_PREFIX = b"genesis:"
_CHECKPOINT_PREFIX = b"checkpoint:"
_REANCHOR_PREFIX = b"reanchor:"
_MARK_PREFIX = b"verified:"


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


def _fields_mac(key: bytes, domain: bytes, fields: Mapping[str, Any]) -> str:
    """HMAC-SHA256 of canonical JSON under a domain prefix, so one kind of MAC never passes for
    another."""
    return hmac.new(key, domain + canonical_json(fields), hashlib.sha256).hexdigest()


def seal_mac(key: bytes, payload: bytes) -> str:
    """The MAC a record carries from the moment it is appended, before it has a place in its
    chain: a record altered before it was linked no longer matches it."""
    return hmac.new(key, _SEAL_PREFIX + payload, hashlib.sha256).hexdigest()


def head_mac(key: bytes, fields: Mapping[str, Any]) -> str:
    """The MAC of a chain head, so the head cannot be rewound without the key."""
    return _fields_mac(key, _HEAD_PREFIX, fields)


def genesis_hash(key: bytes, *, chain: str, started_at: datetime) -> str:
    """The keyed genesis of a chain: a MAC naming the chain and the instant it was started.

    It is the `prev_hash` of the chain's first link, so every link descends from one start that
    only the key holder could have written; a chain started again has another genesis.
    """
    fields = {"chain": chain, "started_at": canonical_instant(started_at)}
    return _fields_mac(key, _GENESIS_PREFIX, fields)


def checkpoint_mac(key: bytes, fields: Mapping[str, Any]) -> str:
    """The MAC of a checkpoint line kept outside the database, so a forged line is detected."""
    return _fields_mac(key, _CHECKPOINT_PREFIX, fields)


def reanchor_mac(key: bytes, fields: Mapping[str, Any]) -> str:
    """The MAC of a re-anchor record: retention dropped these links, so a forged or edited
    record (another range, other months) is detected."""
    return _fields_mac(key, _REANCHOR_PREFIX, fields)


def verified_mark_mac(key: bytes, fields: Mapping[str, Any]) -> str:
    """The MAC of a verified-up-to mark: a forged one would let retention skip a walk."""
    return _fields_mac(key, _MARK_PREFIX, fields)


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
