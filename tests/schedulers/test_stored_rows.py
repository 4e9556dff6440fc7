"""SQLite's stored-text way to raise lapses (`FollowUpRule.stored`) hands the INSERT exactly what
the object way binds: the same follow-up columns, value for value, as the driver receives them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

import pytest
from flask import Flask
from sqlalchemy import Table, text
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from schedulers.rules import ongi as ongi_rule
from services import ongi, residents
from services.followups import Raises
from tests.support.casework import with_check_digit
from tests.support.staff import GASAN, make_staff
from welfare.database import Database
from welfare.models import FollowUp
from welfare.models.bulk import _sqlite_processor, _sqlite_values, json_serializer

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
AS_OF = T0 + timedelta(days=10)
FOLLOWUPS = cast(Table, FollowUp.__table__)
COLUMNS = tuple(Raises.__dataclass_fields__)  # each a column of `followups`
DIALECT: Any = sqlite_dialect()
SERIALIZE = json_serializer(DIALECT)


def bound(raises: Raises) -> dict[str, list[Any]]:
    """Each follow-up column of `raises` as SQLite's driver receives it from `insert_columns`."""
    count = len(raises.reason)
    return {
        name: list(
            _sqlite_values(
                getattr(raises, name), _sqlite_processor(DIALECT, FOLLOWUPS.c[name].type), count
            )
        )
        for name in COLUMNS
    }


class StoredRow(NamedTuple):
    """A row of `lapsed(..., stored=True)`: the columns as SQLite stores them."""

    id: str
    resident_id: str
    dong_code: str
    risk_level: str
    interval_hours: int
    last_success_at: str | None
    next_due_at: str | None


class ObjectRow(NamedTuple):
    """The same row as SQLAlchemy reads it."""

    id: uuid.UUID
    resident_id: uuid.UUID
    dong_code: str
    risk_level: str
    interval_hours: int
    last_success_at: datetime | None
    next_due_at: datetime | None


def read(row: StoredRow) -> ObjectRow:
    """`row` through the columns' own result processing (what the object way reads)."""
    enrollment = cast(Table, ongi.OngiEnrollment.__table__)

    def value(name: str, raw: Any) -> Any:
        column_type = enrollment.c[name].type.dialect_impl(DIALECT)
        process = column_type.result_processor(DIALECT, None)
        return process(raw) if process is not None and raw is not None else raw

    return ObjectRow(*(value(name, raw) for name, raw in zip(ObjectRow._fields, row, strict=True)))


def both_ways(rows: Sequence[StoredRow]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    stored = ongi_rule.lapses_stored(rows, AS_OF, SERIALIZE)
    objects = Raises.of([ongi_rule.lapse(read(row), AS_OF) for row in rows], SERIALIZE)
    return bound(stored), bound(objects)


ID = uuid.UUID("0f0e4e3a-9b1c-4d2e-8f3a-5b6c7d8e9f01")
RESIDENT = uuid.UUID("a1b2c3d4-e5f6-4789-9abc-def012345678")


@pytest.mark.parametrize(
    ("enrollment_id", "resident_id", "last", "due"),
    [
        # SQLAlchemy's own forms: 32 hex digits, naive UTC with microseconds
        (ID.hex, RESIDENT.hex, "2026-10-31 23:59:59.123456", "2026-11-01 00:00:00.000001"),
        (ID.hex, RESIDENT.hex, None, "2026-11-01 09:30:00.000000"),  # a zero fraction
        (ID.hex, RESIDENT.hex, "2026-10-31 00:00:00.000000", "2026-11-01 09:30:00.500000"),
        # forms another writer (a repair, an import) may have left, read as the column reads them
        (str(ID).upper(), str(RESIDENT), "2026-10-31 23:59:59", "2026-11-01 09:30:00"),
        (ID.hex.upper(), "{" + str(RESIDENT) + "}", "2026-10-31T23:59:59.5", "2026-11-01 09:30"),
        (ID.hex, RESIDENT.hex, None, None),  # no due time: due as of the tick, as `lapse` says
    ],
)
def test_stored_rows_bind_what_the_objects_bind(
    enrollment_id: str, resident_id: str, last: str | None, due: str | None
) -> None:
    row = StoredRow(enrollment_id, resident_id, "1154551000", "high", 24, last, due)
    stored, objects = both_ways([row, row._replace(risk_level="low", interval_hours=72)])
    assert stored == objects


def test_the_ticks_stored_rows_bind_what_its_objects_bind(db: Database, app: Flask) -> None:
    """On a real database: the lapse query read as stored text and read as objects gives the
    same follow-ups, in the same order, column by column."""
    if db.dialect != "sqlite":
        pytest.skip("the stored-text way is SQLite's")
    counselor = make_staff(app, "counselor", (GASAN,)).actor()
    with db.new_session() as s:
        for n, risk in enumerate(("high", "medium", "low", "high"), start=1):
            at = T0 + timedelta(minutes=n, microseconds=0 if n % 2 else 250_000)
            view = residents.register_resident(
                s,
                actor=counselor,
                name=f"주민{n}",
                rrn=with_check_digit(f"4001{n:02d}1{n:05d}"),
                dong=GASAN,
                now=at,
            )
            ongi.enroll(
                s, actor=counselor, resident_id=view.id, risk_level=risk, now=at, enrolled_at=at
            )
        s.commit()
    with db.new_session() as s:
        # one due time in the form another writer may leave (no fraction)
        s.execute(
            text(
                "UPDATE ongi_enrollments SET next_due_at = substr(next_due_at, 1, 19) "
                "WHERE risk_level = 'medium'"
            )
        )
        s.commit()
        stored_rows = s.execute(ongi_rule.lapsed(AS_OF, stored=True)).all()
        object_rows = s.execute(ongi_rule.lapsed(AS_OF)).all()
    assert len(stored_rows) == 4
    stored = bound(ongi_rule.lapses_stored(stored_rows, AS_OF, SERIALIZE))
    objects = bound(Raises.of([ongi_rule.lapse(row, AS_OF) for row in object_rows], SERIALIZE))
    assert stored == objects
