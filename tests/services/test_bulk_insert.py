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
from sqlalchemy import JSON, Table, event, select, text
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import followups
from services.followups import Raise
from welfare.calendar import BusinessCalendar, next_escalation_at
from welfare.models import DataKey, FollowUp, FollowUpEvent, OutboxMessage
from welfare.models.base import UTCDateTime, utc_sqlite_text
from welfare.models.bulk import copy_rows, dashed, fresh_uuid_hex, insert_rows
from welfare.models.followup import LIVE

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
OUTBOX = cast(Table, OutboxMessage.__table__)
FOLLOWUPS = cast(Table, FollowUp.__table__)
DATA_KEYS = cast(Table, DataKey.__table__)
EVENTS = cast(Table, FollowUpEvent.__table__)


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
    # The follow-ups, their events, their notices: three, not three per row. (SQLite learns
    # that every row went in from the executemany's change count, with no read-back.)
    assert len(seen) == 3, seen
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


def test_fresh_ids_are_random_version_4_uuids_in_the_orms_hex_form() -> None:
    ids = fresh_uuid_hex(2000)
    assert len(set(ids)) == 2000
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert parsed.hex == value  # 32 lowercase hex digits, as SQLite stores a Uuid
        assert dashed(value) == str(parsed)
    # Every bit uuid4 leaves random varies across the batch (a slicing slip would pin some).
    ints = [uuid.UUID(hex=value).int for value in ids]
    fixed = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
    varying = 0
    for value in ints:
        varying |= value ^ ints[0]
    assert varying == fixed


def stored(session: Session, table: Table, row_id: uuid.UUID) -> tuple[Any, ...]:
    """The row as the database holds it (as the driver reads it, JSON as its text)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    columns = ", ".join(
        f"{c.name}::text" if postgres and isinstance(c.type, JSON) else c.name
        for c in table.columns
    )
    return tuple(
        session.execute(select(text(columns)).select_from(table).where(table.c.id == row_id)).one()
    )


def orm_raise(
    session: Session, item: Raise, *, ids: tuple[uuid.UUID, uuid.UUID, uuid.UUID], run_id: Any
) -> None:
    """What raise_many wrote before it went column by column, through the ORM: the follow-up,
    its `raised` event, its notice (the same ids, so the rows compare whole)."""
    followup_id, event_id, notice_id = ids
    step = followups.ladders().for_(item.reason, item.risk_level).step(1)
    session.add(
        FollowUp(
            id=followup_id,
            subject_type=item.subject_type,
            subject_id=item.subject_id,
            resident_id=item.resident_id,
            dong_code=item.dong_code,
            program=item.program,
            reason=item.reason,
            risk_level=item.risk_level,
            state="open",
            step=1,
            due_at=item.due_at,
            next_escalation_at=next_escalation_at(T0, step, BusinessCalendar()),
            raised_at=T0,
            raised_by_run_id=run_id,
            evidence=dict(item.evidence),
            incident_id=None,
            risk_rank=followups.risk_rank(item.risk_level),
            version=1,
        )
    )
    session.flush()
    session.add(
        FollowUpEvent(
            id=event_id,
            followup_id=followup_id,
            at=T0,
            kind="raised",
            step=1,
            actor_staff_id=None,
            run_id=run_id,
            detail={"action": step.action, "target_role": step.target_role},
            note_enc=None,
        )
    )
    notice = followups._notice(  # the ORM path's own notice
        followup_id,
        step=1,
        action=step.action,
        target_role=step.target_role,
        dong=item.dong_code,
        at=T0,
    )
    session.add(OutboxMessage(**(notice | {"id": notice_id})))
    session.flush()


@pytest.mark.parametrize(
    "item",
    [
        Raise(
            subject_type="resident",
            subject_id=uuid.uuid4(),
            resident_id=None,
            dong_code="1154551000",
            program="ongi",
            reason="contact_lapsed",
            risk_level="high",
            due_at=T0 - timedelta(hours=30, microseconds=7),
            evidence={"enrollment_id": "x", "note": 'a "quoted" \\ 한글', "n": [1, None]},
        ),
        Raise(  # no dong, no risk level: the ladder's default and the last rank
            subject_type="system",
            subject_id=uuid.uuid4(),
            resident_id=None,
            dong_code=None,
            program="system",
            reason="scheduler_stalled",
            risk_level=None,
            due_at=datetime(2026, 11, 1, 23, 0, tzinfo=timezone(timedelta(hours=9))),
            evidence={},
        ),
    ],
)
def test_raised_rows_are_what_the_orm_writes(session: Session, item: Raise) -> None:
    run_id = uuid.uuid4()
    with session.begin_nested() as savepoint:
        assert followups.raise_many(
            session, [item], as_of=T0, run_id=run_id, calendar=BusinessCalendar()
        )
        followup_id = session.scalars(
            select(FollowUp.id).where(FollowUp.subject_id == item.subject_id)
        ).one()
        event_id = session.scalars(
            select(FollowUpEvent.id).where(FollowUpEvent.followup_id == followup_id)
        ).one()
        notice_id = session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.idempotency_key == f"followup:{followup_id}:1:"
            )
        ).one()
        fast = [
            stored(session, table, row_id)
            for table, row_id in (
                (FOLLOWUPS, followup_id),
                (EVENTS, event_id),
                (OUTBOX, notice_id),
            )
        ]
        savepoint.rollback()
    orm_raise(session, item, ids=(followup_id, event_id, notice_id), run_id=run_id)
    orm = [
        stored(session, table, row_id)
        for table, row_id in ((FOLLOWUPS, followup_id), (EVENTS, event_id), (OUTBOX, notice_id))
    ]
    assert fast == orm


def test_a_raise_that_conflicts_is_skipped_with_its_event_and_notice(session: Session) -> None:
    def lapse(subject: uuid.UUID) -> Raise:
        return Raise(
            subject_type="resident",
            subject_id=subject,
            resident_id=None,
            dong_code="1154551000",
            program="ongi",
            reason="contact_lapsed",
            risk_level="medium",
            due_at=T0,
            evidence={"subject": str(subject)},
        )

    calendar = BusinessCalendar()
    already = uuid.uuid4()
    assert followups.raise_many(session, [lapse(already)], as_of=T0, run_id=None, calendar=calendar)
    batch = [lapse(uuid.uuid4()), lapse(already), lapse(uuid.uuid4())]
    with statements(session) as seen:
        raised = followups.raise_many(session, batch, as_of=T0, run_id=None, calendar=calendar)
    assert raised == 2
    # SQLite reads the follow-ups back by id once the change count says a row was skipped.
    postgres = session.get_bind().dialect.name == "postgresql"
    assert len(seen) == (3 if postgres else 4), seen
    for item in batch:
        (followup_id,) = session.scalars(
            select(FollowUp.id).where(FollowUp.subject_id == item.subject_id)
        ).all()
        events = session.scalars(
            select(FollowUpEvent.kind).where(FollowUpEvent.followup_id == followup_id)
        ).all()
        notices = session.scalars(
            select(OutboxMessage.payload).where(
                OutboxMessage.idempotency_key == f"followup:{followup_id}:1:"
            )
        ).all()
        assert events == ["raised"]
        assert [n["followup_id"] for n in notices] == [str(followup_id)]
