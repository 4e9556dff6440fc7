"""Assigning a ride: a vehicle, a driver and a planned pickup inside the window.

The vehicle and the driver are busy from the planned pickup to the estimated drop-off plus the
turnaround buffer (travel times from services/mobility/common.py). No vehicle and no driver may
hold two overlapping busy intervals:

- on PostgreSQL the exclusion constraints `ex_mobility_rides_vehicle_busy` and
  `ex_mobility_rides_driver_busy` (btree_gist, `tstzrange(pickup_at, busy_until) WITH &&`) make
  it impossible; the check below only names the conflicting ride, and a race lost between the
  check and the write comes back from the constraint as the same 409;
- on SQLite every write transaction holds the database's write lock from its first statement
  (BEGIN IMMEDIATE), so the check and the write cannot be interleaved with another assignment.

An overlap is a 409 `double_booked`, naming the conflicting ride when the caller may see it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import access
from services.mobility.common import busy_until, within_service
from services.mobility.records import RideView, load_for_change, views
from welfare.errors import Conflict, InvalidInput
from welfare.models import Actor, Driver, Ride, RideState, Vehicle
from welfare.models.base import in_literals

HOLDING_STATES = (RideState.ASSIGNED.value, RideState.COMPLETED.value, RideState.NO_SHOW.value)


def double_booked(actor: Actor, other: Ride, vehicle_id: uuid.UUID | None) -> Conflict:
    resource = "vehicle" if other.vehicle_id == vehicle_id else "driver"
    extra: dict[str, str] = {"resource": resource}
    if access.in_scope(actor, other.dong_code):
        extra["conflicting_ride_id"] = str(other.id)
    return Conflict(
        "차량 또는 운전원이 같은 시간에 이미 배차되어 있습니다 "
        "(the vehicle or the driver is already busy at that time)",
        code="double_booked",
        extra=extra,
    )


def busy_conflict(
    session: Session,
    *,
    vehicle_id: uuid.UUID | None,
    driver_id: uuid.UUID | None,
    start: datetime,
    end: datetime,
    excluding: uuid.UUID | None = None,
) -> Ride | None:
    """A ride holding the vehicle or the driver during [start, end), if any."""
    holders = [
        c
        for c in (
            Ride.vehicle_id == vehicle_id if vehicle_id else None,
            Ride.driver_id == driver_id if driver_id else None,
        )
        if c is not None
    ]
    if not holders:
        return None
    stmt = select(Ride).where(
        or_(*holders),
        in_literals(Ride.state, HOLDING_STATES),
        Ride.pickup_at < end,
        Ride.busy_until > start,
    )
    if excluding is not None:
        stmt = stmt.where(Ride.id != excluding)
    return session.scalar(stmt.order_by(Ride.pickup_at, Ride.id).limit(1))


def check_fleet(
    session: Session,
    ride: Ride,
    *,
    vehicle_id: uuid.UUID,
    driver_id: uuid.UUID,
    pickup_at: datetime,
    end: datetime,
) -> tuple[Vehicle | None, Driver | None]:
    """The vehicle and the driver can take this ride at this time (422 on the field otherwise)."""
    errors: dict[str, list[str]] = {}
    vehicle = session.get(Vehicle, vehicle_id)
    driver = session.get(Driver, driver_id)
    if vehicle is None or not vehicle.active:
        errors["vehicle_id"] = ["운행 중인 차량이 아닙니다 (no active vehicle with this id)"]
    elif ride.wheelchair and vehicle.wheelchair_spaces < 1:
        errors["vehicle_id"] = [
            "휠체어 공간이 없는 차량입니다 (a wheelchair ride needs a wheelchair space)"
        ]
    elif 1 + ride.companions > vehicle.seats:
        errors["vehicle_id"] = ["좌석이 부족합니다 (not enough seats)"]
    elif not within_service(pickup_at, end, vehicle.service_start_min, vehicle.service_end_min):
        errors["pickup_at"] = ["차량 운행 시간 밖입니다 (outside the vehicle's service hours)"]
    if driver is None or not driver.active:
        errors["driver_id"] = ["근무 중인 운전원이 아닙니다 (no active driver with this id)"]
    elif not within_service(pickup_at, end, driver.service_start_min, driver.service_end_min):
        errors["pickup_at"] = ["운전원 근무 시간 밖입니다 (outside the driver's service hours)"]
    if not ride.window_start <= pickup_at <= ride.window_end:
        errors["pickup_at"] = ["탑승 시간대 밖의 시각입니다 (pickup outside the ride's window)"]
    if errors:
        raise InvalidInput(errors)
    return vehicle, driver


def assign(
    session: Session,
    *,
    actor: Actor,
    ride_id: uuid.UUID,
    vehicle_id: uuid.UUID,
    driver_id: uuid.UUID,
    pickup_at: datetime,
    now: datetime,
    expected_version: int | None = None,
) -> RideView:
    """Give a live ride a vehicle, a driver and a planned pickup (or move it to others)."""
    ride = load_for_change(session, actor, ride_id, expected_version)
    ride.ensure_live()
    if not ride.window_start <= pickup_at <= ride.window_end:
        raise InvalidInput(
            {"pickup_at": ["탑승 시간대 밖의 시각입니다 (pickup outside the ride's window)"]}
        )
    end = busy_until(pickup_at, ride.pickup_dong, ride.dropoff_dong)
    check_fleet(
        session, ride, vehicle_id=vehicle_id, driver_id=driver_id, pickup_at=pickup_at, end=end
    )
    other = busy_conflict(
        session,
        vehicle_id=vehicle_id,
        driver_id=driver_id,
        start=pickup_at,
        end=end,
        excluding=ride.id,
    )
    if other is not None:
        refused = double_booked(actor, other, vehicle_id)
        access.record_refusal(
            session,
            actor=actor,
            action="update",
            resident_ids=[ride.resident_id],
            outcome="conflict",
        )
        raise refused
    resident_id = ride.resident_id
    ride.assign(
        vehicle_id=vehicle_id,
        driver_id=driver_id,
        pickup_at=pickup_at,
        busy_until=end,
        by=actor.staff_id,
        at=now,
    )
    try:
        session.flush()
    except IntegrityError:
        # Lost a race to a concurrent assignment: the exclusion constraint refused the interval.
        session.rollback()
        other = busy_conflict(
            session,
            vehicle_id=vehicle_id,
            driver_id=driver_id,
            start=pickup_at,
            end=end,
            excluding=ride_id,
        )
        if other is None:
            raise
        refused = double_booked(actor, other, vehicle_id)
        access.record_refusal(
            session,
            actor=actor,
            action="update",
            resident_ids=[resident_id],
            outcome="conflict",
        )
        raise refused from None
    result = views(session, actor, [ride], now=now)[0]
    access.commit_recorded(session, actor=actor, action="update", resident_ids=[resident_id])
    return result
