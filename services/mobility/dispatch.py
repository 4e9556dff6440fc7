"""Dispatching a day: every unassigned ride of the caller's dongs that fits gets a vehicle, a
driver and a planned pickup; every ride that does not gets the reason.

The fleet's existing busy intervals that day (any dong's rides) stay as they are. Each active
vehicle is paired with one active driver for the day (a vehicle already working keeps the
driver of its latest ride); the planning itself is `services.mobility.planning.place`. Written
under the same guarantees as a single assignment: the rides are locked, and on PostgreSQL the
exclusion constraints refuse any interval a concurrent assignment took meanwhile (then the
whole dispatch is a 409 and nothing is written; run it again).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import access
from services.mobility.assignment import HOLDING_STATES
from services.mobility.common import (
    at_local,
    day_bounds,
    policy,
    ride_duration,
    service_minutes,
    travel_times,
)
from services.mobility.planning import Interval, Lane, Trip, place
from welfare.errors import Conflict
from welfare.models import Actor, Driver, Ride, RideState, Vehicle
from welfare.models.base import eq_literal, in_literals


@dataclass(frozen=True, slots=True)
class Assigned:
    ride_id: uuid.UUID
    vehicle_id: uuid.UUID
    driver_id: uuid.UUID
    pickup_at: datetime
    busy_until: datetime


@dataclass(frozen=True, slots=True)
class Unassigned:
    ride_id: uuid.UUID
    reason: str


@dataclass(frozen=True, slots=True)
class DispatchResult:
    date: date
    assigned: list[Assigned]
    unassigned: list[Unassigned]
    vehicles_used: int


def trip_of(ride: Ride) -> Trip:
    return Trip(
        id=ride.id,
        pickup_dong=ride.pickup_dong,
        dropoff_dong=ride.dropoff_dong,
        earliest=ride.window_start,
        latest=ride.window_end,
        busy=ride_duration(ride.pickup_dong, ride.dropoff_dong) + policy().turnaround,
        wheelchair=ride.wheelchair,
        seats=1 + ride.companions,
    )


def dispatch_day(session: Session, *, actor: Actor, day: date, now: datetime) -> DispatchResult:
    start, end = day_bounds(day)
    rides = session.scalars(
        select(Ride)
        .where(
            access.dong_scope(actor, Ride.dong_code),
            eq_literal(Ride.state, RideState.REQUESTED.value),
            Ride.window_start >= start,
            Ride.window_start < end,
        )
        .order_by(Ride.window_start, Ride.id)
        .with_for_update()
    ).all()
    unassigned = [Unassigned(r.id, "window_passed") for r in rides if r.window_end < now]
    pending = {r.id: r for r in rides if r.window_end >= now}
    lanes, driver_busy = _lanes(session, day, start, end)

    def driver_free(lane: Lane, busy_from: datetime, busy_to: datetime) -> bool:
        return all(
            not (s < busy_to and busy_from < e)
            for s, e, vehicle in driver_busy[lane.driver_id]
            if vehicle != lane.vehicle_id
        )

    plan = place(
        (trip_of(r) for r in pending.values()), lanes, travel_times(), driver_free=driver_free
    )
    unassigned += [Unassigned(trip.id, why) for trip, why in plan.unplaced]
    assigned = []
    for placement in plan.placed:
        ride = pending[placement.trip.id]
        busy_until = placement.pickup_at + placement.trip.busy
        ride.assign(
            vehicle_id=placement.lane.vehicle_id,
            driver_id=placement.lane.driver_id,
            pickup_at=placement.pickup_at,
            busy_until=busy_until,
            by=actor.staff_id,
            at=now,
        )
        assigned.append(
            Assigned(
                ride.id,
                placement.lane.vehicle_id,
                placement.lane.driver_id,
                placement.pickup_at,
                busy_until,
            )
        )
    resident_ids = sorted({pending[a.ride_id].resident_id for a in assigned})
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            "배차 중 다른 배차가 먼저 기록되었습니다. 다시 실행하세요 "
            "(another assignment took a vehicle or driver meanwhile: dispatch again)",
            code="double_booked",
        ) from None
    used = session.scalars(
        select(Ride.vehicle_id)
        .where(
            access.dong_scope(actor, Ride.dong_code),
            in_literals(Ride.state, HOLDING_STATES),
            Ride.window_start >= start,
            Ride.window_start < end,
        )
        .distinct()
    ).all()
    result = DispatchResult(
        date=day,
        assigned=assigned,
        unassigned=sorted(unassigned, key=lambda u: str(u.ride_id)),
        vehicles_used=len(used),
    )
    access.commit_recorded(session, actor=actor, action="update", resident_ids=resident_ids)
    return result


def _lanes(
    session: Session, day: date, start: datetime, end: datetime
) -> tuple[list[Lane], dict[uuid.UUID, list[tuple[datetime, datetime, uuid.UUID | None]]]]:
    """One lane per active vehicle that has an active driver for the day, with the vehicle's
    busy intervals; and every driver's busy intervals (on any vehicle)."""
    vehicles = session.scalars(
        select(Vehicle).where(Vehicle.active).order_by(Vehicle.plate, Vehicle.id)
    ).all()
    drivers = {
        d.id: d
        for d in session.scalars(
            select(Driver).where(Driver.active).order_by(Driver.created_at, Driver.id)
        )
    }
    margin = timedelta(hours=6)
    held = session.execute(
        select(
            Ride.vehicle_id,
            Ride.driver_id,
            Ride.pickup_at,
            Ride.busy_until,
            Ride.pickup_dong,
            Ride.dropoff_dong,
        )
        .where(
            in_literals(Ride.state, HOLDING_STATES),
            Ride.pickup_at < end + margin,
            Ride.busy_until > start - margin,
        )
        .order_by(Ride.pickup_at)
    ).all()
    timelines: dict[uuid.UUID, list[Interval]] = defaultdict(list)
    last_driver: dict[uuid.UUID, uuid.UUID] = {}
    driver_busy: dict[uuid.UUID, list[tuple[datetime, datetime, uuid.UUID | None]]] = defaultdict(
        list
    )
    for vehicle_id, driver_id, pickup_at, busy_until, pickup_dong, dropoff_dong in held:
        if pickup_at is None or busy_until is None:
            continue  # never for a ride that holds the fleet
        if vehicle_id is not None:
            timelines[vehicle_id].append(Interval(pickup_at, busy_until, pickup_dong, dropoff_dong))
            if driver_id is not None:
                last_driver[vehicle_id] = driver_id
        if driver_id is not None:
            driver_busy[driver_id].append((pickup_at, busy_until, vehicle_id))
    free_drivers = [d for d in drivers if d not in set(last_driver.values())]
    free_drivers.sort(key=lambda d: d in driver_busy)  # drivers with no ride yet first
    lanes = []
    taken: set[uuid.UUID] = set()
    for vehicle in sorted(vehicles, key=lambda v: v.id not in last_driver):
        driver_id = last_driver.get(vehicle.id)
        if driver_id is None or driver_id not in drivers or driver_id in taken:
            driver_id = next((d for d in free_drivers if d not in taken), None)
        if driver_id is None:
            continue
        taken.add(driver_id)
        driver = drivers[driver_id]
        v_open, v_close = service_minutes(vehicle.service_start_min, vehicle.service_end_min)
        d_open, d_close = service_minutes(driver.service_start_min, driver.service_end_min)
        lanes.append(
            Lane(
                vehicle_id=vehicle.id,
                driver_id=driver_id,
                wheelchair_spaces=vehicle.wheelchair_spaces,
                seats=vehicle.seats,
                opens=at_local(day, max(v_open, d_open)),
                closes=at_local(day, min(v_close, d_close)),
                timeline=sorted(timelines.get(vehicle.id, []), key=lambda i: i.start),
                used=vehicle.id in timelines,
            )
        )
    return lanes, driver_busy
