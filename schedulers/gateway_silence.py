"""The tick's gateway-silence step: one incident per silent gateway, its residents' lapses
grouped under it, and the incident cancelled when the gateway speaks again.

It runs before the programs' rules (`schedulers/followups.py`), so a lapse of a silent gateway's
resident is raised here, grouped and notified once per team, and the Ongi rule that runs next
finds it already live. Residents are never left unseen for it: their lapses still come on their
own clocks (their risk level's interval), only grouped. Level-triggered like every rule: a second
run at the same `as_of` changes nothing.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.orm import Session

from schedulers.rules.ongi import REASON as LAPSE
from schedulers.rules.ongi import lapse
from services import followups, gateway_silence
from services.followups import LIVE_STATES, Raise
from welfare.calendar import BusinessCalendar
from welfare.models import (
    EnrollmentStatus,
    FollowUp,
    OngiEnrollment,
    OutboxMessage,
    Resident,
    ResidentStatus,
    Staff,
    StaffDong,
)
from welfare.models.base import eq_literal, in_literals

NOTIFY_ROLES = ("admin", "supervisor")


def run_gateway_silence(
    session: Session, *, as_of: datetime, calendar: BusinessCalendar, run_id: uuid.UUID | None
) -> dict[str, int]:
    """Raise, group and cancel; counts for the tick's run record."""
    silent = gateway_silence.silent_gateways(session, as_of)
    silent_ids = [s.gateway_id for s in silent]
    already = {i.subject_id for i in gateway_silence.live_incidents(session, silent_ids)}
    fresh = [s for s in silent if s.gateway_id not in already]
    raised = followups.raise_many(
        session,
        [_incident(session, s) for s in fresh],
        as_of=as_of,
        run_id=run_id,
        calendar=calendar,
    )
    grouped = 0
    for incident in gateway_silence.live_incidents(session, silent_ids):
        if incident.subject_id not in already:
            _notify_incident(session, incident, as_of)
        grouped += _group_lapses(session, incident, as_of=as_of, run_id=run_id, calendar=calendar)
    cancelled = _cancel_resumed(session, as_of=as_of, silent=set(silent_ids), run_id=run_id)
    return {
        "gateway_silent_raised": raised,
        "gateway_lapses_grouped": grouped,
        "gateway_silent_cancelled": cancelled,
    }


def _incident(session: Session, silence: gateway_silence.Silence) -> Raise:
    return Raise(
        subject_type=gateway_silence.SUBJECT_TYPE,
        subject_id=silence.gateway_id,
        resident_id=None,
        dong_code=None,
        program="system",
        reason=gateway_silence.REASON,
        risk_level=None,
        due_at=silence.silent_since,
        evidence={
            "gateway_id": str(silence.gateway_id),
            "gateway_name": session.scalar(
                select(Staff.display_name).where(Staff.id == silence.gateway_id)
            ),
            "dongs": list(_dongs(session, silence.gateway_id)),
            "dependents": gateway_silence.count_dependents(session, silence.gateway_id),
            "last_signal_at": silence.last_signal_at.isoformat(),
            "expected_interval_seconds": int(silence.expected.total_seconds()),
            "threshold_seconds": int(silence.threshold.total_seconds()),
        },
    )


def _dongs(session: Session, gateway_id: uuid.UUID) -> list[str]:
    return list(
        session.scalars(
            select(StaffDong.dong_code)
            .where(StaffDong.staff_id == gateway_id)
            .order_by(StaffDong.dong_code)
        )
    )


def _notify_incident(session: Session, incident: FollowUp, as_of: datetime) -> None:
    """One message to admins and the supervisors of the gateway's dongs: the gateway and how
    many residents depend on it (ids and counts only)."""
    evidence: dict[str, Any] = incident.evidence
    session.execute(
        insert(OutboxMessage).values(
            id=uuid.uuid4(),
            idempotency_key=f"gateway_silent:{incident.id}",
            kind="gateway_silent",
            payload={
                "incident_id": str(incident.id),
                "gateway_id": evidence.get("gateway_id"),
                "gateway_name": evidence.get("gateway_name"),
                "dongs": evidence.get("dongs", []),
                "dependents": evidence.get("dependents", 0),
                "roles": list(NOTIFY_ROLES),
            },
            created_at=as_of,
            next_attempt_at=as_of,
            attempts=0,
        )
    )


def _group_lapses(
    session: Session,
    incident: FollowUp,
    *,
    as_of: datetime,
    run_id: uuid.UUID | None,
    calendar: BusinessCalendar,
) -> int:
    """Raise the lapses of the gateway's dependents that are due now, grouped under the
    incident in one batch (so one notice per team), and group any lapse of theirs raised before
    the incident (already notified one by one)."""
    gateway_id = incident.subject_id
    live_lapse = exists().where(
        FollowUp.subject_id == OngiEnrollment.resident_id,
        FollowUp.reason == LAPSE,
        in_literals(FollowUp.state, LIVE_STATES),
    )
    stmt = (
        select(OngiEnrollment)
        .join(Resident, Resident.id == OngiEnrollment.resident_id)
        .where(
            OngiEnrollment.last_success_gateway_id == gateway_id,
            Resident.status == ResidentStatus.ACTIVE.value,
            eq_literal(OngiEnrollment.status, EnrollmentStatus.ACTIVE.value),
            OngiEnrollment.next_due_at <= as_of,
            ~live_lapse,
        )
        .order_by(OngiEnrollment.next_due_at)
    )
    if session.get_bind().dialect.name == "postgresql":
        # The Ongi rule's lock: a contact logged meanwhile is seen, and that resident drops out.
        stmt = stmt.with_for_update(of=OngiEnrollment)
    raises = [
        dataclasses.replace(lapse(enrollment, as_of), incident_id=incident.id)
        for enrollment in session.scalars(stmt)
    ]
    raised = followups.raise_many(session, raises, as_of=as_of, run_id=run_id, calendar=calendar)
    session.execute(
        update(FollowUp)
        .where(
            FollowUp.reason == LAPSE,
            in_literals(FollowUp.state, LIVE_STATES),
            FollowUp.incident_id.is_(None),
            FollowUp.subject_id.in_(gateway_silence.dependents(gateway_id)),
        )
        .values(incident_id=incident.id, version=FollowUp.version + 1)
        .execution_options(synchronize_session=False)
    )
    return raised


def _cancel_resumed(
    session: Session, *, as_of: datetime, silent: set[uuid.UUID], run_id: uuid.UUID | None
) -> int:
    """Cancel the incidents of gateways that spoke again (or were retired)."""
    live = session.execute(
        select(FollowUp.subject_id, Staff.is_active)
        .join(Staff, Staff.id == FollowUp.subject_id)
        .where(
            FollowUp.reason == gateway_silence.REASON,
            in_literals(FollowUp.state, LIVE_STATES),
        )
    ).all()
    cancelled = 0
    for gateway_id, is_active in live:
        if gateway_id in silent:
            continue
        cancelled += followups.cancel_live(
            session,
            subject_id=gateway_id,
            reason=gateway_silence.REASON,
            why="gateway_resumed" if is_active else "gateway_retired",
            now=as_of,
            run_id=run_id,
        )
    return cancelled
