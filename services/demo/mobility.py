"""The demo mobility center, played through the use cases as the demo staff: a fleet, eligible
riders, recurring dialysis rides, yesterday's dispatched day with its outcomes (a no-show of an
Ongi resident among them, which raises its follow-up) and tomorrow dispatched.

Played once: a second seed finds the fleet and adds nothing. Everything is fictional.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import followups, mobility
from welfare.calendar import SEOUL
from welfare.models import Actor, OngiEnrollment, Resident, Vehicle

# (plate, seats, wheelchair spaces)
FLEET = (
    ("서울70바1101", 4, 1),
    ("서울70바1102", 4, 1),
    ("서울70바1103", 4, 1),
    ("서울70바1104", 4, 1),
    ("서울70바1105", 5, 0),
    ("서울70바1106", 5, 0),
)
DRIVERS = ("김운행", "이안전", "박친절", "최정시", "정배려", "한동행")
HOSPITAL = ("시흥대로 123 금천신장내과 (투석실)", "1154567000")
CLINIC = ("가산디지털1로 45 재활의학과", "1154551000")
# (hour, minute, destination, wheelchair) of yesterday's and tomorrow's one-off rides
DAY_PLAN = (
    (9, 0, CLINIC, True),
    (9, 30, HOSPITAL, False),
    (10, 15, CLINIC, False),
    (13, 0, HOSPITAL, True),
    (14, 30, CLINIC, False),
    (16, 0, HOSPITAL, False),
)
NO_SHOW_REASON = "현관 응답 없음, 전화 미수신"


def seed_mobility(
    session: Session,
    *,
    supervisor: Actor | None,
    counselors: Mapping[str, Actor],
    outreach: Mapping[str, Actor],
    resident_ids: Sequence[uuid.UUID],
    now: datetime,
) -> dict[str, int]:
    """The demo mobility center; an empty count when it exists already or nobody can play it."""
    counts = {"vehicles": 0, "drivers": 0, "eligible_riders": 0, "recurring_rides": 0, "rides": 0}
    if supervisor is None or not counselors or session.scalar(select(Vehicle.id).limit(1)):
        return counts
    for plate, seats, spaces in FLEET:
        mobility.add_vehicle(
            session, actor=supervisor, plate=plate, seats=seats, wheelchair_spaces=spaces, now=now
        )
        counts["vehicles"] += 1
    for name in DRIVERS:
        mobility.add_driver(session, actor=supervisor, name=name, now=now)
        counts["drivers"] += 1
    riders = _riders(session, counselors, resident_ids)
    today = now.astimezone(SEOUL).date()
    booked_at = now - timedelta(days=3)
    for dong, resident_id, _enrolled in riders:
        mobility.grant(
            session,
            actor=counselors[dong],
            resident_id=resident_id,
            basis="wheelchair",
            valid_from=today - timedelta(days=60),
            valid_until=today + timedelta(days=300),
            wheelchair=True,
            companion_allowed=True,
            now=booked_at,
        )
        counts["eligible_riders"] += 1
    # Dialysis three times a week for the first two riders, holidays skipped.
    for dong, resident_id, _enrolled in riders[:2]:
        mobility.create_recurring(
            session,
            actor=counselors[dong],
            resident_id=resident_id,
            rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR",
            pickup_time="07:30",
            window_minutes=20,
            starts_on=today,
            skip_holidays=True,
            pickup_address="집 앞 (현관 경사로)",
            pickup_dong=dong,
            dropoff_address=HOSPITAL[0],
            dropoff_dong=HOSPITAL[1],
            now=now,
            calendar=followups.business_calendar(session),
        )
        counts["recurring_rides"] += 1
    for offset in (-1, 1):  # yesterday with its outcomes; tomorrow dispatched
        counts["rides"] += _day(
            session,
            supervisor=supervisor,
            counselors=counselors,
            outreach=outreach,
            riders=riders[2:],
            now=now,
            offset=offset,
        )
    return counts


def _riders(
    session: Session, counselors: Mapping[str, Actor], resident_ids: Sequence[uuid.UUID]
) -> list[tuple[str, uuid.UUID, bool]]:
    """Up to eight residents of the staffed dongs, Ongi-enrolled ones first in each dong."""
    enrolled = set(
        session.scalars(select(OngiEnrollment.resident_id).where(OngiEnrollment.status == "active"))
    )
    found: list[tuple[str, uuid.UUID, bool]] = []
    for dong in sorted(counselors):
        people = session.scalars(
            select(Resident.id)
            .where(
                Resident.id.in_(resident_ids),
                Resident.dong_code == dong,
                Resident.status == "active",
            )
            .order_by(Resident.id)
        ).all()
        ranked = sorted(people, key=lambda r: (r not in enrolled, str(r)))[:3]
        found += [(dong, r, r in enrolled) for r in ranked]
    return found[:8]


def _day(
    session: Session,
    *,
    supervisor: Actor,
    counselors: Mapping[str, Actor],
    outreach: Mapping[str, Actor],
    riders: Sequence[tuple[str, uuid.UUID, bool]],
    now: datetime,
    offset: int,
) -> int:
    """One day of one-off rides, booked two days before and dispatched; a past day also gets
    its outcomes (one no-show, of an Ongi-enrolled rider when there is one)."""
    if not riders:
        return 0
    day = now.astimezone(SEOUL).date() + timedelta(days=offset)
    booked_at = now - timedelta(days=3) if offset < 0 else now
    rides = []
    # One ride per rider and day, so nobody's rides overlap.
    for n, (hour, minute, (address, dong_to), wheelchair) in enumerate(DAY_PLAN[: len(riders)]):
        dong, resident_id, _enrolled = riders[n]
        start = datetime.combine(day, time(hour, minute), tzinfo=SEOUL)
        booked = mobility.book_ride(
            session,
            actor=counselors[dong],
            resident_id=resident_id,
            pickup_address="집 앞",
            pickup_dong=dong,
            dropoff_address=address,
            dropoff_dong=dong_to,
            window_start=start,
            window_end=start + timedelta(minutes=30),
            wheelchair=wheelchair,
            now=booked_at,
        )
        rides.append((booked.ride, dong))
    mobility.dispatch_day(session, actor=supervisor, day=day, now=booked_at)
    if offset >= 0:
        return len(rides)
    no_show = next((r for r, _d in rides if _is_enrolled(riders, r.resident_id)), rides[-1][0])
    for ride, dong in rides:
        current = mobility.get_ride(session, actor=supervisor, ride_id=ride.id, now=now)
        if current.state != "assigned" or current.pickup_at is None:
            continue
        worker = outreach.get(dong, supervisor)
        missed = ride.id == no_show.id
        mobility.record_outcome(
            session,
            actor=worker,
            ride_id=ride.id,
            outcome="no_show" if missed else "completed",
            occurred_at=current.pickup_at + timedelta(minutes=5 if missed else 40),
            reason=NO_SHOW_REASON if missed else None,
            now=current.pickup_at + timedelta(hours=1),
        )
    return len(rides)


def _is_enrolled(riders: Sequence[tuple[str, uuid.UUID, bool]], resident_id: uuid.UUID) -> bool:
    return any(r == resident_id and enrolled for _d, r, enrolled in riders)
