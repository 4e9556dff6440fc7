"""Declarative base, constraint naming convention and reusable typed column types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from sqlalchemy import JSON, DateTime, MetaData, String, Uuid, bindparam, literal
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Every constraint gets a predictable name so each migration can drop what it created.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend.

    SQLite has no time zones, so values are stored as naive UTC and given their zone back on
    load; PostgreSQL stores `timestamptz`. Naive datetimes are refused on the way in: a naive
    value is a bug that would silently shift a safety deadline by nine hours.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_sqlite_text(value: datetime) -> str:
    """What `UTCDateTime` binds on SQLite (naive UTC in SQLAlchemy's DATETIME text form,
    microseconds always), in one step: bulk inserts convert thousands of values, and the
    type's own chain (TypeDecorator, then SQLAlchemy's formatter) costs twice as much.
    Compared with that chain in tests/services/test_bulk_insert.py."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def utcnow() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


UUIDPk = Annotated[uuid.UUID, mapped_column(Uuid, primary_key=True, default=uuid.uuid4)]
UTCTimestamp = Annotated[datetime, mapped_column(UTCDateTime())]
Str40 = Annotated[str, mapped_column(String(40))]


class Base(DeclarativeBase):
    """The declarative base every model shares."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), uuid.UUID: Uuid()}


def in_literals(column: Any, values: Any) -> Any:
    """`column IN ('a', 'b')` with the values written into the SQL.

    SQLite uses a partial index only when the query repeats the index's condition literally;
    with bound parameters it scans the whole table (and a generic PostgreSQL plan may too).
    Use this for every condition that a partial index is defined on.
    """
    return column.in_(bindparam(None, list(values), expanding=True, literal_execute=True))


def eq_literal(column: Any, value: Any) -> Any:
    """`column = 'a'` with the value written into the SQL (see `in_literals`)."""
    return column == literal(value, literal_execute=True)


class HistoryEntry:
    """The columns of a history table (`dispatch_events`, `referral_events`): what happened
    (`kind`), when, by whom, and `detail` — codes, states and staff ids only, never personal
    data, so an entry needs no sealing and outlives an erasure. Rows are never updated or
    deleted. The subject's foreign key is the table's own."""

    id: Mapped[UUIDPk]
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))
    actor_staff_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
