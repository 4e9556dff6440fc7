"""Monthly partitions of access records and contacts on PostgreSQL (migration 0020).

`audit_events` is partitioned by RANGE on `at` and `contacts` on `occurred_at`, one partition per
calendar month in UTC (`<table>_pYYYYMM`), plus a DEFAULT partition (`<table>_default`). A row
for a month whose partition does not exist yet lands in DEFAULT, so no write ever fails for want
of a partition, and no request ever creates one (creating a partition locks the parent table,
which would queue every writer behind one request). The `partitions` job keeps this month's and
the next `MONTHS_AHEAD` months' partitions in place and moves any rows that landed in DEFAULT
into partitions of their own months, so retention can drop whole months. SQLite has plain tables:
everything here is a no-op there.

DDL here runs with a short `lock_timeout`: a job that cannot get its lock fails and runs again
later, rather than queueing every writer of the district behind it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

# The partitioned tables and their partition keys.
PARTITIONED: Mapping[str, str] = {"audit_events": "at", "contacts": "occurred_at"}
MONTHS_AHEAD = 3
LOCK_TIMEOUT = "10s"
# audit_events partitions each carry the TRUNCATE guard (a statement trigger is not cloned).
AUDIT_RETENTION_DAYS = 730
_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<year>\d{4})(?P<month>\d{2})$")


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """One month's partition: rows with `lower <= key < upper`."""

    lower: datetime
    upper: datetime
    name: str

    @property
    def month(self) -> str:
        return f"{self.lower:%Y-%m}"


def is_partitioned(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def month_start(value: datetime) -> datetime:
    """The first instant (UTC) of the month holding `value`."""
    return value.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(month: datetime) -> datetime:
    if month.month == 12:
        return month.replace(year=month.year + 1, month=1)
    return month.replace(month=month.month + 1)


def partition_name(table: str, month: datetime) -> str:
    return f"{table}_p{month:%Y%m}"


def default_partition(table: str) -> str:
    return f"{table}_default"


def partitions(session: Session, table: str) -> list[Partition]:
    """The monthly partitions of `table`, oldest first (DEFAULT left out)."""
    _check(table)
    names = session.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:table AS regclass)"
        ),
        {"table": table},
    ).all()
    found = []
    for name in names:
        match = _NAME.match(name)
        if match is None or match["table"] != table:
            continue
        lower = datetime(int(match["year"]), int(match["month"]), 1, tzinfo=UTC)
        found.append(Partition(lower=lower, upper=next_month(lower), name=name))
    return sorted(found)


def ensure_partitions(
    session: Session, now: datetime, *, months_ahead: int = MONTHS_AHEAD
) -> dict[str, int]:
    """Create this month's and the next `months_ahead` months' partitions of every partitioned
    table, and move rows that landed in DEFAULT into partitions of their own months; returns
    {"<table>_created": n, "<table>_moved": m}. Idempotent; a no-op on SQLite."""
    if not is_partitioned(session):
        return {}
    with ddl_lock_timeout(session):
        return _ensure(session, now, months_ahead)


def _ensure(session: Session, now: datetime, months_ahead: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in PARTITIONED:
        wanted = []
        month = month_start(now)
        for _ in range(months_ahead + 1):
            wanted.append(month)
            month = next_month(month)
        moved = _move_out_of_default(session, table)
        existing = {p.lower for p in partitions(session, table)}
        created = 0
        for month in wanted:
            if month not in existing:
                _create(session, table, month)
                created += 1
        counts[f"{table}_created"] = created + moved[0]
        counts[f"{table}_moved"] = moved[1]
    return counts


def _move_out_of_default(session: Session, table: str) -> tuple[int, int]:
    """Give the months of rows waiting in DEFAULT their partitions and move the rows there, in
    one transaction: DEFAULT is detached (a partition cannot be created while DEFAULT holds rows
    of its range), the rows copied through the parent into their new partitions exactly as they
    were, deleted from the detached table (no longer guarded: the copy is in the same
    transaction) and DEFAULT attached again. Returns (partitions created, rows moved)."""
    key = PARTITIONED[table]
    default = default_partition(table)
    if not session.scalar(text(f"SELECT EXISTS (SELECT 1 FROM {default})")):  # noqa: S608
        return 0, 0
    session.execute(text(f"ALTER TABLE {table} DETACH PARTITION {default}"))
    # Read after detaching: no row can join DEFAULT from here on.
    months = [
        month_start(m)
        for m in session.scalars(
            text(f"SELECT DISTINCT date_trunc('month', {key}, 'UTC') FROM {default}")  # noqa: S608 - constant names
        )
    ]
    for month in months:
        _create(session, table, month)
    session.execute(text(f"INSERT INTO {table} SELECT * FROM {default}"))  # noqa: S608 - constant names
    result = session.execute(text(f"DELETE FROM {default}"))  # noqa: S608 - constant names
    moved = cast(CursorResult[Any], result).rowcount
    session.execute(text(f"ALTER TABLE {table} ATTACH PARTITION {default} DEFAULT"))
    return len(months), int(moved)


def _create(session: Session, table: str, month: datetime) -> None:
    name = partition_name(table, month)
    session.execute(
        text(
            f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM "
            f"('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
        )
    )
    if table == "audit_events":
        session.execute(
            text(
                f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION welfare_audit_append_only('{AUDIT_RETENTION_DAYS}')"
            )
        )


def drop_partition(session: Session, table: str, partition: Partition) -> None:
    """Detach and drop one month's partition (retention: the caller decided it may go)."""
    _check(table)
    with ddl_lock_timeout(session):
        session.execute(text(f"ALTER TABLE {table} DETACH PARTITION {partition.name}"))
        session.execute(text(f"DROP TABLE {partition.name}"))


@contextmanager
def ddl_lock_timeout(session: Session) -> Iterator[None]:
    """DDL in this block waits at most LOCK_TIMEOUT for the parent table's lock; after it, the
    transaction's other waits (the chain lock) are as before."""
    session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    yield
    # Not in a `finally`: after a failure the transaction rolls back, and the setting with it.
    session.execute(text("SET LOCAL lock_timeout = DEFAULT"))


def _check(table: str) -> None:
    if table not in PARTITIONED:
        raise ValueError(f"{table} is not partitioned")


@dataclass(frozen=True, slots=True)
class ContactsDropped:
    rows: int
    months: list[str]
    held: list[str]  # months kept because a contact in them is on an open case's file


def drop_expired_contacts(session: Session, *, older_than: datetime) -> ContactsDropped:
    """Drop the contact partitions whose every contact occurred before `older_than`, except a
    month holding a contact of a resident with an open case (a legal hold: the case's file
    still needs its contacts); such a month stays until the case closes. Rows waiting in
    DEFAULT stay until the `partitions` job gives them their month. A no-op on SQLite."""
    if not is_partitioned(session):
        return ContactsDropped(rows=0, months=[], held=[])
    boundary = month_start(older_than)
    dropped: list[str] = []
    held: list[str] = []
    rows = 0
    for partition in partitions(session, "contacts"):
        if partition.upper > boundary:
            continue
        on_hold = session.scalar(
            text(
                f"SELECT EXISTS (SELECT 1 FROM {partition.name} c JOIN cases k "  # noqa: S608 - a partition's name
                "ON k.resident_id = c.resident_id WHERE k.closed_at IS NULL)"
            )
        )
        if on_hold:
            held.append(partition.month)
            continue
        rows += session.scalar(text(f"SELECT count(*) FROM {partition.name}")) or 0  # noqa: S608
        drop_partition(session, "contacts", partition)
        dropped.append(partition.month)
    return ContactsDropped(rows=rows, months=dropped, held=held)
