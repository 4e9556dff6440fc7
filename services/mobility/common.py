"""What every mobility use case shares: the center's policy, travel times behind a small
interface, Seoul days and times, busy intervals, and the validation helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Protocol

from sqlalchemy.orm import Session

from config.mobility import MobilityPolicy, load_policy, load_travel_minutes
from services.reference import known_dong_codes
from welfare.calendar import SEOUL

CLOCK_SKEW = timedelta(minutes=2)
DONG_UNKNOWN = "알 수 없는 행정동 코드입니다 (unknown dong code)"


@cache
def policy() -> MobilityPolicy:
    return load_policy()


class TravelTimes(Protocol):
    """Driving time between two dongs. The shipped matrix answers from config/; a routing
    engine could answer from addresses and the hour without anything else changing."""

    def minutes(self, from_dong: str, to_dong: str) -> int: ...


@dataclass(frozen=True, slots=True)
class MatrixTravelTimes:
    """The dong-to-dong matrix of config/travel_times.json."""

    matrix: Mapping[str, Mapping[str, int]]

    def minutes(self, from_dong: str, to_dong: str) -> int:
        return self.matrix[from_dong][to_dong]


@cache
def travel_times() -> TravelTimes:
    return MatrixTravelTimes(load_travel_minutes())


def ride_duration(
    pickup_dong: str, dropoff_dong: str, times: TravelTimes | None = None
) -> timedelta:
    """Pickup to drop-off: boarding and alighting plus the drive."""
    times = times or travel_times()
    return policy().boarding + timedelta(minutes=times.minutes(pickup_dong, dropoff_dong))


def busy_until(
    pickup_at: datetime, pickup_dong: str, dropoff_dong: str, times: TravelTimes | None = None
) -> datetime:
    """The end of a vehicle's and driver's busy interval for one ride: the estimated drop-off
    plus the turnaround buffer."""
    return pickup_at + ride_duration(pickup_dong, dropoff_dong, times) + policy().turnaround


def seoul_day(instant: datetime) -> date:
    return instant.astimezone(SEOUL).date()


def seoul_today(now: datetime) -> date:
    return seoul_day(now)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants of a Seoul calendar day: [start, end)."""
    start = datetime.combine(day, time(0, 0), tzinfo=SEOUL).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=SEOUL).astimezone(UTC)
    return start, end


def at_local(day: date, minute_of_day: int) -> datetime:
    """A Seoul day and a minute after its midnight, as a UTC instant."""
    hour, minute = divmod(minute_of_day, 60)
    return datetime.combine(day, time(hour, minute), tzinfo=SEOUL).astimezone(UTC)


def service_minutes(start_min: int | None, end_min: int | None) -> tuple[int, int]:
    """A vehicle's or driver's service hours in minutes after Seoul midnight (defaults: the
    center's operating hours)."""
    p = policy()
    return (
        p.opens_minute if start_min is None else start_min,
        p.closes_minute if end_min is None else end_min,
    )


def within_service(
    start: datetime, end: datetime, start_min: int | None, end_min: int | None
) -> bool:
    """Whether [start, end) lies within one Seoul day's service hours."""
    opens, closes = service_minutes(start_min, end_min)
    day = seoul_day(start)
    return at_local(day, opens) <= start and end <= at_local(day, closes)


def check_dong_code(session: Session, field: str, dong: str, errors: dict[str, list[str]]) -> None:
    """Any of the district's dongs (a ride may start or end outside the booker's dongs)."""
    if dong not in known_dong_codes(session):
        errors[field] = [DONG_UNKNOWN]


def parse_local_time(raw: str) -> int | None:
    """'HH:MM' as minutes after midnight, or None when it is not a time of day."""
    parts = raw.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        return None
    hour, minute = int(parts[0]), int(parts[1])
    if hour > 23 or minute > 59:
        return None
    return hour * 60 + minute
