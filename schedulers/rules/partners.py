"""External referrals' follow-up rule: `partner_unanswered` for a referral a partner has not
answered within its business days (config/partners.json, `answer_business_days`).

The subject is the referral, so each unanswered referral has one live follow-up. Recording the
answer resolves it in the same transaction (services/partners.py); `cleared` cancels any left
when the referral is answered another way or its resident is no longer active. The partial index
on awaiting `answer_due_at` keeps the cost to the overdue.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from schedulers.rules.base import FollowUpRule
from services.followups import LIVE_STATES, Raise
from welfare.models import (
    ExternalReferral,
    FollowUp,
    FollowUpReason,
    ReferralState,
    Resident,
    ResidentStatus,
)
from welfare.models.base import eq_literal, in_literals

REASON = FollowUpReason.PARTNER_UNANSWERED.value


def unanswered(as_of: datetime) -> Select[Any]:
    """Referrals still waiting past their answer time, of active residents, none live yet."""
    live = exists().where(
        FollowUp.subject_id == ExternalReferral.id,
        FollowUp.reason == REASON,
        in_literals(FollowUp.state, LIVE_STATES),
    )
    return (
        select(ExternalReferral)
        .join(Resident, Resident.id == ExternalReferral.resident_id)
        .where(
            eq_literal(ExternalReferral.state, ReferralState.SENT.value),
            ExternalReferral.answer_due_at <= as_of,
            Resident.status == ResidentStatus.ACTIVE.value,
            ~live,
        )
        .order_by(ExternalReferral.answer_due_at)
    )


def chase(referral: ExternalReferral, as_of: datetime) -> Raise:
    return Raise(
        subject_type="external_referral",
        subject_id=referral.id,
        resident_id=referral.resident_id,
        dong_code=referral.dong_code,
        program="partner",
        reason=REASON,
        risk_level=None,
        due_at=referral.answer_due_at,
        evidence={
            "external_referral_id": str(referral.id),
            "partner": referral.partner_code,
            "sent_at": referral.sent_at.isoformat(),
            "answer_due_at": referral.answer_due_at.isoformat(),
        },
    )


def cleared(session: Session, as_of: datetime) -> Sequence[tuple[uuid.UUID, str]]:
    """Live follow-ups of referrals answered since, or of residents no longer active."""
    rows = session.execute(
        select(FollowUp.subject_id, ExternalReferral.state, Resident.status)
        .join(ExternalReferral, ExternalReferral.id == FollowUp.subject_id)
        .join(Resident, Resident.id == ExternalReferral.resident_id)
        .where(
            FollowUp.reason == REASON,
            in_literals(FollowUp.state, LIVE_STATES),
            or_(
                ExternalReferral.state != ReferralState.SENT.value,
                Resident.status != ResidentStatus.ACTIVE.value,
            ),
        )
    ).all()
    return [
        (subject_id, f"resident_{status}" if status != "active" else f"referral_{state}")
        for subject_id, state, status in rows
    ]


PARTNER_UNANSWERED = FollowUpRule(
    reason=REASON,
    due=unanswered,
    # Serialize with recording the answer (services/partners.py locks the referral to change it).
    lock=ExternalReferral,
    make=chase,
    cleared=cleared,
    raised_count="partner_unanswered_raised",
    cancelled_count="partner_unanswered_cancelled",
)
