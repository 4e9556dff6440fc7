"""Keyset pagination: opaque cursors over a stable sort key, never OFFSET."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from welfare.errors import InvalidInput

T = TypeVar("T")
MAX_LIMIT = 200
INVALID_CURSOR = {"cursor": ["잘못된 커서입니다 (invalid cursor)"]}


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*values: Any) -> str:
    raw = json.dumps([str(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if (
            not isinstance(values, list)
            or len(values) != size
            or not all(isinstance(v, str) for v in values)
        ):
            raise ValueError
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past json's stack
        raise InvalidInput(INVALID_CURSOR) from None
    return values


def decode_instant(raw: str) -> datetime:
    """A time taken from a cursor, in UTC. Cursors are forgeable: a naive time would reach an
    aware column, and one near year 1 or 9999 cannot be moved to UTC; both are invalid."""
    try:
        value = datetime.fromisoformat(raw)
        if value.utcoffset() is None:
            raise ValueError(raw)
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(INVALID_CURSOR) from None
