"""The follow-up tick: raise missing follow-ups, cancel cleared ones, escalate due ones.

One transaction and one `as_of` for all of it, so a tick sees one consistent state. Two kinds of
follow-up are raised here: `contact_lapsed` for Ongi residents past their contact interval, and
`care_response_overdue` for care requests nobody answered by their deadline. The cost follows the
number of lapsed residents and overdue requests: partial indexes on active `next_due_at` and on
unanswered `respond_by` find them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import Session

from services import followups
from services.followups import LIVE_STATES, Raise
from services.scheduler_runs import last_success
from welfare.calendar import BusinessCalendar
from welfare.models import (
    CareRequest,
    CareState,
    EnrollmentStatus,
    FollowUp,
    FollowUpReason,
    OngiEnrollment,
    Resident,
    ResidentStatus,
)
from welfare.models.base import eq_literal, in_literals

JOB = "followups"
BATCH = 2000
SYSTEM_SUBJECT = uuid.UUID("00000000-0000-4000-8000-5c4ed0000001")  # the scheduler itself
STALL_THRESHOLD = timedelta(minutes=30)


def run_followups(session: Session, as_of: datetime) -> Mapping[str, int]:
    """The whole tick for every program; each step is idempotent."""
    calendar = followups.business_calendar(session)
    counts = {"stalled_alarm": raise_stall_alarm(session, as_of, calendar)}
    counts["raised"] = raise_contact_lapses(session, as_of, calendar)
    counts["cancelled"] = cancel_cleared_lapses(session, as_of)
    counts["care_overdue_raised"] = raise_care_overdue(session, as_of, calendar)
    counts["care_overdue_cancelled"] = cancel_answered_care(session, as_of)
    counts["escalated"] = followups.escalate_due(
        session, as_of=as_of, run_id=_run_id(session), calendar=calendar
    )
    return counts


def raise_contact_lapses(session: Session, as_of: datetime, calendar: BusinessCalendar) -> int:
    """One `contact_lapsed` follow-up per active enrollment past its due time, however late."""
    live = exists().where(
        FollowUp.subject_id == OngiEnrollment.resident_id,
        FollowUp.reason == FollowUpReason.CONTACT_LAPSED.value,
        in_literals(FollowUp.state, LIVE_STATES),
    )
    stmt = (
        select(OngiEnrollment)
        .join(Resident, Resident.id == OngiEnrollment.resident_id)
        .where(
            Resident.status == ResidentStatus.ACTIVE.value,
            eq_literal(OngiEnrollment.status, EnrollmentStatus.ACTIVE.value),
            OngiEnrollment.next_due_at <= as_of,
            ~live,
        )
        .order_by(OngiEnrollment.next_due_at)
    )
    # Serialize with contact logging on the enrollment row: a contact committed while we
    # wait is seen when PostgreSQL re-checks the row, and that resident drops out.
    return _raise_locked(
        session,
        stmt,
        lock=OngiEnrollment,
        as_of=as_of,
        calendar=calendar,
        make=lambda e: Raise(
            subject_type="resident",
            subject_id=e.resident_id,
            resident_id=e.resident_id,
            dong_code=e.dong_code,
            program="ongi",
            reason=FollowUpReason.CONTACT_LAPSED.value,
            risk_level=e.risk_level,
            due_at=e.next_due_at or as_of,
            evidence={
                "enrollment_id": str(e.id),
                "risk_level": e.risk_level,
                "interval_hours": e.interval_hours,
                "last_success_at": e.last_success_at.isoformat() if e.last_success_at else None,
                "next_due_at": e.next_due_at.isoformat() if e.next_due_at else None,
            },
        ),
    )


def _raise_locked(
    session: Session,
    stmt: Select[Any],
    *,
    lock: type[Any],
    make: Callable[[Any], Raise],
    as_of: datetime,
    calendar: BusinessCalendar,
) -> int:
    """Raise a follow-up for every candidate row, in chunks. On PostgreSQL the candidate rows
    are locked, so the tick serializes with whatever changes them (a contact, a response)."""
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=lock)
    raised = 0
    for chunk in session.scalars(stmt.execution_options(yield_per=BATCH)).partitions():
        raised += followups.raise_many(
            session,
            [make(row) for row in chunk],
            as_of=as_of,
            run_id=_run_id(session),
            calendar=calendar,
        )
    return raised


def cancel_cleared_lapses(session: Session, as_of: datetime) -> int:
    """Cancel lapse follow-ups whose cause is gone, naming why."""
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
            FollowUp.reason == FollowUpReason.CONTACT_LAPSED.value,
            in_literals(FollowUp.state, LIVE_STATES),
            or_(
                Resident.status != ResidentStatus.ACTIVE.value,
                OngiEnrollment.id.is_(None),
                OngiEnrollment.status != EnrollmentStatus.ACTIVE.value,
                OngiEnrollment.next_due_at > as_of,
            ),
        )
    ).all()
    cancelled = 0
    for subject_id, resident_status, enrollment_status, next_due in rows:
        if resident_status != ResidentStatus.ACTIVE:
            why = f"resident_{resident_status}"
        elif not enrollment_status:  # outer join: no live enrollment
            why = "enrollment_ended"
        elif enrollment_status != EnrollmentStatus.ACTIVE:
            why = f"enrollment_{enrollment_status}"
        else:
            why = "contact_made" if next_due and next_due > as_of else "cleared"
        cancelled += followups.cancel_live(
            session,
            subject_id=subject_id,
            reason=FollowUpReason.CONTACT_LAPSED.value,
            why=why,
            now=as_of,
            run_id=_run_id(session),
        )
    return cancelled


def raise_care_overdue(session: Session, as_of: datetime, calendar: BusinessCalendar) -> int:
    """One `care_response_overdue` follow-up per unanswered request past its deadline, however
    many ticks run: the live-follow-up index makes a second raise a no-op. A request without a
    resident is scoped by its own dong, and so is its follow-up."""
    live = exists().where(
        FollowUp.subject_id == CareRequest.id,
        FollowUp.reason == FollowUpReason.CARE_RESPONSE_OVERDUE.value,
        in_literals(FollowUp.state, LIVE_STATES),
    )
    stmt = (
        select(CareRequest)
        .where(
            eq_literal(CareRequest.state, CareState.RECEIVED.value),
            CareRequest.respond_by <= as_of,
            ~live,
        )
        .order_by(CareRequest.respond_by)
    )
    # Serialize with a response on the request row: an answer committed while we wait is
    # seen when PostgreSQL re-checks the row, and that request drops out.
    return _raise_locked(
        session,
        stmt,
        lock=CareRequest,
        as_of=as_of,
        calendar=calendar,
        make=lambda r: Raise(
            subject_type="care_request",
            subject_id=r.id,
            resident_id=r.resident_id,
            dong_code=r.dong_code,
            program="care_center",
            reason=FollowUpReason.CARE_RESPONSE_OVERDUE.value,
            # Ladders may differ by urgency; without one the reason's default applies.
            risk_level=r.urgency,
            due_at=r.respond_by,
            evidence={
                "care_request_id": str(r.id),
                "urgency": r.urgency,
                "care_type": r.care_type,
                "received_at": r.received_at.isoformat(),
                "respond_by": r.respond_by.isoformat(),
            },
        ),
    )


def cancel_answered_care(session: Session, as_of: datetime) -> int:
    """Cancel overdue follow-ups of requests that are no longer waiting for an answer.

    Responding resolves the follow-up in its own transaction; this repairs anything that slipped
    past that (level-triggered, like every other step of the tick).
    """
    rows = session.execute(
        select(FollowUp.subject_id, CareRequest.state)
        .join(CareRequest, CareRequest.id == FollowUp.subject_id)
        .where(
            FollowUp.reason == FollowUpReason.CARE_RESPONSE_OVERDUE.value,
            in_literals(FollowUp.state, LIVE_STATES),
            CareRequest.state != CareState.RECEIVED.value,
        )
    ).all()
    cancelled = 0
    for subject_id, state in rows:
        cancelled += followups.cancel_live(
            session,
            subject_id=subject_id,
            reason=FollowUpReason.CARE_RESPONSE_OVERDUE.value,
            why="responded" if state == CareState.RESPONDED else "request_closed",
            now=as_of,
            run_id=_run_id(session),
        )
    return cancelled


def raise_stall_alarm(session: Session, as_of: datetime, calendar: BusinessCalendar) -> int:
    """A scheduler that did not run for a while raises its own alarm when it comes back."""
    previous = last_success(session, JOB)
    if previous is None or as_of - previous < STALL_THRESHOLD:
        return 0
    return followups.raise_many(
        session,
        [
            Raise(
                subject_type="system",
                subject_id=SYSTEM_SUBJECT,
                resident_id=None,
                dong_code=None,
                program="system",
                reason=FollowUpReason.SCHEDULER_STALLED.value,
                risk_level=None,
                due_at=previous + STALL_THRESHOLD,
                evidence={"last_success_at": previous.isoformat(), "as_of": as_of.isoformat()},
            )
        ],
        as_of=as_of,
        run_id=_run_id(session),
        calendar=calendar,
    )


def _run_id(session: Session) -> uuid.UUID | None:
    value = session.info.get("welfare.run_id")
    return value if isinstance(value, uuid.UUID) else None
