"""Dispatch planning without the database: placing a day's rides on vehicle lanes, and the exact
fewest vehicles a day needs when every window has zero width.

A vehicle is busy for a ride from its pickup to the estimated drop-off plus the turnaround
buffer, and must then drive from that drop-off's dong to the next pickup's dong. Ride `b` can
follow ride `a` on one vehicle when `a`'s busy end plus that drive is no later than `b`'s pickup.

- `place` is the dispatcher's heuristic: rides in order of window start, each into the lane
  that can take it earliest in its window with the least idle time before it (best fit), a new
  lane only when none can. For interval graphs without travel it is optimal; with travel it is
  a heuristic, measured against the exact minimum in bench/bench_dispatch.py and the tests.
- `fewest_vehicles` is exact for zero-width windows: the "can follow" relation is a DAG, and its
  minimum path cover is the number of rides minus a maximum matching between "followed by" and
  "follows" (Kőnig). The matching grows by augmenting paths; each search phase visits every ride
  at most once, because the rides that can follow a ride are, per pickup dong, a suffix of that
  dong's rides in pickup order, and visited rides are skipped with a "next unvisited" pointer.
  The travel matrix must respect the triangle inequality (config/travel_times.json does), so
  the relation is transitive and the cover's paths are vehicle days.
"""

from __future__ import annotations

import bisect
import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.mobility.common import TravelTimes

Reason = str
NO_PREVIOUS = timedelta(days=2)  # a lane's first ride of the day: the worst fit


@dataclass(frozen=True, slots=True)
class Trip:
    """A ride as planning sees it."""

    id: uuid.UUID
    pickup_dong: str
    dropoff_dong: str
    earliest: datetime  # window start
    latest: datetime  # window end
    busy: timedelta  # pickup to drop-off plus turnaround
    wheelchair: bool = False
    seats: int = 1


@dataclass(slots=True)
class Interval:
    start: datetime
    end: datetime
    pickup_dong: str
    dropoff_dong: str


@dataclass(slots=True)
class Lane:
    """One vehicle with one driver for the day, and what they are already busy with."""

    vehicle_id: uuid.UUID
    driver_id: uuid.UUID
    wheelchair_spaces: int
    seats: int
    opens: datetime
    closes: datetime
    timeline: list[Interval] = field(default_factory=list)  # sorted by start
    used: bool = False

    def slot(self, trip: Trip, travel: TravelTimes) -> tuple[datetime, timedelta] | None:
        """The earliest pickup in the trip's window this lane can serve, with the lane's idle
        time before it, or None."""
        if trip.wheelchair and self.wheelchair_spaces < 1:
            return None
        if trip.seats > self.seats:
            return None
        starts = [i.start for i in self.timeline]
        # Only the gaps around the window matter: from the interval before it on.
        k = max(bisect.bisect_right(starts, trip.earliest) - 1, 0)
        previous: Interval | None = self.timeline[k - 1] if k > 0 else None
        for index in range(k, len(self.timeline) + 1):
            following = self.timeline[index] if index < len(self.timeline) else None
            t = trip.earliest
            if previous is not None:
                t = max(t, previous.end + _drive(travel, previous.dropoff_dong, trip.pickup_dong))
            t = max(t, self.opens)
            if t > trip.latest:
                return None
            end = t + trip.busy
            if end > self.closes:
                return None
            if (
                following is None
                or end + _drive(travel, trip.dropoff_dong, following.pickup_dong) <= following.start
            ):
                return t, (t - previous.end if previous is not None else NO_PREVIOUS)
            previous = following
        return None

    def take(self, trip: Trip, t: datetime) -> None:
        interval = Interval(t, t + trip.busy, trip.pickup_dong, trip.dropoff_dong)
        bisect.insort(self.timeline, interval, key=lambda i: i.start)
        self.used = True


@functools.lru_cache(maxsize=4096)
def _minutes(minutes: int) -> timedelta:
    return timedelta(minutes=minutes)


def _drive(travel: TravelTimes, from_dong: str, to_dong: str) -> timedelta:
    return _minutes(travel.minutes(from_dong, to_dong))


@dataclass(frozen=True, slots=True)
class Placement:
    trip: Trip
    lane: Lane
    pickup_at: datetime


@dataclass(slots=True)
class Plan:
    placed: list[Placement] = field(default_factory=list)
    unplaced: list[tuple[Trip, Reason]] = field(default_factory=list)

    @property
    def lanes_used(self) -> int:
        return len({id(p.lane) for p in self.placed})


def place(
    trips: Iterable[Trip],
    lanes: Sequence[Lane],
    travel: TravelTimes,
    *,
    driver_free: Callable[[Lane, datetime, datetime], bool] | None = None,
) -> Plan:
    """Place each trip, in window order, on the best lane (see the module's docstring): the
    earliest pickup, then the least idle time before it.

    Lanes already `used` (holding rides) are tried first; a fresh lane is opened only when no
    used lane can take the trip, preferring one without a wheelchair space for a trip that needs
    none, so wheelchair vehicles stay free for wheelchair riders. `driver_free(lane, start, end)`
    can refuse a slot whose driver is busy elsewhere.

    Used lanes whose last ride starts no later than the trip's window ("tail" lanes, nearly all
    of them once the day is under way) are kept sorted by when they become free and read from
    the latest-free down, stopping at the first that takes the trip at its earliest: no lane
    further down could beat it. The others are tried in full."""
    order = sorted(trips, key=lambda t: (t.earliest, t.latest, t.id))
    plan = Plan()
    if not order:
        return plan
    shortest = _shortest_drive(order, lanes, travel)
    ahead: list[Lane] = [lane for lane in lanes if lane.used]
    tails: list[tuple[datetime, int, Lane]] = []
    for trip in order:
        _settle(ahead, tails, trip.earliest)
        best: tuple[Lane, datetime] | None = None
        best_key: tuple[datetime, timedelta] | None = None
        for lane in ahead:
            found = lane.slot(trip, travel)
            if found is None:
                continue
            t, idle = found
            if (best_key is None or (t, idle) < best_key) and (
                driver_free is None or driver_free(lane, t, t + trip.busy)
            ):
                best, best_key = (lane, t), (t, idle)
        cut = bisect.bisect_right(tails, trip.latest - shortest, key=lambda e: e[0])
        for index in range(cut - 1, -1, -1):
            if best_key is not None and best_key[0] == trip.earliest:
                break  # nobody free earlier can take it sooner or with less idle time
            lane = tails[index][2]
            found = lane.slot(trip, travel)
            if found is None:
                continue
            t, idle = found
            if (best_key is None or (t, idle) < best_key) and (
                driver_free is None or driver_free(lane, t, t + trip.busy)
            ):
                best, best_key = (lane, t), (t, idle)
        if best is None:
            best = _fresh(trip, lanes, travel, driver_free)
        if best is None:
            plan.unplaced.append((trip, _why(trip, lanes)))
            continue
        lane, t = best
        _forget(ahead, tails, lane)
        lane.take(trip, t)
        ahead.append(lane)
        plan.placed.append(Placement(trip, lane, t))
    return plan


def _settle(ahead: list[Lane], tails: list[tuple[datetime, int, Lane]], now: datetime) -> None:
    """Move lanes whose last ride starts by `now` from `ahead` to the sorted tails."""
    for lane in [lane for lane in ahead if lane.timeline[-1].start <= now]:
        ahead.remove(lane)
        bisect.insort(tails, (lane.timeline[-1].end, id(lane), lane), key=lambda e: e[:2])


def _forget(ahead: list[Lane], tails: list[tuple[datetime, int, Lane]], lane: Lane) -> None:
    if lane in ahead:
        ahead.remove(lane)
        return
    if lane.used:
        entry = (lane.timeline[-1].end, id(lane))
        index = bisect.bisect_left(tails, entry, key=lambda e: e[:2])
        if index < len(tails) and tails[index][2] is lane:
            del tails[index]


def _shortest_drive(trips: Sequence[Trip], lanes: Sequence[Lane], travel: TravelTimes) -> timedelta:
    """The shortest drive between any two dongs the day involves (a lane free later than a
    window's end minus this cannot take it)."""
    dongs = {t.pickup_dong for t in trips} | {t.dropoff_dong for t in trips}
    dongs |= {i.dropoff_dong for lane in lanes for i in lane.timeline}
    return min(_drive(travel, a, b) for a in dongs for b in dongs)


def _fresh(
    trip: Trip,
    lanes: Sequence[Lane],
    travel: TravelTimes,
    driver_free: Callable[[Lane, datetime, datetime], bool] | None,
) -> tuple[Lane, datetime] | None:
    fresh = [lane for lane in lanes if not lane.used]
    fresh.sort(key=lambda lane: (lane.wheelchair_spaces > 0) != trip.wheelchair)
    if not trip.wheelchair:
        fresh.sort(key=lambda lane: lane.wheelchair_spaces > 0)
    for lane in fresh:
        found = lane.slot(trip, travel)
        if found is not None and (
            driver_free is None or driver_free(lane, found[0], found[0] + trip.busy)
        ):
            return lane, found[0]
    return None


def _why(trip: Trip, lanes: Sequence[Lane]) -> Reason:
    if not lanes:
        return "no_vehicle"
    if trip.wheelchair and not any(lane.wheelchair_spaces for lane in lanes):
        return "no_wheelchair_vehicle"
    if trip.seats > max(lane.seats for lane in lanes):
        return "not_enough_seats"
    if all(trip.earliest + trip.busy > lane.closes or trip.latest < lane.opens for lane in lanes):
        return "outside_service_hours"
    return "no_vehicle_free"


# --- the exact minimum ------------------------------------------------------------------------


class _NextUnvisited:
    """Per pickup dong, the index of the next ride not yet visited in this phase (union-find
    with path halving: a visited index points past itself)."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size + 1))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def visit(self, i: int) -> None:
        self.parent[i] = i + 1


def fewest_vehicles(
    trips: Sequence[Trip], travel: TravelTimes, *, seed: Iterable[tuple[int, int]] = ()
) -> int:
    """The exact minimum number of vehicles for trips picked up at their window start, by
    minimum path cover; `seed` may give a valid starting matching as (index, next index) pairs
    (e.g. the chains of a heuristic plan), which only saves time."""
    n = len(trips)
    if n == 0:
        return 0
    dongs = sorted({t.pickup_dong for t in trips})
    by_dong = {
        d: sorted(
            (i for i in range(n) if trips[i].pickup_dong == d), key=lambda i: (trips[i].earliest, i)
        )
        for d in dongs
    }
    starts = {d: [trips[i].earliest for i in by_dong[d]] for d in dongs}
    # First follower index per (ride, pickup dong): a suffix of that dong's rides.
    first: list[list[int]] = []
    for t in trips:
        ready = t.earliest + t.busy
        first.append(
            [
                bisect.bisect_left(starts[d], ready + _drive(travel, t.dropoff_dong, d))
                for d in dongs
            ]
        )
    successor: list[int | None] = [None] * n  # left side: the ride that follows i
    predecessor: list[int | None] = [None] * n  # right side: the ride i follows
    for a, b in seed:
        if successor[a] is None and predecessor[b] is None:
            successor[a], predecessor[b] = b, a
    while True:
        pointers = [_NextUnvisited(len(by_dong[d])) for d in dongs]
        augmented = False
        for root in range(n):
            if successor[root] is None and _augment(
                root,
                dongs=dongs,
                by_dong=by_dong,
                first=first,
                pointers=pointers,
                successor=successor,
                predecessor=predecessor,
            ):
                augmented = True
        if not augmented:
            break
    return n - sum(1 for s in successor if s is not None)


def _augment(
    root: int,
    *,
    dongs: list[str],
    by_dong: dict[str, list[int]],
    first: list[list[int]],
    pointers: list[_NextUnvisited],
    successor: list[int | None],
    predecessor: list[int | None],
) -> bool:
    """One augmenting-path search from a ride without a follower, iteratively (paths can be as
    long as the day). Rides visited in this phase are skipped."""
    stack: list[tuple[int, int, int]] = [(root, 0, -1)]  # (left ride, dong slot, via right)
    while stack:
        left, slot, _via = stack[-1]
        found = None
        while slot < len(dongs):
            pointer = pointers[slot]
            j = pointer.find(first[left][slot])
            rides = by_dong[dongs[slot]]
            if j < len(rides):
                pointer.visit(j)
                found = rides[j]
                break
            slot += 1
        if found is None:
            stack.pop()
            continue
        stack[-1] = (left, slot, _via)
        owner = predecessor[found]
        if owner is None:
            # Flip the path: every left ride on the stack takes the right ride it reached.
            right = found
            for depth in range(len(stack) - 1, -1, -1):
                node = stack[depth][0]
                previous = successor[node]
                successor[node], predecessor[right] = right, node
                if previous is None:
                    break
                right = previous
            return True
        stack.append((owner, 0, found))
    return False
