"""Dispatch planning: the exact minimum of vehicles agrees with a plain matching, and the
dispatcher's plan is valid and within 5 % of it on days with zero-width windows."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from config.mobility import load_travel_minutes
from services.mobility.common import MatrixTravelTimes
from services.mobility.planning import Lane, Trip, fewest_vehicles, place

TRAVEL = MatrixTravelTimes(load_travel_minutes())
DONGS = sorted(load_travel_minutes())
DAY = datetime(2027, 3, 3, 21, 0, tzinfo=UTC)  # 06:00 Seoul


def day_of(count: int, seed: int, *, width: int = 0) -> list[Trip]:
    """Rides from 06:00 to 22:00 Seoul with morning and afternoon peaks."""
    rng = random.Random(seed)
    trips = []
    for _ in range(count):
        peak = rng.random()
        if peak < 0.35:
            minute = rng.gauss(150, 45)  # around 08:30
        elif peak < 0.7:
            minute = rng.gauss(570, 60)  # around 15:30
        else:
            minute = rng.uniform(0, 900)
        start = DAY + timedelta(minutes=round(min(max(minute, 0), 900)))
        pickup, dropoff = rng.choice(DONGS), rng.choice(DONGS)
        busy = timedelta(minutes=10 + TRAVEL.minutes(pickup, dropoff) + 10)
        trips.append(
            Trip(
                id=uuid.uuid4(),
                pickup_dong=pickup,
                dropoff_dong=dropoff,
                earliest=start,
                latest=start + timedelta(minutes=width),
                busy=busy,
                wheelchair=rng.random() < 0.1,
            )
        )
    return trips


def lanes(count: int) -> list[Lane]:
    return [
        Lane(
            vehicle_id=uuid.uuid4(),
            driver_id=uuid.uuid4(),
            wheelchair_spaces=1,
            seats=4,
            opens=DAY - timedelta(hours=1),
            closes=DAY + timedelta(hours=18),
        )
        for _ in range(count)
    ]


def reference_minimum(trips: list[Trip]) -> int:
    """Minimum path cover by the textbook matching over explicit edges (Kuhn's algorithm)."""
    n = len(trips)
    edges = [
        [
            b
            for b in range(n)
            if trips[a].earliest
            + trips[a].busy
            + timedelta(minutes=TRAVEL.minutes(trips[a].dropoff_dong, trips[b].pickup_dong))
            <= trips[b].earliest
        ]
        for a in range(n)
    ]
    owner: list[int | None] = [None] * n

    def augment(a: int, seen: set[int]) -> bool:
        for b in edges[a]:
            if b in seen:
                continue
            seen.add(b)
            current = owner[b]
            if current is None or augment(current, seen):
                owner[b] = a
                return True
        return False

    matched = sum(1 for a in range(n) if augment(a, set()))
    return n - matched


@pytest.mark.parametrize("seed", range(6))
def test_the_exact_minimum_agrees_with_a_plain_matching(seed: int) -> None:
    trips = day_of(60, seed)
    assert fewest_vehicles(trips, TRAVEL) == reference_minimum(trips)


def test_no_rides_need_no_vehicle_and_one_ride_one() -> None:
    assert fewest_vehicles([], TRAVEL) == 0
    assert fewest_vehicles(day_of(1, 0), TRAVEL) == 1


def check_valid(plan_lanes: list[Lane]) -> None:
    for lane in plan_lanes:
        for before, after in zip(lane.timeline, lane.timeline[1:], strict=False):
            drive = timedelta(minutes=TRAVEL.minutes(before.dropoff_dong, after.pickup_dong))
            assert before.end + drive <= after.start


@pytest.mark.parametrize("seed", range(4))
def test_the_dispatcher_comes_within_five_percent_of_the_exact_minimum(seed: int) -> None:
    trips = day_of(400, seed)
    fleet = lanes(400)
    plan = place(trips, fleet, TRAVEL)
    assert plan.unplaced == []
    assert all(p.pickup_at == p.trip.earliest for p in plan.placed)  # zero-width windows
    check_valid(fleet)
    exact = fewest_vehicles(trips, TRAVEL)
    assert exact <= plan.lanes_used <= exact * 1.05


def test_with_a_fixed_fleet_what_does_not_fit_is_named_and_the_rest_placed() -> None:
    trips = day_of(200, 7, width=30)
    fleet = lanes(10)
    plan = place(trips, fleet, TRAVEL)
    assert plan.unplaced and plan.placed
    assert {why for _, why in plan.unplaced} == {"no_vehicle_free"}
    check_valid(fleet)
    for placement in plan.placed:
        assert placement.trip.earliest <= placement.pickup_at <= placement.trip.latest


def test_a_wheelchair_ride_waits_for_a_vehicle_with_a_space() -> None:
    trip = day_of(1, 3)[0]
    wheelchair_trip = Trip(
        id=trip.id,
        pickup_dong=trip.pickup_dong,
        dropoff_dong=trip.dropoff_dong,
        earliest=trip.earliest,
        latest=trip.latest,
        busy=trip.busy,
        wheelchair=True,
    )
    fleet = lanes(2)
    for lane in fleet:
        lane.wheelchair_spaces = 0
    plan = place([wheelchair_trip], fleet, TRAVEL)
    assert [why for _, why in plan.unplaced] == ["no_wheelchair_vehicle"]
