"""Elder health & hygiene visits' follow-up rule: `hygiene_visit_missed` for a visit recorded
missed, or not recorded `missed_after_hours` after its time (config/hygiene.json).

The subject is the visit. Recording it done or refused resolves the follow-up in the same
transaction (services/hygiene.py); `cleared` cancels any left. The partial index on unsettled
visits' `scheduled_at` keeps the cost to those.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import Session

from schedulers.rules.base import FollowUpRule
from services.followups import LIVE_STATES, Raise
from services.hygiene import rules
from welfare.models import FollowUp, FollowUpReason, HygieneVisit, Resident, ResidentStatus
from welfare.models.base import in_literals

REASON = FollowUpReason.HYGIENE_VISIT_MISSED.value
UNSETTLED = ("scheduled", "missed")


def missed(as_of: datetime) -> Select[Any]:
    live = exists().where(
        FollowUp.subject_id == HygieneVisit.id,
        FollowUp.reason == REASON,
        in_literals(FollowUp.state, LIVE_STATES),
    )
    return (
        select(HygieneVisit)
        .join(Resident, Resident.id == HygieneVisit.resident_id)
        .where(
            in_literals(HygieneVisit.state, UNSETTLED),
            HygieneVisit.scheduled_at <= as_of,
            or_(
                HygieneVisit.state == "missed",
                HygieneVisit.scheduled_at <= as_of - rules().missed_after,
            ),
            Resident.status == ResidentStatus.ACTIVE.value,
            ~live,
        )
        .order_by(HygieneVisit.scheduled_at)
    )


def chase(visit: HygieneVisit, as_of: datetime) -> Raise:
    return Raise(
        subject_type="hygiene_visit",
        subject_id=visit.id,
        resident_id=visit.resident_id,
        dong_code=visit.dong_code,
        program="hygiene_care",
        reason=REASON,
        risk_level=None,
        due_at=visit.recorded_at if visit.state == "missed" and visit.recorded_at else as_of,
        evidence={
            "hygiene_visit_id": str(visit.id),
            "enrollment_id": str(visit.enrollment_id),
            "scheduled_at": visit.scheduled_at.isoformat(),
            "recorded": visit.state,
        },
    )


def cleared(session: Session, as_of: datetime) -> Sequence[tuple[uuid.UUID, str]]:
    """Live follow-ups of visits recorded since (done, refused, cancelled), or of residents
    no longer active (ending a resident cancels them at once; this catches any left)."""
    rows = session.execute(
        select(FollowUp.subject_id, HygieneVisit.state, Resident.status)
        .join(HygieneVisit, HygieneVisit.id == FollowUp.subject_id)
        .join(Resident, Resident.id == HygieneVisit.resident_id)
        .where(
            FollowUp.reason == REASON,
            in_literals(FollowUp.state, LIVE_STATES),
            or_(
                and_(HygieneVisit.state != "missed", HygieneVisit.state != "scheduled"),
                Resident.status != ResidentStatus.ACTIVE.value,
            ),
        )
    ).all()
    return [
        (subject_id, f"resident_{status}" if status != "active" else f"visit_{state}")
        for subject_id, state, status in rows
    ]


HYGIENE_VISIT_MISSED = FollowUpRule(
    reason=REASON,
    due=missed,
    # Serialize with recording the visit (services/hygiene.py locks it to record it).
    lock=HygieneVisit,
    make=chase,
    cleared=cleared,
    raised_count="hygiene_missed_raised",
    cancelled_count="hygiene_missed_cancelled",
)
