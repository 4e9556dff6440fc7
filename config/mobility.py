"""Mobility support center policy (config/mobility.json) and the dong-to-dong travel-time matrix
(config/travel_times.json), read and checked at load like the other reference files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from config.jsonfiles import expect_fields, fail, read_object
from config.reference import REFERENCE_DIR, load_dongs

MOBILITY_FILE: Final = REFERENCE_DIR / "mobility.json"
TRAVEL_TIMES_FILE: Final = REFERENCE_DIR / "travel_times.json"

_FIELDS = {
    "operating_hours",
    "default_window_minutes",
    "max_window_minutes",
    "booking_horizon_days",
    "late_cancel_cutoff_minutes",
    "boarding_minutes",
    "turnaround_minutes",
    "recurring_horizon_days",
    "eligibility_notice_days",
    "no_show_review",
}


@dataclass(frozen=True, slots=True)
class NoShowReview:
    days: int
    min_count: int
    min_rate: float


@dataclass(frozen=True, slots=True)
class MobilityPolicy:
    """What the center promises; every duration is positive."""

    opens: time
    closes: time
    default_window: timedelta
    max_window: timedelta
    booking_horizon_days: int
    late_cancel_cutoff: timedelta
    boarding: timedelta
    turnaround: timedelta
    recurring_horizon_days: int
    eligibility_notice_days: int
    no_show_review: NoShowReview

    @property
    def opens_minute(self) -> int:
        return self.opens.hour * 60 + self.opens.minute

    @property
    def closes_minute(self) -> int:
        return self.closes.hour * 60 + self.closes.minute


def _whole(path: Path, name: str, raw: object, *, minimum: int = 1) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
        fail(path, name, f"must be a whole number of at least {minimum}, not {raw!r}")
    return raw


def _clock(path: Path, where: str, raw: object) -> time:
    if not isinstance(raw, str):
        fail(path, where, f"{raw!r} is not a time of day (HH:MM)")
    try:
        hour, minute = (int(part) for part in raw.split(":"))
        return time(hour, minute)
    except ValueError:
        fail(path, where, f"{raw!r} is not a time of day (HH:MM)")


def load_policy(path: Path | None = None) -> MobilityPolicy:
    """The center's policy from `path` (default: the shipped config/mobility.json)."""
    path = path or MOBILITY_FILE
    raw = expect_fields(path, "top level", read_object(path), _FIELDS)
    hours = expect_fields(path, "operating_hours", raw["operating_hours"], {"start", "end"})
    opens = _clock(path, "operating_hours.start", hours["start"])
    closes = _clock(path, "operating_hours.end", hours["end"])
    if closes <= opens:
        fail(path, "operating_hours", "end must come after start on the same day")
    review = expect_fields(
        path, "no_show_review", raw["no_show_review"], {"days", "min_count", "min_rate"}
    )
    rate = review["min_rate"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        fail(path, "no_show_review.min_rate", f"must lie between 0 and 1, not {rate!r}")
    default_window = _whole(path, "default_window_minutes", raw["default_window_minutes"])
    max_window = _whole(path, "max_window_minutes", raw["max_window_minutes"])
    if max_window < default_window:
        fail(path, "max_window_minutes", "must be at least default_window_minutes")
    return MobilityPolicy(
        opens=opens,
        closes=closes,
        default_window=timedelta(minutes=default_window),
        max_window=timedelta(minutes=max_window),
        booking_horizon_days=_whole(path, "booking_horizon_days", raw["booking_horizon_days"]),
        late_cancel_cutoff=timedelta(
            minutes=_whole(
                path, "late_cancel_cutoff_minutes", raw["late_cancel_cutoff_minutes"], minimum=0
            )
        ),
        boarding=timedelta(
            minutes=_whole(path, "boarding_minutes", raw["boarding_minutes"], minimum=0)
        ),
        turnaround=timedelta(
            minutes=_whole(path, "turnaround_minutes", raw["turnaround_minutes"], minimum=0)
        ),
        recurring_horizon_days=_whole(
            path, "recurring_horizon_days", raw["recurring_horizon_days"]
        ),
        eligibility_notice_days=_whole(
            path, "eligibility_notice_days", raw["eligibility_notice_days"]
        ),
        no_show_review=NoShowReview(
            days=_whole(path, "no_show_review.days", review["days"]),
            min_count=_whole(path, "no_show_review.min_count", review["min_count"]),
            min_rate=float(rate),
        ),
    )


def load_travel_minutes(path: Path | None = None) -> Mapping[str, Mapping[str, int]]:
    """The matrix of driving minutes between every pair of the district's dongs (from, to)."""
    path = path or TRAVEL_TIMES_FILE
    raw = expect_fields(path, "top level", read_object(path), {"minutes"})
    codes = {d.code for d in load_dongs()}
    matrix: Any = raw["minutes"]
    if not isinstance(matrix, dict) or set(matrix) != codes:
        fail(path, "minutes", "needs one row for each of the district's dongs")
    rows: dict[str, Mapping[str, int]] = {}
    for origin, row in matrix.items():
        if not isinstance(row, dict) or set(row) != codes:
            fail(path, f"minutes.{origin}", "needs one column for each of the district's dongs")
        rows[origin] = MappingProxyType(
            {to: _whole(path, f"minutes.{origin}.{to}", m) for to, m in row.items()}
        )
    return MappingProxyType(rows)
