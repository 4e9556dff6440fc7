"""The monthly review of access records that supervisors sign off (PIPA: at least monthly)."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from welfare.models import AuditAction, AuditCategory, AuditEvent, AuditOutcome

SEOUL = "Asia/Seoul"
# A robust spread: 1.4826 × MAD estimates the standard deviation of normally distributed data.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """When access is expected; anything outside is reported as out-of-hours."""

    start: time = time(8, 0)
    end: time = time(20, 0)
    weekends_off: bool = True
    public_holidays_off: bool = True  # Korean public holidays, substitute days included
    extra_days_off: frozenset[date] = frozenset()
    timezone: str = SEOUL

    def is_working_day(self, day: date, public_holidays: Iterable[date]) -> bool:
        if self.weekends_off and day.weekday() >= 5:
            return False
        if self.public_holidays_off and day in public_holidays:
            return False
        return day not in self.extra_days_off


def monthly_review(
    session: Session,
    *,
    month: date,
    working_hours: WorkingHours | None = None,
    outlier_factor: float = 3.0,
    visible: ColumnElement[bool] | None = None,
) -> dict[str, Any]:
    """The supervisors' monthly review of access records (PIPA: reviewed at least monthly).

    Per staff member: volume of access records, with outliers (above `outlier_factor` × median,
    or above median + `outlier_factor` × 1.4826 × MAD); out-of-hours access in the given
    working hours (Asia/Seoul by default); out-of-scope and refused attempts (access_denied);
    accounts locked after repeated failed logins (lockouts, by the locked account, whoever
    guessed); reveals and exports, and exports without a reason; attempts refused as duplicates
    (conflicts). Counts and staff ids only, never personal data.
    `visible` limits it to the caller's scope (`services.access.access_records_scope`); None
    only for operators' own tools.
    """
    hours = working_hours or WorkingHours()
    zone = ZoneInfo(hours.timezone)
    first_day = month.replace(day=1)
    next_month = (first_day + timedelta(days=32)).replace(day=1)
    period_start = datetime.combine(first_day, time(0), zone).astimezone(UTC)
    period_end = datetime.combine(next_month, time(0), zone).astimezone(UTC)
    in_month = and_(
        AuditEvent.at >= period_start,
        AuditEvent.at < period_end,
        *([visible] if visible is not None else []),
    )

    by_action: dict[str, int] = {}
    per_staff: dict[uuid.UUID, dict[str, int]] = {}
    missing_reason = func.sum(case((AuditEvent.reason.is_(None), 1), else_=0))
    grouped = session.execute(
        select(
            AuditEvent.staff_id,
            AuditEvent.category,
            AuditEvent.action,
            func.count(),
            missing_reason,
        )
        .where(in_month)
        .group_by(AuditEvent.staff_id, AuditEvent.category, AuditEvent.action)
    )
    for staff_id, category, action, count, without_reason in grouped:
        by_action[action] = by_action.get(action, 0) + count
        if staff_id is None:
            continue
        counts = per_staff.setdefault(staff_id, _empty_counts())
        if category == AuditCategory.ACCESS.value:
            counts["events"] += count
        if action == AuditAction.LOCKED_OUT.value:
            counts["lockouts"] += count  # the account locked, not its owner's doing
        elif action == AuditAction.ACCESS_DENIED.value:
            counts["access_denied"] += count
        elif action == AuditAction.REVEAL.value:
            counts["reveals"] += count
        elif action == AuditAction.EXPORT.value:
            counts["exports"] += count
            counts["exports_without_reason"] += int(without_reason or 0)

    # Refused as duplicates (a registration of an RRN already registered): each tells the caller
    # that the person is registered somewhere, so a run of them is worth a look.
    _count_per_staff(
        session, per_staff, "conflicts", in_month, AuditEvent.outcome == AuditOutcome.CONFLICT.value
    )
    off_hours = _off_hours_intervals(first_day, next_month, hours, zone)
    if off_hours:
        _count_per_staff(
            session,
            per_staff,
            "out_of_hours",
            in_month,
            AuditEvent.category == AuditCategory.ACCESS.value,
            or_(*(and_(AuditEvent.at >= a, AuditEvent.at < b) for a, b in off_hours)),
        )

    volumes = [c["events"] for c in per_staff.values() if c["events"] > 0]
    median = float(statistics.median(volumes)) if volumes else 0.0
    mad = float(statistics.median(abs(v - median) for v in volumes)) if volumes else 0.0
    threshold = outlier_factor * median
    if mad > 0:
        threshold = min(threshold, median + outlier_factor * MAD_TO_SIGMA * mad)
    for counts in per_staff.values():
        counts["is_outlier"] = int(bool(volumes) and counts["events"] > threshold)

    def listing(name: str) -> list[dict[str, Any]]:
        rows = [(str(s), c[name]) for s, c in per_staff.items() if c[name] > 0]
        return [{"staff_id": s, "events": n} for s, n in sorted(rows, key=lambda r: (-r[1], r[0]))]

    return {
        "month": f"{first_day:%Y-%m}",
        "timezone": hours.timezone,
        "period": {"from": period_start.isoformat(), "until": period_end.isoformat()},
        "working_hours": {
            "start": hours.start.isoformat("minutes"),
            "end": hours.end.isoformat("minutes"),
            "weekends_off": hours.weekends_off,
            "public_holidays_off": hours.public_holidays_off,
            "extra_days_off": sorted(d.isoformat() for d in hours.extra_days_off),
        },
        "totals": {
            "events": sum(by_action.values()),
            "staff": len(per_staff),
            "out_of_hours": sum(c["out_of_hours"] for c in per_staff.values()),
            "access_denied": by_action.get(AuditAction.ACCESS_DENIED.value, 0),
            "lockouts": by_action.get(AuditAction.LOCKED_OUT.value, 0),
            "reveals": by_action.get(AuditAction.REVEAL.value, 0),
            "exports": by_action.get(AuditAction.EXPORT.value, 0),
            "exports_without_reason": sum(c["exports_without_reason"] for c in per_staff.values()),
            "conflicts": sum(c["conflicts"] for c in per_staff.values()),
            "by_action": dict(sorted(by_action.items())),
        },
        "volume": {
            "median": median,
            "mad": mad,
            "threshold": threshold,
            "outliers": [
                {"staff_id": str(s), "events": c["events"]}
                for s, c in sorted(per_staff.items(), key=lambda i: (-i[1]["events"], str(i[0])))
                if c["is_outlier"]
            ],
        },
        "out_of_hours": listing("out_of_hours"),
        "access_denied": listing("access_denied"),
        "lockouts": listing("lockouts"),
        "reveals": listing("reveals"),
        "exports": listing("exports"),
        "conflicts": listing("conflicts"),
        "per_staff": [
            {"staff_id": str(s), **{k: v for k, v in c.items() if k != "is_outlier"}}
            | {"is_outlier": bool(c["is_outlier"])}
            for s, c in sorted(per_staff.items(), key=lambda i: str(i[0]))
        ],
    }


def _count_per_staff(
    session: Session,
    per_staff: dict[uuid.UUID, dict[str, int]],
    name: str,
    *conditions: ColumnElement[bool],
) -> None:
    for staff_id, count in session.execute(
        select(AuditEvent.staff_id, func.count())
        .where(AuditEvent.staff_id.is_not(None), *conditions)
        .group_by(AuditEvent.staff_id)
    ):
        if staff_id is not None:
            per_staff.setdefault(staff_id, _empty_counts())[name] += count


def _empty_counts() -> dict[str, int]:
    return {
        "events": 0,
        "out_of_hours": 0,
        "access_denied": 0,
        "lockouts": 0,
        "reveals": 0,
        "exports": 0,
        "exports_without_reason": 0,
        "conflicts": 0,
    }


def _off_hours_intervals(
    first_day: date, next_month: date, hours: WorkingHours, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """The month minus its working windows, as UTC intervals [start, end)."""
    public = (
        holidays.country_holidays("KR", years=sorted({first_day.year, next_month.year}))
        if hours.public_holidays_off
        else {}
    )
    intervals: list[tuple[datetime, datetime]] = []
    cursor = datetime.combine(first_day, time(0), zone)
    day = first_day
    while day < next_month:
        if hours.is_working_day(day, public) and hours.start < hours.end:
            opens = datetime.combine(day, hours.start, zone)
            if opens > cursor:
                intervals.append((cursor, opens))
            cursor = max(cursor, datetime.combine(day, hours.end, zone))
        day += timedelta(days=1)
    end = datetime.combine(next_month, time(0), zone)
    if end > cursor:
        intervals.append((cursor, end))
    return [(a.astimezone(UTC), b.astimezone(UTC)) for a, b in intervals]
