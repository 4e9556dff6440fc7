"""Booking rides: one-off rides with a pickup window, the day's list, one ride.

Counselors and supervisors book for residents of their dongs; a ride may pick up or drop off in
any of the district's dongs. The window must lie ahead (a window already begun is refused) and
within the booking horizon (config/mobility.json; the next day is always bookable). A resident
cannot hold two live rides whose times overlap (409 `ride_overlaps`): the resident's row is
locked while checking, so two bookings at once cannot both pass. A retried booking with the same
`client_ref` from the same staff member answers the first ride.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import access, idempotency, residents, vault
from services.mobility import eligibility as eligibility_rules
from services.mobility.common import (
    CLOCK_SKEW,
    check_dong_code,
    day_bounds,
    policy,
    ride_duration,
    seoul_day,
    seoul_today,
)
from services.mobility.records import TABLE, RideView, load, views
from services.pagination import KeyKind, Keyset, Page, paginate
from services.residents.labels import ResidentLabel, label_of, labels
from welfare.errors import Conflict, InvalidInput
from welfare.models import Actor, Resident, Ride, RideState
from welfare.models.base import in_literals

LIVE_STATES = (RideState.REQUESTED.value, RideState.ASSIGNED.value)
MAX_COMPANIONS = 3
DAY_ORDER = Keyset.of((Ride.window_start, KeyKind.INSTANT), (Ride.id, KeyKind.UUID))


@dataclass(frozen=True, slots=True)
class Booked:
    ride: RideView
    created: bool


def check_window(
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    errors: dict[str, list[str]],
    *,
    field: str = "window_start",
) -> None:
    """A window that lies ahead, inside the booking horizon, and not wider than allowed."""
    p = policy()
    if window_end <= window_start:
        errors["window_end"] = [
            "종료 시각이 시작 시각보다 늦어야 합니다 (window end must come after its start)"
        ]
    elif window_end - window_start > p.max_window:
        errors["window_end"] = [
            f"탑승 시간대는 {int(p.max_window.total_seconds() // 60)}분 이내여야 합니다 "
            "(window too wide)"
        ]
    last_day = seoul_today(now) + timedelta(days=max(p.booking_horizon_days, 1))
    if window_start < now - CLOCK_SKEW:
        errors[field] = ["이미 지난 시각입니다 (window in the past)"]
    # (Compared in UTC first: a far-off instant may have no Seoul date in Python's range.)
    elif window_start - now > timedelta(days=366) or seoul_day(window_start) > last_day:
        errors[field] = [
            f"예약 가능 기간({p.booking_horizon_days}일)을 넘었습니다 (beyond the booking horizon)"
        ]


def occupies_until(ride_window_end: datetime, pickup_dong: str, dropoff_dong: str) -> datetime:
    """How long a ride holds its rider: the end of the window plus the trip."""
    return ride_window_end + ride_duration(pickup_dong, dropoff_dong)


def overlapping_ride(
    session: Session,
    resident_id: uuid.UUID,
    window_start: datetime,
    until: datetime,
    *,
    excluding: uuid.UUID | None = None,
) -> Ride | None:
    """A live ride of the resident whose time overlaps [window_start, until)."""
    longest = policy().max_window + timedelta(hours=3)
    stmt = select(Ride).where(
        Ride.resident_id == resident_id,
        in_literals(Ride.state, LIVE_STATES),
        Ride.window_start < until,
        Ride.window_start > window_start - longest,
    )
    if excluding is not None:
        stmt = stmt.where(Ride.id != excluding)
    for other in session.scalars(stmt.order_by(Ride.window_start)):
        if occupies_until(other.window_end, other.pickup_dong, other.dropoff_dong) > window_start:
            return other
    return None


def check_rider(
    session: Session,
    resident: Resident,
    day: date,
    *,
    wheelchair: bool,
    companions: int,
) -> None:
    """An eligibility covers the day and the ride's needs (422 `not_eligible`)."""
    covering = eligibility_rules.covering(session, resident, day)
    if covering is None:
        raise eligibility_rules.NotEligible(
            {"window_start": ["이 날짜에 이동지원 자격이 없습니다 (no eligibility on this date)"]}
        )
    errors: dict[str, list[str]] = {}
    if wheelchair and not covering.wheelchair:
        errors["wheelchair"] = [
            "휠체어 이용 자격이 없습니다 (the eligibility does not include a wheelchair)"
        ]
    if companions and not covering.companion_allowed:
        errors["companions"] = [
            "동반자 탑승 자격이 없습니다 (the eligibility does not allow a companion)"
        ]
    if errors:
        raise eligibility_rules.NotEligible(errors)


def book_ride(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    pickup_address: str,
    pickup_dong: str,
    dropoff_address: str,
    dropoff_dong: str,
    window_start: datetime,
    now: datetime,
    window_end: datetime | None = None,
    wheelchair: bool = False,
    companions: int = 0,
    client_ref: str | None = None,
) -> Booked:
    """Book one ride (state `requested`)."""
    window_end = window_end or window_start + policy().default_window
    errors: dict[str, list[str]] = {}
    check_dong_code(session, "pickup_dong", pickup_dong, errors)
    check_dong_code(session, "dropoff_dong", dropoff_dong, errors)
    for field, value in (("pickup_address", pickup_address), ("dropoff_address", dropoff_address)):
        if not value.strip():
            errors[field] = ["주소를 입력하세요 (an address is required)"]
    if not 0 <= companions <= MAX_COMPANIONS:
        errors["companions"] = [f"동반자는 0~{MAX_COMPANIONS}명입니다 (0 to {MAX_COMPANIONS})"]
    check_window(window_start, window_end, now, errors)
    if errors:
        raise InvalidInput(errors)
    mac = None
    if client_ref:
        mac = idempotency.request_mac(
            session,
            "ride",
            {
                "resident_id": resident_id,
                "pickup_address": pickup_address,
                "pickup_dong": pickup_dong,
                "dropoff_address": dropoff_address,
                "dropoff_dong": dropoff_dong,
                "window_start": window_start,
                "window_end": window_end,
                "wheelchair": wheelchair,
                "companions": companions,
            },
        )
        existing = _by_ref(session, actor, client_ref)
        if existing is not None:
            return _replayed(session, actor, existing, mac, now)
    resident = residents.load(session, actor, resident_id, for_update=True)
    check_rider(
        session, resident, seoul_day(window_start), wheelchair=wheelchair, companions=companions
    )
    until = occupies_until(window_end, pickup_dong, dropoff_dong)
    other = overlapping_ride(session, resident.id, window_start, until)
    if other is not None:
        raise Conflict(
            "같은 시간에 이미 예약된 이동이 있습니다 (another ride of this resident overlaps)",
            code="ride_overlaps",
            extra={"conflicting_ride_id": str(other.id)},
        )
    ride = new_ride(
        session,
        actor=actor,
        resident=resident,
        pickup_address=pickup_address.strip(),
        pickup_dong=pickup_dong,
        dropoff_address=dropoff_address.strip(),
        dropoff_dong=dropoff_dong,
        window_start=window_start,
        window_end=window_end,
        wheelchair=wheelchair,
        companions=companions,
        now=now,
        client_ref=client_ref,
        request_mac=mac,
    )

    try:
        session.flush()
    except IntegrityError:
        # The same ref sent twice at once: the other request won the unique index.
        session.rollback()
        again = _by_ref(session, actor, client_ref) if client_ref else None
        if again is None or mac is None:
            raise
        return _replayed(session, actor, again, mac, now)
    result = views(session, actor, [ride], now=now)[0]
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[resident.id])
    return Booked(result, created=True)


def new_ride(
    session: Session,
    *,
    actor: Actor | None,
    resident: Resident,
    pickup_address: str | None,
    pickup_dong: str,
    dropoff_address: str | None,
    dropoff_dong: str,
    window_start: datetime,
    window_end: datetime,
    wheelchair: bool,
    companions: int,
    now: datetime,
    client_ref: str | None = None,
    request_mac: bytes | None = None,
    recurring_id: uuid.UUID | None = None,
    occurrence_date: date | None = None,
    key: bytes | None = None,
) -> Ride:
    ride_id = uuid.uuid4()
    key = key or vault.data_key(session, resident.id)

    def sealed(column: str, value: str | None) -> bytes | None:
        return vault.seal(session, resident.id, TABLE, column, ride_id, plaintext=value, key=key)

    ride = Ride(
        id=ride_id,
        resident_id=resident.id,
        dong_code=resident.dong_code,
        pickup_dong=pickup_dong,
        dropoff_dong=dropoff_dong,
        pickup_address_enc=sealed("pickup_address", pickup_address),
        dropoff_address_enc=sealed("dropoff_address", dropoff_address),
        window_start=window_start,
        window_end=window_end,
        wheelchair=wheelchair,
        companions=companions,
        state=RideState.REQUESTED.value,
        recurring_id=recurring_id,
        occurrence_date=occurrence_date,
        client_ref=client_ref,
        request_mac=request_mac,
        created_by=actor.staff_id if actor else None,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(ride)
    return ride


def _by_ref(session: Session, actor: Actor, client_ref: str) -> Ride | None:
    return session.scalar(
        select(Ride).where(Ride.created_by == actor.staff_id, Ride.client_ref == client_ref)
    )


def _replayed(session: Session, actor: Actor, existing: Ride, mac: bytes, now: datetime) -> Booked:
    if not idempotency.same_request(existing.request_mac, mac):
        raise idempotency.IdempotencyKeyReused
    ride = load(session, actor, existing.id)
    result = views(session, actor, [ride], now=now)[0]
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[ride.resident_id])
    return Booked(result, created=False)


def get_ride(session: Session, *, actor: Actor, ride_id: uuid.UUID, now: datetime) -> RideView:
    ride = load(session, actor, ride_id)
    result = views(
        session, actor, [ride], now=now, labels=_label(session, actor, ride.resident_id)
    )[0]
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[ride.resident_id])
    return result


def _label(
    session: Session, actor: Actor, resident_id: uuid.UUID
) -> dict[uuid.UUID, ResidentLabel]:
    found = label_of(session, actor, resident_id)
    return {resident_id: found} if found else {}


def day_rides(actor: Actor, day: date) -> Select[Ride]:
    """Rides of the caller's dongs whose window starts on a Seoul day."""
    start, end = day_bounds(day)
    return select(Ride).where(
        access.dong_scope(actor, Ride.dong_code),
        Ride.window_start >= start,
        Ride.window_start < end,
    )


def list_rides(
    session: Session,
    *,
    actor: Actor,
    day: date,
    now: datetime,
    state: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[RideView]:
    """A day's rides of the caller's dongs by window, with a keyset cursor."""
    stmt = day_rides(actor, day)
    if state is not None:
        stmt = stmt.where(Ride.state == state)
    page = paginate(session, stmt, DAY_ORDER, cursor=cursor, limit=limit)
    found = labels(session, actor, (r.resident_id for r in page.items))
    result = Page(
        items=views(session, actor, page.items, now=now, labels=found),
        next_cursor=page.next_cursor,
    )
    access.commit_recorded(
        session, actor=actor, action="search", resident_ids=[r.resident_id for r in page.items]
    )
    return result
