"""A birth date is checked against the Seoul calendar date everywhere, as registration does:
between midnight and 09:00 in Seoul the UTC date is still yesterday, and a baby born today
in Seoul must be found by RRN and imported as they are registered."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from services import resident_import, residents
from tests.support.casework import with_check_digit
from welfare.models import Actor

# 01:30 on 2 December in Seoul, still 1 December in UTC.
EARLY = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
BORN_TODAY_IN_SEOUL = with_check_digit("261202300001")  # a girl born 2026-12-02 (century 3)
GASAN = "1154551000"
SYSTEM = Actor.system("test")


def test_a_resident_born_today_in_seoul_is_found_by_rrn_before_nine(session: Session) -> None:
    registered = residents.register_resident(
        session, actor=SYSTEM, name="오늘생", rrn=BORN_TODAY_IN_SEOUL, dong=GASAN, now=EARLY
    )
    found = residents.search_residents(session, actor=SYSTEM, rrn=BORN_TODAY_IN_SEOUL, now=EARLY)
    assert [r.id for r in found] == [registered.id]


def test_a_resident_born_today_in_seoul_is_imported_before_nine(session: Session) -> None:
    rows = resident_import.read_csv(
        io.StringIO(
            f"name,rrn,dong,phone,address,household_type\n오늘생,{BORN_TODAY_IN_SEOUL},{GASAN},,,\n"
        )
    )
    summary = resident_import.import_residents(session, actor=SYSTEM, rows=rows, now=EARLY)
    assert (summary.imported, summary.bad) == (1, [])
