"""A resident's whole picture: the record with what every program is doing for them now.

One read, one access record: the live Ongi enrollment, open cases, live follow-ups and open care
requests of a resident, each as ids, states and times (nothing sealed is opened here: a care
request's summary or a case's notes are one more request, with their own rules and record).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, residents
from services.followups import LIVE_STATES
from services.residents import ResidentView
from welfare.models import Actor, CareRequest, CareState, Case, FollowUp, OngiEnrollment
from welfare.models.base import in_literals

LIVE_ENROLLMENT = ("active", "paused")
OPEN_CARE = (CareState.RECEIVED.value, CareState.RESPONDED.value)


@dataclass(frozen=True, slots=True)
class EnrollmentSummary:
    id: uuid.UUID
    risk_level: str
    status: str
    interval_hours: int
    last_success_at: datetime | None
    next_due_at: datetime | None
    version: int


@dataclass(frozen=True, slots=True)
class CaseSummary:
    id: uuid.UUID
    program: str
    status: str
    priority: str
    assignee_id: uuid.UUID | None
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class FollowUpSummary:
    id: uuid.UUID
    program: str
    reason: str
    state: str
    step: int
    due_at: datetime
    assignee_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class CareRequestSummary:
    id: uuid.UUID
    care_type: str
    urgency: str
    state: str
    received_at: datetime
    respond_by: datetime
    assignee_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class Programs:
    ongi_enrollment: EnrollmentSummary | None = None
    open_cases: list[CaseSummary] = field(default_factory=list)
    live_followups: list[FollowUpSummary] = field(default_factory=list)
    open_care_requests: list[CareRequestSummary] = field(default_factory=list)


def get_picture(
    session: Session, *, actor: Actor, resident_id: uuid.UUID
) -> tuple[ResidentView, Programs]:
    """The resident as the caller may see them, and what each program is doing for them."""
    resident = residents.load(session, actor, resident_id)
    view = residents.view(session, actor, resident)
    scoped = access.dong_scope
    enrollment = session.scalar(
        select(OngiEnrollment).where(
            OngiEnrollment.resident_id == resident.id,
            in_literals(OngiEnrollment.status, LIVE_ENROLLMENT),
            scoped(actor, OngiEnrollment.dong_code),
        )
    )
    open_cases = session.scalars(
        select(Case)
        .where(
            Case.resident_id == resident.id,
            Case.closed_at.is_(None),
            scoped(actor, Case.dong_code),
        )
        .order_by(Case.opened_at, Case.id)
    ).all()
    live = session.scalars(
        select(FollowUp)
        .where(
            FollowUp.resident_id == resident.id,
            in_literals(FollowUp.state, LIVE_STATES),
            scoped(actor, FollowUp.dong_code),
        )
        .order_by(FollowUp.due_at, FollowUp.id)
    ).all()
    care = session.scalars(
        select(CareRequest)
        .where(
            CareRequest.resident_id == resident.id,
            in_literals(CareRequest.state, OPEN_CARE),
            scoped(actor, CareRequest.dong_code),
        )
        .order_by(CareRequest.respond_by, CareRequest.id)
    ).all()
    programs = Programs(
        ongi_enrollment=EnrollmentSummary(
            id=enrollment.id,
            risk_level=enrollment.risk_level,
            status=enrollment.status,
            interval_hours=enrollment.interval_hours,
            last_success_at=enrollment.last_success_at,
            next_due_at=enrollment.next_due_at,
            version=enrollment.version,
        )
        if enrollment
        else None,
        open_cases=[
            CaseSummary(c.id, c.program, c.status, c.priority, c.assignee_id, c.opened_at)
            for c in open_cases
        ],
        live_followups=[
            FollowUpSummary(f.id, f.program, f.reason, f.state, f.step, f.due_at, f.assignee_id)
            for f in live
        ],
        open_care_requests=[
            CareRequestSummary(
                r.id, r.care_type, r.urgency, r.state, r.received_at, r.respond_by, r.assignee_id
            )
            for r in care
        ],
    )
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[resident.id])
    return view, programs
