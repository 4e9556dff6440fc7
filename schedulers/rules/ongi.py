"""Ongi's follow-up rule: `contact_lapsed` for an active enrollment past its due time.

Raised once per lapse however late it is; cancelled when a contact moved the due time, the
enrollment was paused or ended, or the resident moved away, died or was erased. The partial index
on active `next_due_at` makes finding lapses cost what the lapsed cost, not what all residents do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from sqlalchemy import (
    Boolean,
    Select,
    String,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from schedulers.rules.base import Candidates, FollowUpRule, Reconcile, StoredRows
from services.followups import LIVE_STATES, Raise, Raises
from welfare.models import (
    EnrollmentStatus,
    FollowUp,
    FollowUpReason,
    OngiEnrollment,
    Resident,
    ResidentStatus,
)
from welfare.models.base import eq_literal, in_literals, utc_sqlite_text
from welfare.models.bulk import (
    SqliteText,
    UuidHex,
    dashed,
    stored_datetime_iso,
    stored_datetime_text,
    stored_uuid_hex,
)
from welfare.models.resident import NOT_ACTIVE, NOT_ACTIVE_INDEX

REASON = FollowUpReason.CONTACT_LAPSED.value


def lapsed(as_of: datetime, *, stored: bool = False) -> Select[Any]:
    """Active enrollments past their due time without a live lapse follow-up, oldest first;
    with `stored`, the columns as SQLite stores them (text), for `lapses_stored`."""
    # The live check is a correlated lookup that PostgreSQL cannot turn into a join (a scalar
    # subquery; LIMIT keeps it one), so each due enrollment costs one probe of the
    # live-follow-up index whatever the statistics say: as NOT EXISTS, with the follow-up
    # table's statistics from before a raise, PostgreSQL compared every due enrollment with
    # every live follow-up (a nested-loop anti-join): 0.34 s of an idle tick at 200,000
    # residents. Whether the resident left is asked of the small partial index of residents
    # who are not active (`resident_left`), never of the wide, sealed resident rows.
    live = (
        select(FollowUp.id)
        .where(
            FollowUp.subject_id == OngiEnrollment.resident_id,
            FollowUp.reason == REASON,
            in_literals(FollowUp.state, LIVE_STATES),
        )
        .limit(1)
        .scalar_subquery()
    )
    # The columns `lapse` reads, as rows: ORM objects for thousands of lapses cost more than
    # the query.
    columns: list[Any] = [
        OngiEnrollment.id,
        OngiEnrollment.resident_id,
        OngiEnrollment.dong_code,
        OngiEnrollment.risk_level,
        OngiEnrollment.interval_hours,
        OngiEnrollment.last_success_at,
        OngiEnrollment.next_due_at,
    ]
    if stored:  # the same columns, not converted: ids and times as the stored text
        columns = [type_coerce(column, String()).label(column.key) for column in columns]
    return (
        select(*columns)
        .where(
            eq_literal(OngiEnrollment.status, EnrollmentStatus.ACTIVE.value),
            OngiEnrollment.next_due_at <= as_of,
            live.is_(None),
            ResidentStayed(OngiEnrollment.resident_id),
        )
        .order_by(OngiEnrollment.next_due_at)
    )


class DueEnrollment(Protocol):
    """What `lapse` reads: an `OngiEnrollment`, or a row of `lapsed`'s columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def resident_id(self) -> uuid.UUID: ...
    @property
    def dong_code(self) -> str: ...
    @property
    def risk_level(self) -> str: ...
    @property
    def interval_hours(self) -> int: ...
    @property
    def last_success_at(self) -> datetime | None: ...
    @property
    def next_due_at(self) -> datetime | None: ...


def lapse(enrollment: DueEnrollment, as_of: datetime) -> Raise:
    return Raise(
        subject_type="resident",
        subject_id=enrollment.resident_id,
        resident_id=enrollment.resident_id,
        dong_code=enrollment.dong_code,
        program="ongi",
        reason=REASON,
        risk_level=enrollment.risk_level,
        due_at=enrollment.next_due_at or as_of,
        evidence={
            "enrollment_id": str(enrollment.id),
            "risk_level": enrollment.risk_level,
            "interval_hours": enrollment.interval_hours,
            "last_success_at": enrollment.last_success_at.isoformat()
            if enrollment.last_success_at
            else None,
            "next_due_at": enrollment.next_due_at.isoformat() if enrollment.next_due_at else None,
        },
    )


def lapses_stored(rows: Sequence[Any], as_of: datetime, serialize: Callable[[Any], str]) -> Raises:
    """`Raises.of([lapse(row, as_of) for row in rows])` for rows of `lapsed(as_of, stored=True)`
    (SQLite), each value handed on as the text the slow way would bind: the ids as stored
    (SQLAlchemy's 32 hex digits), the due time as stored (`utc_sqlite_text`'s form), the
    evidence's times as `isoformat` writes them; a value stored in another form is converted
    as the column reads it. tests/schedulers/test_stored_rows.py compares the two."""
    count = len(rows)
    resident_ids = UuidHex([stored_uuid_hex(row.resident_id) for row in rows])
    evidence = []
    due = []
    for row in rows:
        next_due = row.next_due_at
        last = row.last_success_at
        evidence.append(
            serialize(
                {
                    "enrollment_id": dashed(stored_uuid_hex(row.id)),
                    "risk_level": row.risk_level,
                    "interval_hours": row.interval_hours,
                    "last_success_at": stored_datetime_iso(last) if last is not None else None,
                    "next_due_at": stored_datetime_iso(next_due) if next_due is not None else None,
                }
            )
        )
        due.append(stored_datetime_text(next_due) if next_due is not None else None)
    if None in due:  # `lapsed` selects due times up to as_of, never none; as `lapse` would
        due = [value if value is not None else utc_sqlite_text(as_of) for value in due]
    return Raises(
        subject_type=["resident"] * count,
        subject_id=resident_ids,
        resident_id=resident_ids,
        dong_code=[row.dong_code for row in rows],
        program=["ongi"] * count,
        reason=[REASON] * count,
        risk_level=[row.risk_level for row in rows],
        due_at=SqliteText(due),
        evidence=evidence,
        incident_id=[None] * count,
    )


def resident_left(resident_id: Any) -> Any:
    """`EXISTS` a resident `resident_id` who is no longer active (moved out, died, erased):
    answered on PostgreSQL by the partial index `ix_residents_not_active`, which holds only them
    (SQLite's planner probes the primary key for it; `cleared` asks SQLite differently)."""
    return exists().where(
        Resident.id == resident_id,
        Resident.status != literal(ResidentStatus.ACTIVE.value, literal_execute=True),
    )


class ResidentStayed(ColumnElement[bool]):
    """`NOT resident_left(resident_id)`, asked of SQLite through the partial index by name.

    SQLite's planner answers `resident_left` through the primary key, which leads to each
    resident's wide, sealed row to read its status: at 1,000,000 residents a random page read
    per due enrollment. `INDEXED BY` makes it probe `ix_residents_not_active` instead, which
    holds only residents who are not active, so for an active resident the probe finds nothing
    and reads no row (the same answer: the index holds exactly the rows the condition selects,
    and SQLite refuses the statement rather than ignore the index if it cannot use it).
    PostgreSQL gets `resident_left` as it is."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("resident_id", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, resident_id: Any) -> None:
        self.resident_id = resident_id


@compiles(ResidentStayed)
def _resident_stayed(element: ResidentStayed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(~resident_left(element.resident_id), **kw)


@compiles(ResidentStayed, "sqlite")
def _resident_stayed_sqlite(element: ResidentStayed, compiler: SQLCompiler, **kw: Any) -> str:
    resident_id = compiler.process(element.resident_id, **kw)
    # Names and a constant from the models, and the compiled column: no outside text.
    index, condition = NOT_ACTIVE_INDEX, NOT_ACTIVE.text
    exists_sql = "(NOT EXISTS (SELECT 1 FROM residents INDEXED BY {} WHERE residents.id = {}"
    return exists_sql.format(index, resident_id) + f" AND residents.{condition}))"


CLEARED_PAGE = 500  # subjects a statement binds, well under SQLite's and psycopg's limits


def cleared(session: Session, as_of: datetime) -> Sequence[tuple[uuid.UUID, str]]:
    """Live lapse follow-ups whose cause is gone, each with why.

    The cause holds while the resident is active and has an active enrollment due by `as_of`.
    Every live lapse is checked at every tick (level-triggered: whatever ended the cause, a
    contact, a pause, an ending, a move, a death, an erasure, by any path, is seen), by two
    index probes that read no wide row: the enrollment due (a scalar lookup with LIMIT, which
    PostgreSQL keeps a probe of the live-enrollment index whatever the statistics; as a join it
    hash-joined a sequential scan of all enrollments once `followups` was analyzed) and the
    resident who left (`resident_left`). Only the follow-ups found are read in full, for why.
    """
    still_due = (
        select(OngiEnrollment.id)
        .where(
            OngiEnrollment.resident_id == FollowUp.subject_id,
            in_literals(OngiEnrollment.status, ("active", "paused")),  # the index's condition
            eq_literal(OngiEnrollment.status, EnrollmentStatus.ACTIVE.value),
            OngiEnrollment.next_due_at <= as_of,
        )
        .limit(1)
        .scalar_subquery()
    )
    if session.get_bind().dialect.name == "postgresql":
        left = resident_left(FollowUp.subject_id)
    else:
        # SQLite answers `EXISTS` through the primary key and each wide resident row; an
        # uncorrelated IN is evaluated once, into a temporary index of who left (read from the
        # partial index). PostgreSQL keeps `EXISTS`: an IN list larger than its work memory
        # would be re-scanned for every live lapse.
        left = FollowUp.subject_id.in_(
            select(Resident.id).where(
                Resident.status != literal(ResidentStatus.ACTIVE.value, literal_execute=True)
            )
        )
    subjects = session.scalars(
        select(FollowUp.subject_id).where(
            FollowUp.reason == REASON,
            in_literals(FollowUp.state, LIVE_STATES),
            or_(still_due.is_(None), left),
        )
    ).all()
    return why_cleared(session, subjects, as_of)


def why_cleared(
    session: Session, subjects: Sequence[uuid.UUID], as_of: datetime
) -> list[tuple[uuid.UUID, str]]:
    """Which of these subjects' live lapses have lost their cause, each with why; a page of
    subjects at a time: a mass change (a dong's enrollments ended) can clear more lapses in one
    tick than a statement may bind parameters."""
    found = []
    for start in range(0, len(subjects), CLEARED_PAGE):
        found += _why_cleared(session, subjects[start : start + CLEARED_PAGE], as_of)
    return found


def candidates_statement(as_of: datetime) -> Select[Any]:
    """`candidates`' one statement: (enrollment id, due time, live subject, resident left)
    for each mismatch."""
    due = (
        select(OngiEnrollment.id, OngiEnrollment.resident_id, OngiEnrollment.next_due_at)
        .where(
            eq_literal(OngiEnrollment.status, EnrollmentStatus.ACTIVE.value),
            OngiEnrollment.next_due_at <= as_of,
        )
        .subquery("due")
    )
    live = (
        select(FollowUp.subject_id)
        .where(FollowUp.reason == REASON, in_literals(FollowUp.state, LIVE_STATES))
        .subquery("live")
    )
    gone = (
        select(Resident.id)
        .where(Resident.status != literal(ResidentStatus.ACTIVE.value, literal_execute=True))
        .subquery("gone")
    )
    subject = func.coalesce(due.c.resident_id, live.c.subject_id)
    return (
        select(due.c.id, due.c.next_due_at, live.c.subject_id, gone.c.id.is_not(None))
        .select_from(
            due.join(live, live.c.subject_id == due.c.resident_id, full=True).outerjoin(
                gone, gone.c.id == subject
            )
        )
        .where(or_(due.c.id.is_(None), live.c.subject_id.is_(None), gone.c.id.is_not(None)))
    )


def candidates(session: Session, as_of: datetime) -> Candidates:
    """The lapses to raise and the live lapses that may have cleared, from one comparison
    (PostgreSQL; `Reconcile`): the due enrollments (an index-only read of the due index, which
    carries `resident_id` and `id`) FULL JOIN the live lapse follow-ups (an index-only read of
    the live-follow-up index) on the resident, with the residents who left beside them (the
    partial index of those). Index-only as far as the visibility map allows: pages written
    since the last vacuum (a contact moves its enrollment's due time) are read from the table,
    so a busy day costs some heap reads, still not a probe per live lapse. A FULL JOIN is
    planned as a hash or merge join whatever the statistics say, never as a nested loop
    comparing every due enrollment with every live follow-up. Kept: enrollments due with no
    live lapse whose resident stayed (to raise, in due order), and live lapses with no
    enrollment due or whose resident left (to check)."""
    rows = session.execute(candidates_statement(as_of)).all()
    raise_due = sorted(
        (next_due, enrollment_id)
        for enrollment_id, next_due, live_subject, left in rows
        if live_subject is None and not left
    )
    return Candidates(
        due=[enrollment_id for _, enrollment_id in raise_due],
        cleared=[
            live_subject
            for enrollment_id, _, live_subject, left in rows
            if live_subject is not None and (enrollment_id is None or left)
        ],
    )


def _why_cleared(
    session: Session, subjects: Sequence[uuid.UUID], as_of: datetime
) -> list[tuple[uuid.UUID, str]]:
    """Why each of these subjects' live lapses cleared, read again in this statement's
    snapshot (one that came back since is left live)."""
    rows = session.execute(
        select(
            FollowUp.subject_id, Resident.status, OngiEnrollment.status, OngiEnrollment.next_due_at
        )
        .join(Resident, Resident.id == FollowUp.subject_id)
        .outerjoin(
            OngiEnrollment,
            and_(
                OngiEnrollment.resident_id == FollowUp.subject_id,
                in_literals(OngiEnrollment.status, ("active", "paused")),
            ),
        )
        .where(
            FollowUp.subject_id.in_(subjects),
            FollowUp.reason == REASON,
            in_literals(FollowUp.state, LIVE_STATES),
            # Again, in this statement's snapshot: what came back since the first is left live.
            or_(
                Resident.status != ResidentStatus.ACTIVE.value,
                OngiEnrollment.id.is_(None),
                OngiEnrollment.status != EnrollmentStatus.ACTIVE.value,
                OngiEnrollment.next_due_at > as_of,
            ),
        )
    ).all()
    found: list[tuple[uuid.UUID, str]] = []
    for subject_id, resident_status, enrollment_status, next_due in rows:
        if resident_status != ResidentStatus.ACTIVE:
            why = f"resident_{resident_status}"
        elif not enrollment_status:  # outer join: no live enrollment
            why = "enrollment_ended"
        elif enrollment_status != EnrollmentStatus.ACTIVE:
            why = f"enrollment_{enrollment_status}"
        else:
            why = "contact_made" if next_due and next_due > as_of else "cleared"
        found.append((subject_id, why))
    return found


CONTACT_LAPSED = FollowUpRule(
    reason=REASON,
    due=lapsed,
    # Serialize with contact logging on the enrollment row (services/ongi.py locks it too).
    lock=OngiEnrollment,
    make=lapse,
    cleared=cleared,
    raised_count="raised",
    cancelled_count="cancelled",
    stored=StoredRows(due=partial(lapsed, stored=True), make=lapses_stored),
    reconcile=Reconcile(candidates=candidates, why_cleared=why_cleared),
)
