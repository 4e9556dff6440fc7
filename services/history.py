"""The history of a dispatch or a referral: its event rows, oldest first, as views.

Event rows hold codes, states and staff ids only (never personal data), so reading them needs
no key and they outlive an erasure; the access record is the one of the read that shows them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from welfare.models import DispatchEvent, ReferralEvent


@dataclass(frozen=True, slots=True)
class EventView:
    at: datetime
    kind: str
    actor_staff_id: uuid.UUID | None
    detail: dict[str, Any]


def _views(rows: Sequence[DispatchEvent | ReferralEvent]) -> tuple[EventView, ...]:
    return tuple(
        EventView(at=e.at, kind=e.kind, actor_staff_id=e.actor_staff_id, detail=e.detail)
        for e in rows
    )


def of_dispatch(session: Session, dispatch_id: uuid.UUID) -> tuple[EventView, ...]:
    """What happened to a dispatch, oldest first."""
    return _views(
        session.scalars(
            select(DispatchEvent)
            .where(DispatchEvent.dispatch_id == dispatch_id)
            .order_by(DispatchEvent.at, DispatchEvent.id)
        ).all()
    )


def of_referral(session: Session, referral_id: uuid.UUID) -> tuple[EventView, ...]:
    """What happened to an external referral, oldest first."""
    return _views(
        session.scalars(
            select(ReferralEvent)
            .where(ReferralEvent.referral_id == referral_id)
            .order_by(ReferralEvent.at, ReferralEvent.id)
        ).all()
    )
