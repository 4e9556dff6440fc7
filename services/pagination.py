"""Keyset pagination: every list pages through `paginate`, over a stable sort key, never OFFSET.

A cursor is the sort key of the last row a page returned, JSON-encoded and base64url'd. It is
opaque to clients but not secret, and clients can send anything in its place, so decoding
validates every value against the key's kind before it reaches SQL: a forged, truncated, naive,
out-of-range or absurdly nested cursor is a 422 (`InvalidInput` on `cursor`), never a 500.
See docs/architecture.md ("Lists").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from welfare.errors import InvalidInput

T = TypeVar("T")
U = TypeVar("U")
MAX_LIMIT = 200
BIGINT_MAX = 2**63 - 1
MAX_CURSOR_LENGTH = 1024  # a real cursor is under 200 characters
INVALID_CURSOR = {"cursor": ["잘못된 커서입니다 (invalid cursor)"]}


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with every item converted (e.g. decrypted into a view)."""
        return Page(items=[convert(item) for item in self.items], next_cursor=self.next_cursor)


class KeyKind(Enum):
    """What a sort-key value is, which decides how a cursor value is checked."""

    INSTANT = "instant"  # an aware datetime, compared in UTC
    UUID = "uuid"
    TEXT = "text"
    INTEGER = "integer"  # a BIGINT


@dataclass(frozen=True, slots=True)
class SortKey:
    column: InstrumentedAttribute[Any]
    kind: KeyKind


@dataclass(frozen=True, slots=True)
class Keyset:
    """The sort key of one list: columns in order, the last one unique (usually the id)."""

    keys: tuple[SortKey, ...]
    descending: bool = False

    @classmethod
    def of(
        cls, *keys: tuple[InstrumentedAttribute[Any], KeyKind], descending: bool = False
    ) -> Keyset:
        return cls(
            keys=tuple(SortKey(column, kind) for column, kind in keys), descending=descending
        )

    def order_by(self) -> list[ColumnElement[Any]]:
        return [k.column.desc() if self.descending else k.column.asc() for k in self.keys]

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows strictly after `values` in this order: (a > x) or (a = x and b > y) ...

        Written out rather than as a row-value comparison so both databases use the same
        composite index for it.
        """
        branches = []
        for i, key in enumerate(self.keys):
            equal = [self.keys[j].column == values[j] for j in range(i)]
            beyond = key.column < values[i] if self.descending else key.column > values[i]
            branches.append(and_(*equal, beyond))
        return or_(*branches)

    @property
    def tag(self) -> str:
        """Names the list a cursor belongs to (its sort key), so one list's cursor, or a bare
        forgery of the right shape, is refused by another instead of read as its values."""
        spec = ",".join(f"{k.column.class_.__name__}.{k.column.key}" for k in self.keys)
        return hashlib.sha256(f"{spec}:{self.descending}".encode()).hexdigest()[:8]

    def encode(self, row: Any) -> str:
        values = [_encode_value(getattr(row, k.column.key), k.kind) for k in self.keys]
        raw = json.dumps([self.tag, *values], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str) -> list[Any]:
        """The values a cursor names, each checked against its kind; InvalidInput otherwise."""
        try:
            if len(cursor) > MAX_CURSOR_LENGTH:
                raise ValueError("too long")
            padded = cursor + "=" * (-len(cursor) % 4)
            decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if not isinstance(decoded, list) or len(decoded) != len(self.keys) + 1:
                raise ValueError("wrong shape")
            tag, *values = decoded
            if tag != self.tag:
                raise ValueError("another list's cursor")
            return [_decode_value(v, k.kind) for v, k in zip(values, self.keys, strict=True)]
        # RecursionError: "[[[[…" nested past json's stack; UnicodeError: non-ASCII input.
        except (ValueError, TypeError, RecursionError, UnicodeError, binascii.Error):
            raise InvalidInput(INVALID_CURSOR) from None


def paginate(
    session: Session,
    stmt: Select[Any],
    keyset: Keyset,
    *,
    cursor: str | None,
    limit: int,
    max_limit: int = MAX_LIMIT,
) -> Page[Any]:
    """One page of `stmt` (already filtered and scoped) in keyset order after `cursor`.

    Fetches limit + 1 rows to learn whether another page exists, without counting.
    """
    if not 1 <= limit <= max_limit:
        raise InvalidInput(
            {"limit": [f"1~{max_limit} 사이여야 합니다 (between 1 and {max_limit})"]}
        )
    if cursor is not None:
        stmt = stmt.where(keyset.after(keyset.decode(cursor)))
    rows = list(session.scalars(stmt.order_by(*keyset.order_by()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=keyset.encode(rows[-1]) if more and rows else None)


def _encode_value(value: Any, kind: KeyKind) -> str | int:
    if kind is KeyKind.INSTANT:
        return str(value.astimezone(UTC).isoformat())
    if kind is KeyKind.INTEGER:
        return int(value)
    return str(value)


def _decode_value(value: Any, kind: KeyKind) -> Any:
    if kind is KeyKind.INTEGER:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("not an integer")
        if not -BIGINT_MAX <= value <= BIGINT_MAX:  # past BIGINT the query parameter overflows
            raise ValueError("out of range")
        return value
    if not isinstance(value, str):
        raise TypeError("not a string")
    if kind is KeyKind.UUID:
        return uuid.UUID(value)
    if kind is KeyKind.INSTANT:
        return decode_instant(value)
    if "\x00" in value:  # PostgreSQL refuses NUL in text
        raise ValueError("NUL")
    return value


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
