"""Counselor dispatch's follow-up rule: `dispatch_overdue` for a dispatch nobody reached on
site by its deadline (the urgency's, config/care_urgency.json).

The subject is the dispatch (scoped by its own dong, like a care request). Arriving on site or
finishing resolves it in the same transaction (services/dispatch.py); `cleared` cancels any
left. The partial index on the deadline of dispatches not yet on site keeps the cost to those.
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
from welfare.models import Dispatch, DispatchState, FollowUp, FollowUpReason
from welfare.models.base import in_literals

REASON = FollowUpReason.DISPATCH_OVERDUE.value
NOT_ON_SITE = (
    DispatchState.REQUESTED.value,
    DispatchState.ASSIGNED.value,
    DispatchState.EN_ROUTE.value,
)


def overdue(as_of: datetime) -> Select[Any]:
    live = exists().where(
        FollowUp.subject_id == Dispatch.id,
        FollowUp.reason == REASON,
        in_literals(FollowUp.state, LIVE_STATES),
    )
    return (
        select(Dispatch)
        .where(
            in_literals(Dispatch.state, NOT_ON_SITE),
            Dispatch.deadline_at <= as_of,
            ~live,
        )
        .order_by(Dispatch.deadline_at)
    )


def late(dispatch: Dispatch, as_of: datetime) -> Raise:
    return Raise(
        subject_type="dispatch",
        subject_id=dispatch.id,
        resident_id=dispatch.resident_id,
        dong_code=dispatch.dong_code,
        program="outreach_dispatch",
        reason=REASON,
        risk_level=dispatch.urgency,
        due_at=dispatch.deadline_at,
        evidence={
            "dispatch_id": str(dispatch.id),
            "urgency": dispatch.urgency,
            "state": dispatch.state,
            "assignee_id": str(dispatch.assignee_id) if dispatch.assignee_id else None,
            "requested_at": dispatch.requested_at.isoformat(),
            "deadline_at": dispatch.deadline_at.isoformat(),
        },
    )


def cleared(session: Session, as_of: datetime) -> Sequence[tuple[uuid.UUID, str]]:
    rows = session.execute(
        select(FollowUp.subject_id, Dispatch.state)
        .join(Dispatch, Dispatch.id == FollowUp.subject_id)
        .where(
            FollowUp.reason == REASON,
            in_literals(FollowUp.state, LIVE_STATES),
            in_literals(
                Dispatch.state,
                (
                    DispatchState.ON_SITE.value,
                    DispatchState.DONE.value,
                    DispatchState.CANCELLED.value,
                ),
            ),
        )
    ).all()
    return [(subject_id, f"dispatch_{state}") for subject_id, state in rows]


DISPATCH_OVERDUE = FollowUpRule(
    reason=REASON,
    due=overdue,
    # Serialize with arriving on site (services/dispatch.py locks the dispatch to move it).
    lock=Dispatch,
    make=late,
    cleared=cleared,
    raised_count="dispatch_overdue_raised",
    cancelled_count="dispatch_overdue_cancelled",
)
