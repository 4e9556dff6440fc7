"""The follow-up tick: raise missing lapse follow-ups, cancel cleared ones, escalate due ones.

One transaction and one `as_of` for all three, so a tick sees one consistent state. The cost
follows the number of lapsed residents: a partial index on active `next_due_at` finds them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from services import followups
from services.followups import LIVE_STATES, Raise
from services.scheduler_runs import last_success
from welfare.calendar import BusinessCalendar
from welfare.models import (
    EnrollmentStatus,
    FollowUp,
    FollowUpReason,
    OngiEnrollment,
    Resident,
    ResidentStatus,
)

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
    counts["escalated"] = followups.escalate_due(
        session, as_of=as_of, run_id=_run_id(session), calendar=calendar
    )
    return counts


def raise_contact_lapses(session: Session, as_of: datetime, calendar: BusinessCalendar) -> int:
    """One `contact_lapsed` follow-up per active enrollment past its due time, however late."""
    live = exists().where(
        FollowUp.subject_id == OngiEnrollment.resident_id,
        FollowUp.reason == FollowUpReason.CONTACT_LAPSED.value,
        FollowUp.state.in_(LIVE_STATES),
    )
    stmt = (
        select(OngiEnrollment)
        .join(Resident, Resident.id == OngiEnrollment.resident_id)
        .where(
            Resident.status == ResidentStatus.ACTIVE.value,
            OngiEnrollment.status == EnrollmentStatus.ACTIVE.value,
            OngiEnrollment.next_due_at <= as_of,
            ~live,
        )
        .order_by(OngiEnrollment.next_due_at)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Serialize with contact logging on the enrollment row: a contact committed while we
        # wait is seen when PostgreSQL re-checks the row, and that resident drops out.
        stmt = stmt.with_for_update(of=OngiEnrollment)
    raised = 0
    run_id = _run_id(session)
    for chunk in session.scalars(stmt.execution_options(yield_per=BATCH)).partitions():
        raised += followups.raise_many(
            session,
            [
                Raise(
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
                        "last_success_at": e.last_success_at.isoformat()
                        if e.last_success_at
                        else None,
                        "next_due_at": e.next_due_at.isoformat() if e.next_due_at else None,
                    },
                )
                for e in chunk
            ],
            as_of=as_of,
            run_id=run_id,
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
                OngiEnrollment.status.in_(("active", "paused")),
            ),
        )
        .where(
            FollowUp.reason == FollowUpReason.CONTACT_LAPSED.value,
            FollowUp.state.in_(LIVE_STATES),
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
