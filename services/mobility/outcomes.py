"""How a ride ended, and what that means for the person's welfare.

- `completed`: the person was seen well. When they are enrolled in Ongi, it is a successful
  contact (channel `ride`, `reached`) in the same transaction: it moves their due time and
  resolves an open lapse (services.ongi.record_contact).
- `no_show` (with the reason when known): for an Ongi-enrolled resident, a welfare signal within
  hours, not a billing note: a `ride_no_show` follow-up on the ride, on the ladder of the
  resident's risk level (config/escalation_ladders.json: a first step of hours). Nobody is
  suspended automatically; supervisors review repeated no-shows (services/mobility/review.py).
- `cancelled` / `late_cancel`: the rule decides which, not the caller: a cancellation at or after
  the late-cancel cut-off before the window (config/mobility.json) is `late_cancel`. Either frees
  the vehicle and the driver.

Outreach workers (the drivers' coordinators) record outcomes; counselors and supervisors too. A
retried request with the same `client_ref` from the same staff member answers the first result.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import access, followups, idempotency, ongi, residents
from services.followups import Raise
from services.mobility.common import CLOCK_SKEW, policy
from services.mobility.records import RideView, load, load_for_change, seal, views
from welfare.errors import InvalidInput, RuleViolation
from welfare.models import (
    Actor,
    Channel,
    FollowUpReason,
    OngiEnrollment,
    Outcome,
    Ride,
    RideOutcome,
    RideState,
)
from welfare.models.base import in_literals

# A ride may be reported done from an hour before its window (an early pickup).
EARLIEST_DONE = timedelta(hours=1)
LIVE_ENROLLMENT = ("active", "paused")


def effective_outcome(outcome: RideOutcome, ride: Ride, occurred_at: datetime) -> RideOutcome:
    """A cancellation is `late_cancel` from the cut-off before the window on, else `cancelled`."""
    if outcome not in (RideOutcome.CANCELLED, RideOutcome.LATE_CANCEL):
        return outcome
    cutoff = ride.window_start - policy().late_cancel_cutoff
    return RideOutcome.LATE_CANCEL if occurred_at >= cutoff else RideOutcome.CANCELLED


def record_outcome(
    session: Session,
    *,
    actor: Actor,
    ride_id: uuid.UUID,
    outcome: str,
    occurred_at: datetime,
    now: datetime,
    reason: str | None = None,
    client_ref: str | None = None,
    expected_version: int | None = None,
) -> RideView:
    """End a live ride with its outcome, and act on what it says about the person."""
    try:
        asked = RideOutcome(outcome)
    except ValueError:
        raise InvalidInput({"outcome": ["알 수 없는 결과입니다 (unknown outcome)"]}) from None
    if occurred_at > now + CLOCK_SKEW:
        raise InvalidInput({"occurred_at": ["미래 시각은 기록할 수 없습니다 (in the future)"]})
    reason = (reason or "").strip() or None
    mac = None
    if client_ref:
        mac = idempotency.request_mac(
            session,
            "ride_outcome",
            {"ride_id": ride_id, "outcome": outcome, "occurred_at": occurred_at, "reason": reason},
        )
        existing = _by_ref(session, actor, client_ref)
        if existing is not None:
            return _replayed(session, actor, existing, mac, now)
    ride = load_for_change(session, actor, ride_id, expected_version)
    ride.ensure_live()
    if asked in (RideOutcome.COMPLETED, RideOutcome.NO_SHOW) and ride.state != RideState.ASSIGNED:
        raise RuleViolation(
            "배차되지 않은 이동입니다 (ride not assigned)", code="ride_not_assigned"
        )
    if asked in (RideOutcome.COMPLETED, RideOutcome.NO_SHOW) and (
        occurred_at < ride.window_start - EARLIEST_DONE
    ):
        raise InvalidInput(
            {"occurred_at": ["탑승 시간대보다 이른 시각입니다 (before the pickup window)"]}
        )
    ended = effective_outcome(asked, ride, occurred_at)
    ride.end(outcome=ended, occurred_at=occurred_at, by=actor.staff_id, at=now)
    ride.outcome_reason_enc = seal(session, ride, "outcome_reason", reason)
    ride.outcome_client_ref = client_ref
    ride.outcome_request_mac = mac
    if ended is RideOutcome.COMPLETED:
        _seen_well(session, actor, ride, occurred_at, now)
    elif ended is RideOutcome.NO_SHOW:
        _no_show(session, ride, occurred_at, now)
    resident_id = ride.resident_id
    try:
        session.flush()
    except IntegrityError:
        # The same ref sent twice at once: the other request recorded it first.
        session.rollback()
        again = _by_ref(session, actor, client_ref) if client_ref else None
        if again is None or mac is None:
            raise
        return _replayed(session, actor, again, mac, now)
    result = views(session, actor, [ride], now=now)[0]
    access.commit_recorded(session, actor=actor, action="update", resident_ids=[resident_id])
    return result


def _enrollment(session: Session, resident_id: uuid.UUID) -> OngiEnrollment | None:
    return session.scalar(
        select(OngiEnrollment).where(
            OngiEnrollment.resident_id == resident_id,
            in_literals(OngiEnrollment.status, LIVE_ENROLLMENT),
        )
    )


def _seen_well(
    session: Session, actor: Actor, ride: Ride, occurred_at: datetime, now: datetime
) -> None:
    if _enrollment(session, ride.resident_id) is None:
        return
    resident = residents.load(session, actor, ride.resident_id)
    ongi.record_contact(
        session,
        resident=resident,
        actor=actor,
        channel=Channel.RIDE.value,
        outcome=Outcome.REACHED.value,
        occurred_at=occurred_at,
        now=now,
        program="mobility",
        note=None,
        client_ref=None,
        source="staff",
    )


def _no_show(session: Session, ride: Ride, occurred_at: datetime, now: datetime) -> None:
    enrollment = _enrollment(session, ride.resident_id)
    if enrollment is None:
        return
    followups.raise_many(
        session,
        [
            Raise(
                subject_type="ride",
                subject_id=ride.id,
                resident_id=ride.resident_id,
                dong_code=ride.dong_code,
                program="mobility",
                reason=FollowUpReason.RIDE_NO_SHOW.value,
                risk_level=enrollment.risk_level,
                due_at=now,
                evidence={
                    "ride_id": str(ride.id),
                    "window_start": ride.window_start.isoformat(),
                    "occurred_at": occurred_at.isoformat(),
                    "pickup_dong": ride.pickup_dong,
                },
            )
        ],
        as_of=now,
        run_id=None,
        calendar=followups.business_calendar(session),
    )


def _by_ref(session: Session, actor: Actor, client_ref: str) -> Ride | None:
    return session.scalar(
        select(Ride).where(Ride.outcome_by == actor.staff_id, Ride.outcome_client_ref == client_ref)
    )


def _replayed(
    session: Session, actor: Actor, existing: Ride, mac: bytes, now: datetime
) -> RideView:
    if not idempotency.same_request(existing.outcome_request_mac, mac):
        raise idempotency.IdempotencyKeyReused
    ride = load(session, actor, existing.id)
    result = views(session, actor, [ride], now=now)[0]
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[ride.resident_id])
    return result
