"""A resident's timeline: contacts (with their notes for those who may read them), follow-up
events, kimchi allocations and delivery attempts (observations for those who may read notes),
and mobility rides together, newest first."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, contacts, kimchi, residents
from welfare.models import (
    Actor,
    Contact,
    DeliveryAttempt,
    FollowUp,
    FollowUpEvent,
    KimchiAllocation,
    Ride,
)

LIMIT = 200


def resident_timeline(
    session: Session, *, actor: Actor, resident_id: uuid.UUID
) -> list[dict[str, Any]]:
    resident = residents.load(session, actor, resident_id)
    recent = list(
        session.scalars(
            select(Contact)
            .where(Contact.resident_id == resident.id)
            .order_by(Contact.occurred_at.desc())
            .limit(LIMIT)
        )
    )
    items: list[dict[str, Any]] = [
        {
            "at": c.occurred_at,
            "kind": "contact",
            "channel": c.channel,
            "outcome": c.outcome,
            "followup_id": None,
            "reason": None,
            "step": None,
            "staff_id": c.staff_id,
            "contact_id": c.id,
            "program": c.program,
            "note": c.note,
            "ride_id": None,
        }
        for c in contacts.views(session, actor, recent)
    ]
    rows = session.execute(
        select(FollowUpEvent, FollowUp.reason)
        .join(FollowUp, FollowUp.id == FollowUpEvent.followup_id)
        .where(FollowUp.resident_id == resident.id)
        .order_by(FollowUpEvent.at.desc())
        .limit(LIMIT)
    ).all()
    items += [
        {
            "at": e.at,
            "kind": f"followup_{e.kind}",
            "channel": None,
            "outcome": e.detail.get("outcome"),
            "followup_id": e.followup_id,
            "reason": reason,
            "step": e.step,
            "staff_id": e.actor_staff_id,
            "contact_id": None,
            "program": None,
            "note": None,
            "ride_id": None,
        }
        for e, reason in rows
    ]
    items += _deliveries(session, actor, resident.id)
    rides = session.scalars(
        select(Ride)
        .where(Ride.resident_id == resident.id)
        .order_by(Ride.window_start.desc())
        .limit(LIMIT)
    )
    items += [
        {
            # A ride shows when it ended, or while it is ahead, when it is due.
            "at": r.outcome_at or r.pickup_at or r.window_start,
            "kind": "ride",
            "channel": None,
            "outcome": r.state,
            "followup_id": None,
            "reason": None,
            "step": None,
            "staff_id": r.outcome_by or r.assigned_by or r.created_by,
            "contact_id": None,
            "program": "mobility",
            "note": None,
            "ride_id": r.id,
        }
        for r in rides
    ]
    items.sort(key=lambda item: item["at"], reverse=True)
    access.record(session, actor=actor, action="read", resident_ids=[resident.id])
    session.commit()
    return items[:LIMIT]


def _deliveries(session: Session, actor: Actor, resident_id: uuid.UUID) -> list[dict[str, Any]]:
    """The resident's kimchi boxes: each allocation (`kimchi_allocated`, its status now) and
    each attempt (`kimchi_delivery`, its outcome)."""
    base = {
        "channel": None,
        "followup_id": None,
        "reason": None,
        "step": None,
        "contact_id": None,
        "program": "kimchi",
        "note": None,
    }
    items: list[dict[str, Any]] = [
        {
            **base,
            "at": a.allocated_at,
            "kind": "kimchi_allocated",
            "outcome": a.status,
            "staff_id": a.allocated_by,
        }
        for a in session.scalars(
            select(KimchiAllocation)
            .where(KimchiAllocation.resident_id == resident_id)
            .order_by(KimchiAllocation.allocated_at.desc())
            .limit(LIMIT)
        )
    ]
    attempts = session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.resident_id == resident_id)
        .order_by(DeliveryAttempt.occurred_at.desc())
        .limit(LIMIT)
    )
    for attempt in attempts:
        view = kimchi.attempt_view(session, actor, attempt, allocation_status="")
        items.append(
            {
                **base,
                "at": attempt.occurred_at,
                "kind": "kimchi_delivery",
                "outcome": attempt.outcome,
                "staff_id": attempt.staff_id,
                "contact_id": attempt.contact_id,
                "note": view.observation if access.may_read_notes(actor) else None,
            }
        )
    return items
