"""Dispatching a generated district day of the mobility center, beside the exact minimum of
vehicles computed in the same run.

A day: N rides (default 1,000, 2,000 and 3,000) over the 10 dongs from 06:00 to 22:00 Seoul,
with a morning peak around 08:30 and an afternoon peak around 15:30 (dialysis and clinic runs),
10 % wheelchair riders, durations from the shipped travel-time matrix plus boarding and the
turnaround buffer (config/mobility.json). Measured, each beside its reference:

  vehicles     the dispatcher (`services.mobility.planning.place`, what POST /dispatch runs) with
               an unlimited fleet on a day of zero-width windows, beside the exact minimum
               (`fewest_vehicles`: minimum path cover by bipartite matching); goal within 5 %
  windows      the same day with 30-minute windows, beside the same exact minimum (windows let
               the dispatcher shift pickups, so it may need fewer)
  fixed fleet  the share of rides placed on the windowed day with a fleet of 80, 90 and 100 %
               of the vehicles the dispatcher used with an unlimited one
  time         the dispatcher's time beside the exact solver's time

The planning is measured without the database: POST /dispatch adds one locked read of the day's
rides and one write per placed ride.

    .venv/bin/python bench/bench_dispatch.py
    .venv/bin/python bench/bench_dispatch.py --rides 3000 --seed 7
"""

from __future__ import annotations

import argparse
import random
import uuid
from datetime import UTC, datetime, timedelta

from benchkit import machine_line, stopwatch, verdict

from config.mobility import load_policy, load_travel_minutes
from services.mobility.common import MatrixTravelTimes
from services.mobility.planning import Lane, Trip, fewest_vehicles, place

DAY = datetime(2027, 3, 3, 21, 0, tzinfo=UTC)  # Thursday 06:00 in Seoul
SIZES = (1_000, 2_000, 3_000)


def district_day(count: int, seed: int, travel: MatrixTravelTimes, width: int) -> list[Trip]:
    rng = random.Random(seed)
    policy = load_policy()
    dongs = sorted(load_travel_minutes())
    trips = []
    for _ in range(count):
        pick = rng.random()
        if pick < 0.35:
            minute = rng.gauss(150, 50)  # 08:30
        elif pick < 0.70:
            minute = rng.gauss(570, 60)  # 15:30
        else:
            minute = rng.uniform(0, 960)
        start = DAY + timedelta(minutes=round(min(max(minute, 0), 930)))
        pickup, dropoff = rng.choice(dongs), rng.choice(dongs)
        busy = (
            policy.boarding + timedelta(minutes=travel.minutes(pickup, dropoff)) + policy.turnaround
        )
        trips.append(
            Trip(
                id=uuid.UUID(int=rng.getrandbits(128)),
                pickup_dong=pickup,
                dropoff_dong=dropoff,
                earliest=start,
                latest=start + timedelta(minutes=width),
                busy=busy,
                wheelchair=rng.random() < 0.10,
            )
        )
    return trips


def fleet(size: int, wheelchair_share: float = 0.7) -> list[Lane]:
    """`size` vehicles with drivers, most with a wheelchair space, working 06:00-23:00."""
    with_space = round(size * wheelchair_share)
    return [
        Lane(
            vehicle_id=uuid.uuid4(),
            driver_id=uuid.uuid4(),
            wheelchair_spaces=1 if n < with_space else 0,
            seats=4,
            opens=DAY,
            closes=DAY + timedelta(hours=17),
        )
        for n in range(size)
    ]


def run(count: int, seed: int) -> bool:
    travel = MatrixTravelTimes(load_travel_minutes())
    day = district_day(count, seed, travel, width=0)
    print(f"\n-- {count:,} rides (seed {seed}), {sum(t.wheelchair for t in day)} wheelchair --")
    with stopwatch() as exact_time:
        exact = fewest_vehicles(day, travel)
    with stopwatch() as dispatch_time:
        plan = place(day, fleet(count, wheelchair_share=1.0), travel)
    used = plan.lanes_used
    within = used <= exact * 1.05
    print(
        f"vehicles, zero-width windows: dispatch {used} beside the exact minimum {exact} "
        f"({(used - exact) / exact:+.1%}); goal within 5 %: {verdict(within)}"
    )
    print(
        f"time: dispatch {dispatch_time() * 1000:,.0f} ms beside the exact solver "
        f"{exact_time() * 1000:,.0f} ms"
    )
    windowed = district_day(count, seed, travel, width=30)
    with stopwatch() as windowed_time:
        loose = place(windowed, fleet(count, wheelchair_share=1.0), travel)
    print(
        f"vehicles, 30-minute windows: dispatch {loose.lanes_used} beside the zero-width exact "
        f"minimum {exact} ({windowed_time() * 1000:,.0f} ms)"
    )
    for share in (0.8, 0.9, 1.0):
        size = max(round(loose.lanes_used * share), 1)
        fixed = place(windowed, fleet(size), travel)
        placed = len(fixed.placed) / count
        reasons: dict[str, int] = {}
        for _trip, why in fixed.unplaced:
            reasons[why] = reasons.get(why, 0) + 1
        print(
            f"fixed fleet of {size} ({share:.0%} of what the windowed day used, 70 % with a "
            f"wheelchair space): {placed:.1%} of rides placed; not placed: {reasons or 'none'}"
        )
    return within


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rides",
        type=lambda v: int(v.replace("_", "")),
        action="append",
        help="rides in the day (repeatable; default 1,000, 2,000 and 3,000)",
    )
    parser.add_argument("--seed", type=int, default=13, help="the generated day's seed")
    args = parser.parse_args()
    print(machine_line())
    results = [run(count, args.seed) for count in (args.rides or SIZES)]
    print(f"\nall within 5 % of the exact minimum: {verdict(all(results))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
