"""What supervisors and dispatchers look at: riders with repeated no-shows (for a human
decision: nothing suspends anyone automatically), a day's dispatch board, and a resident's
rides for their timeline."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from services import access, residents, vault
from services.mobility.bookings import day_rides
from services.mobility.common import policy
from services.mobility.records import TABLE, RideView, views
from services.pagination import KeyKind, Keyset, Page, paginate
from services.residents.labels import ResidentLabel, labels
from welfare.models import Actor, Resident, Ride, RideState, Vehicle
from welfare.models.base import in_literals

ENDED = (RideState.COMPLETED.value, RideState.NO_SHOW.value)
REVIEW_ORDER = Keyset.of((Resident.id, KeyKind.UUID))
BOARD_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class NoShowRider:
    resident_id: uuid.UUID
    resident: ResidentLabel | None
    rides: int  # ended rides (completed or no-show) in the period
    no_shows: int
    rate: float
    last_no_show_at: datetime | None
    reasons: list[str] = field(default_factory=list)  # for note readers


def no_show_review(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[NoShowRider]:
    """Riders of the caller's dongs with at least the configured count and rate of no-shows
    among their ended rides in the configured period (config/mobility.json)."""
    rule = policy().no_show_review
    since = now - timedelta(days=rule.days)
    recent = and_(
        access.dong_scope(actor, Ride.dong_code),
        in_literals(Ride.state, ENDED),
        Ride.outcome_at >= since,
    )
    no_shows = func.sum(case((Ride.state == RideState.NO_SHOW.value, 1), else_=0))
    flagged = (
        select(Ride.resident_id)
        .where(recent)
        .group_by(Ride.resident_id)
        .having(no_shows >= rule.min_count, no_shows >= rule.min_rate * func.count())
    )
    stmt = select(Resident).where(
        Resident.id.in_(flagged), access.dong_scope(actor, Resident.dong_code)
    )
    page = paginate(session, stmt, REVIEW_ORDER, cursor=cursor, limit=limit)
    ids = [r.id for r in page.items]
    rows = session.scalars(
        select(Ride).where(recent, Ride.resident_id.in_(ids)).order_by(Ride.outcome_at)
    ).all()
    by_resident: dict[uuid.UUID, list[Ride]] = defaultdict(list)
    for ride in rows:
        by_resident[ride.resident_id].append(ride)
    reasons = _reasons(session, actor, [r for r in rows if r.state == RideState.NO_SHOW])
    found = labels(session, actor, ids)
    items = []
    for resident_id in ids:
        ended = by_resident[resident_id]
        missed = [r for r in ended if r.state == RideState.NO_SHOW]
        items.append(
            NoShowRider(
                resident_id=resident_id,
                resident=found.get(resident_id),
                rides=len(ended),
                no_shows=len(missed),
                rate=round(len(missed) / len(ended), 3) if ended else 0.0,
                last_no_show_at=missed[-1].outcome_at if missed else None,
                reasons=[reasons[r.id] for r in missed if reasons.get(r.id)],
            )
        )
    access.commit_recorded(session, actor=actor, action="search", resident_ids=ids)
    return Page(items=items, next_cursor=page.next_cursor)


def _reasons(session: Session, actor: Actor, rides: list[Ride]) -> dict[uuid.UUID, str]:
    if not access.may_read_notes(actor):
        return {}
    opened = vault.open_many(
        session,
        actor=actor,
        values=[
            vault.Sealed(r.resident_id, TABLE, "outcome_reason", r.id, r.outcome_reason_enc)
            for r in rides
        ],
    )
    return {r.id: o for r, o in zip(rides, opened, strict=True) if isinstance(o, str)}


@dataclass(frozen=True, slots=True)
class BoardLane:
    vehicle_id: uuid.UUID
    plate: str
    rides: list[RideView]


@dataclass(frozen=True, slots=True)
class Board:
    date: date
    vehicles: list[BoardLane]
    unassigned: list[RideView]
    late: list[RideView]
    truncated: bool


def board(session: Session, *, actor: Actor, day: date, now: datetime) -> Board:
    """A day's rides of the caller's dongs by vehicle and time; the unassigned; and the late:
    unassigned past their window's start, or assigned past the planned pickup with no outcome."""
    rides = session.scalars(
        day_rides(actor, day).order_by(Ride.window_start, Ride.id).limit(BOARD_LIMIT + 1)
    ).all()
    truncated = len(rides) > BOARD_LIMIT
    rides = rides[:BOARD_LIMIT]
    found = labels(session, actor, (r.resident_id for r in rides))
    shown = {v.id: v for v in views(session, actor, rides, now=now, labels=found)}
    plates = dict(
        session.execute(
            select(Vehicle.id, Vehicle.plate).where(
                Vehicle.id.in_({r.vehicle_id for r in rides if r.vehicle_id})
            )
        ).all()
    )
    lanes: dict[uuid.UUID, list[RideView]] = defaultdict(list)
    unassigned, late = [], []
    for ride in rides:
        item = shown[ride.id]
        if ride.vehicle_id is not None and ride.state != RideState.CANCELLED:
            lanes[ride.vehicle_id].append(item)
        if ride.state == RideState.REQUESTED:
            unassigned.append(item)
            if ride.window_start < now:
                late.append(item)
        elif ride.state == RideState.ASSIGNED and ride.pickup_at and ride.pickup_at < now:
            late.append(item)
    result = Board(
        date=day,
        vehicles=[
            BoardLane(vehicle_id=v, plate=plates.get(v, ""), rides=items)
            for v, items in sorted(lanes.items(), key=lambda kv: plates.get(kv[0], ""))
        ],
        unassigned=unassigned,
        late=late,
        truncated=truncated,
    )
    access.commit_recorded(
        session, actor=actor, action="search", resident_ids=[r.resident_id for r in rides]
    )
    return result


def resident_rides(
    session: Session, *, actor: Actor, resident_id: uuid.UUID, limit: int = 200
) -> list[Ride]:
    """A resident's rides, newest window first, for their timeline (the caller records)."""
    resident = residents.load(session, actor, resident_id)
    return list(
        session.scalars(
            select(Ride)
            .where(Ride.resident_id == resident.id, access.dong_scope(actor, Ride.dong_code))
            .order_by(Ride.window_start.desc())
            .limit(limit)
        )
    )
