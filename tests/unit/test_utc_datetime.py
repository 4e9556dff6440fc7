"""Aware datetimes survive a round trip through the database on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from welfare.models import SystemMarker

KST = timezone(timedelta(hours=9))


def test_an_aware_datetime_round_trips_as_utc(session: Session) -> None:
    seoul_morning = datetime(2026, 11, 24, 9, 30, 15, 123456, tzinfo=KST)
    session.add(SystemMarker(key="t", value="", set_at=seoul_morning))
    session.flush()
    session.expunge_all()
    loaded = session.scalars(select(SystemMarker).where(SystemMarker.key == "t")).one()
    assert loaded.set_at == seoul_morning
    assert loaded.set_at.tzinfo == UTC
    assert loaded.set_at.hour == 0


def test_comparisons_in_sql_use_utc(session: Session) -> None:
    session.add(SystemMarker(key="t", value="", set_at=datetime(2026, 1, 1, 8, tzinfo=KST)))
    session.flush()
    boundary = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)  # 08:30 KST
    assert session.scalar(select(SystemMarker.key).where(SystemMarker.set_at < boundary)) == "t"


def test_a_naive_datetime_is_refused(session: Session) -> None:
    session.add(SystemMarker(key="t", value="", set_at=datetime(2026, 1, 1)))  # noqa: DTZ001 - the naive value under test
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()
