"""The mobility center's follow-up rule: `eligibility_expiring` for a ride eligibility that ends
within the notice period (config/mobility.json, 30 days), so the resident's counselor renews it
before rides are refused.

The subject is the eligibility. One that a later eligibility already continues is not due; a
live follow-up whose eligibility was renewed since is cancelled (`renewed`). The index on
`valid_until` keeps the scan to the eligibilities ending soon.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session, aliased

from schedulers.rules.base import FollowUpRule
from services.followups import LIVE_STATES, Raise
from services.mobility.common import policy, seoul_today
from welfare.calendar import SEOUL
from welfare.models import Eligibility, FollowUp, FollowUpReason, Resident
from welfare.models.base import in_literals

REASON = FollowUpReason.ELIGIBILITY_EXPIRING.value
LATER = aliased(Eligibility)


def _continued(as_of: datetime) -> Any:
    """Another eligibility of the same resident lasts longer and has begun by the notice's end."""
    horizon = seoul_today(as_of) + timedelta(days=policy().eligibility_notice_days + 1)
    return exists().where(
        LATER.resident_id == Eligibility.resident_id,
        LATER.id != Eligibility.id,
        LATER.valid_until > Eligibility.valid_until,
        LATER.valid_from <= horizon,
    )


def expiring(as_of: datetime) -> Select[Any]:
    """Eligibilities ending within the notice, not continued, with no live follow-up yet."""
    today = seoul_today(as_of)
    live = exists().where(
        FollowUp.subject_id == Eligibility.id,
        FollowUp.reason == REASON,
        in_literals(FollowUp.state, LIVE_STATES),
    )
    return (
        select(Eligibility)
        .join(Resident, Resident.id == Eligibility.resident_id)
        .where(
            Eligibility.valid_until >= today,
            Eligibility.valid_until <= today + timedelta(days=policy().eligibility_notice_days),
            Resident.status == "active",
            ~_continued(as_of),
            ~live,
        )
        .order_by(Eligibility.valid_until, Eligibility.id)
    )


def ending(eligibility: Eligibility, as_of: datetime) -> Raise:
    last_moment = datetime.combine(eligibility.valid_until, time(23, 59), tzinfo=SEOUL)
    return Raise(
        subject_type="eligibility",
        subject_id=eligibility.id,
        resident_id=eligibility.resident_id,
        dong_code=eligibility.dong_code,
        program="mobility",
        reason=REASON,
        risk_level=None,
        due_at=last_moment,
        evidence={
            "eligibility_id": str(eligibility.id),
            "basis": eligibility.basis,
            "valid_until": eligibility.valid_until.isoformat(),
        },
    )


def renewed(session: Session, as_of: datetime) -> Sequence[tuple[uuid.UUID, str]]:
    """Live follow-ups whose eligibility a later one now continues, or whose resident died,
    moved away or was erased."""
    rows = session.scalars(
        select(FollowUp.subject_id)
        .join(Eligibility, Eligibility.id == FollowUp.subject_id)
        .where(
            FollowUp.reason == REASON,
            in_literals(FollowUp.state, LIVE_STATES),
            _continued(as_of),
        )
    ).all()
    gone = session.scalars(
        select(FollowUp.subject_id)
        .join(Resident, Resident.id == FollowUp.resident_id)
        .where(
            FollowUp.reason == REASON,
            in_literals(FollowUp.state, LIVE_STATES),
            Resident.status != "active",
        )
    ).all()
    return [(s, "renewed") for s in rows] + [(s, "resident_ended") for s in gone if s not in rows]


ELIGIBILITY_EXPIRING = FollowUpRule(
    reason=REASON,
    due=expiring,
    lock=Eligibility,
    make=ending,
    cleared=renewed,
    raised_count="eligibility_expiring_raised",
    cancelled_count="eligibility_expiring_cancelled",
)
