"""The 24-hour care center's follow-up rule: `care_response_overdue` for a request nobody
answered by its deadline (config/care_urgency.json).

A request without a resident is scoped by its own dong, and so is its follow-up. Answering
resolves the follow-up in the same transaction (services/care/work.py); `cleared` repairs anything
that slipped past that. The partial index on unanswered `respond_by` keeps the cost to the overdue.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from schedulers.rules.base import FollowUpRule
from services.followups import LIVE_STATES, Raise
from welfare.models import CareRequest, CareState, FollowUp, FollowUpReason
from welfare.models.base import eq_literal, in_literals

REASON = FollowUpReason.CARE_RESPONSE_OVERDUE.value


def overdue(as_of: datetime) -> Select[Any]:
    """Unanswered requests past their deadline without a live overdue follow-up."""
    live = exists().where(
        FollowUp.subject_id == CareRequest.id,
        FollowUp.reason == REASON,
        in_literals(FollowUp.state, LIVE_STATES),
    )
    return (
        select(CareRequest)
        .where(
            eq_literal(CareRequest.state, CareState.RECEIVED.value),
            CareRequest.respond_by <= as_of,
            ~live,
        )
        .order_by(CareRequest.respond_by)
    )


def unanswered(request: CareRequest, as_of: datetime) -> Raise:
    return Raise(
        subject_type="care_request",
        subject_id=request.id,
        resident_id=request.resident_id,
        dong_code=request.dong_code,
        program="care_center",
        reason=REASON,
        # Ladders may differ by urgency; without one the reason's default applies.
        risk_level=request.urgency,
        due_at=request.respond_by,
        evidence={
            "care_request_id": str(request.id),
            "urgency": request.urgency,
            "care_type": request.care_type,
            "received_at": request.received_at.isoformat(),
            "respond_by": request.respond_by.isoformat(),
        },
    )


def cleared(session: Session, as_of: datetime) -> Sequence[tuple[uuid.UUID, str]]:
    """Live overdue follow-ups of requests no longer waiting for an answer."""
    rows = session.execute(
        select(FollowUp.subject_id, CareRequest.state)
        .join(CareRequest, CareRequest.id == FollowUp.subject_id)
        .where(
            FollowUp.reason == REASON,
            in_literals(FollowUp.state, LIVE_STATES),
            CareRequest.state != CareState.RECEIVED.value,
        )
    ).all()
    return [
        (subject_id, "responded" if state == CareState.RESPONDED else "request_closed")
        for subject_id, state in rows
    ]


CARE_RESPONSE_OVERDUE = FollowUpRule(
    reason=REASON,
    due=overdue,
    # Serialize with a response on the request row (services/care/work.py locks it to answer).
    lock=CareRequest,
    make=unanswered,
    cleared=cleared,
    raised_count="care_overdue_raised",
    cancelled_count="care_overdue_cancelled",
)
