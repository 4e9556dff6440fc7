"""Bulk inserts (welfare.models.bulk): what lands is what the ORM writes, in a bounded number of
statements however many rows, conflicts on a partial unique index skipped and not returned."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Table, event, select
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import followups
from services.followups import Raise
from welfare.calendar import BusinessCalendar
from welfare.models import DataKey, FollowUp, FollowUpEvent, OutboxMessage
from welfare.models.base import UTCDateTime, utc_sqlite_text
from welfare.models.bulk import copy_rows, insert_rows
from welfare.models.followup import LIVE

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
OUTBOX = cast(Table, OutboxMessage.__table__)
FOLLOWUPS = cast(Table, FollowUp.__table__)
DATA_KEYS = cast(Table, DataKey.__table__)


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    """Every statement the driver receives on the session's connection while the block runs."""
    seen: list[str] = []
    engine = session.get_bind().engine
    session.connection()  # the transaction (the fixture's SAVEPOINT) begins before counting

    def before(_c: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def notice(n: int, *, at: datetime = T0) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "idempotency_key": f"bulk-test:{uuid.uuid4()}:{n}",
        "kind": "followup_step",
        # Quotes, backslashes, Korean and nesting: what a JSON column must carry unchanged.
        "payload": {"n": n, "note": 'a "quoted" \\ 한글', "nested": {"list": [1, None, "x"]}},
        "created_at": at + timedelta(microseconds=n),
        "next_attempt_at": at,
        "attempts": n % 3,
        "delivered_at": None,  # a column that is None in every row
        "last_error": None,
    }


@pytest.mark.parametrize("count", [1, 7, 250])
def test_rows_land_as_the_orm_would_write_them(session: Session, count: int) -> None:
    rows = [notice(n) for n in range(count)]
    insert_rows(session, OUTBOX, rows)
    stored = {
        m.id: m
        for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_([r["id"] for r in rows]))
        )
    }
    assert len(stored) == count
    for row in rows:
        message = stored[row["id"]]
        assert message.payload == row["payload"]
        assert message.created_at == row["created_at"]  # aware UTC, microseconds kept
        assert message.created_at.tzinfo is not None
        assert (message.attempts, message.delivered_at) == (row["attempts"], None)
        assert message.idempotency_key == row["idempotency_key"]


def test_a_naive_datetime_is_refused_as_the_column_type_refuses_it(session: Session) -> None:
    row = notice(1) | {"created_at": datetime(2026, 11, 2)}  # noqa: DTZ001 - the point
    with pytest.raises(Exception, match="naive datetime"):
        insert_rows(session, OUTBOX, [row])


@pytest.mark.parametrize("count", [10, 400])
def test_the_statements_sent_do_not_grow_with_the_rows(session: Session, count: int) -> None:
    rows = [notice(n) for n in range(count)]
    with statements(session) as seen:
        insert_rows(session, OUTBOX, rows)
    dialect = session.get_bind().dialect.name
    # PostgreSQL: one INSERT ... SELECT FROM ROWS FROM (unnest ...). SQLite: one executemany,
    # which the event sees once.
    assert len(seen) == 1, seen if dialect == "postgresql" else len(seen)
    assert len(seen[0]) < 2000  # one short statement, not a VALUES list per row


def test_conflicts_on_the_partial_index_are_skipped_and_not_returned(session: Session) -> None:
    subject = uuid.uuid4()

    def followup(reason: str) -> dict[str, Any]:
        return {
            "id": uuid.uuid4(),
            "subject_type": "resident",
            "subject_id": subject,
            "resident_id": None,
            "dong_code": None,
            "program": "ongi",
            "reason": reason,
            "risk_level": "high",
            "state": "open",
            "step": 1,
            "due_at": T0,
            "next_escalation_at": T0,
            "raised_at": T0,
            "raised_by_run_id": None,
            "evidence": {"k": "v"},
            "incident_id": None,
            "risk_rank": 0,
            "version": 1,
        }

    first = [followup("contact_lapsed"), followup("care_response_overdue")]
    returned = insert_rows(
        session,
        FOLLOWUPS,
        first,
        returning=(FollowUp.id, FollowUp.reason),
        skip_conflicts_on=("subject_id", "reason"),
        conflict_where=LIVE,
    )
    assert {(r.id, r.reason) for r in returned} == {(f["id"], f["reason"]) for f in first}
    again = [followup("contact_lapsed"), followup("hygiene_visit_missed")]
    returned = insert_rows(
        session,
        FOLLOWUPS,
        again,
        returning=(FollowUp.id, FollowUp.reason),
        skip_conflicts_on=("subject_id", "reason"),
        conflict_where=LIVE,
    )
    assert [(r.id, r.reason) for r in returned] == [(again[1]["id"], "hygiene_visit_missed")]
    live = session.scalars(select(FollowUp.reason).where(FollowUp.subject_id == subject)).all()
    assert sorted(live) == ["care_response_overdue", "contact_lapsed", "hygiene_visit_missed"]


@pytest.mark.parametrize("count", [5, 300])
def test_raising_sends_a_bounded_number_of_statements_whatever_the_batch(
    session: Session, count: int
) -> None:
    raises = [
        Raise(
            subject_type="resident",
            subject_id=uuid.uuid4(),
            resident_id=None,
            dong_code="1154551000",
            program="ongi",
            reason="contact_lapsed",
            risk_level="high",
            due_at=T0,
            evidence={"n": n},
        )
        for n in range(count)
    ]
    with statements(session) as seen:
        raised = followups.raise_many(
            session, raises, as_of=T0, run_id=None, calendar=BusinessCalendar()
        )
    assert raised == count
    # The follow-ups (RETURNING), their events, their notices: three, not three per row. SQLite
    # reads the inserted follow-ups back by id (RETURNING cannot ride an executemany): four.
    postgres = session.get_bind().dialect.name == "postgresql"
    assert len(seen) == (3 if postgres else 4), seen
    assert session.scalar(
        select(FollowUpEvent.id).where(
            FollowUpEvent.followup_id.in_(
                select(FollowUp.id).where(FollowUp.subject_id == raises[-1].subject_id)
            )
        )
    )


@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=9)), timezone(-timedelta(hours=5, minutes=30))]
        ),
    )
)
def test_the_sqlite_datetime_shortcut_binds_what_the_column_type_binds(moment: datetime) -> None:
    dialect = sqlite_dialect()
    chain = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert chain is not None
    assert utc_sqlite_text(moment) == chain(moment)


def test_the_sqlite_datetime_shortcut_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        utc_sqlite_text(datetime(2026, 11, 2))  # noqa: DTZ001 - the point


def data_key(n: int) -> dict[str, Any]:
    return {
        "subject_id": uuid.uuid4(),
        "master_key_id": f"mk-{n}" if n % 4 else None,
        # Every byte value, tabs, new lines and backslashes among them: COPY's text format
        # escapes them, and they must land unchanged.
        "wrapped": bytes(range(256))[n % 7 :] + b"\t\n\\\x00" if n % 5 else None,
        "created_at": T0.astimezone(timezone(timedelta(hours=9))) + timedelta(microseconds=n),
        # One instant in two zones: a datetime converted once per distinct value of a batch
        # must still land as that instant whichever zone came first.
        "rewrapped_at": T0.astimezone(timezone(timedelta(hours=9))) if n % 2 else T0,
        "destroyed_at": T0 if n % 3 == 0 else None,
    }


@pytest.mark.parametrize("count", [1, 9, 300])
def test_copied_rows_land_as_the_orm_would_write_them(session: Session, count: int) -> None:
    rows = [data_key(n) for n in range(count)]
    copy_rows(session, DATA_KEYS, rows)
    stored = {
        k.subject_id: k
        for k in session.scalars(
            select(DataKey).where(DataKey.subject_id.in_([r["subject_id"] for r in rows]))
        )
    }
    assert len(stored) == count
    for row in rows:
        key = stored[row["subject_id"]]
        assert (key.master_key_id, key.wrapped) == (row["master_key_id"], row["wrapped"])
        assert key.created_at == row["created_at"]  # the same instant, microseconds kept
        assert key.created_at.tzinfo is not None
        assert (key.rewrapped_at, key.destroyed_at) == (T0, row["destroyed_at"])
        assert key.rewrapped_at is not None and key.rewrapped_at.utcoffset() == timedelta(0)


def test_copied_rows_breaking_a_unique_key_raise_integrity_error(session: Session) -> None:
    first = data_key(1)
    copy_rows(session, DATA_KEYS, [first])
    with pytest.raises(IntegrityError):
        copy_rows(session, DATA_KEYS, [data_key(2), first | {"master_key_id": "mk-again"}])
    session.rollback()


def test_copying_refuses_a_naive_datetime_as_the_column_type_does(session: Session) -> None:
    row = data_key(1) | {"created_at": datetime(2026, 11, 2)}  # noqa: DTZ001 - the point
    with pytest.raises(Exception, match="naive datetime"):
        copy_rows(session, DATA_KEYS, [row])
