"""Recurring rides: an RFC 5545 RRULE over Seoul dates (python-dateutil's `rrule`), a local
pickup time and window, materialized into concrete rides over a rolling horizon.

Materializing is idempotent: one ride per (recurring ride, date), guaranteed by a unique index,
so the job may run any number of times. A date is skipped, and the skip stored as an exception
that stays visible, when it is a public holiday and the recurring ride asks to skip holidays
(the project's business calendar, welfare/calendar.py), when no eligibility covers it, or when
another live ride of the resident overlaps it. Staff may cancel or move one date; those
exceptions are stored too and every later run honours them. Dates whose window has begun are
never materialized.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from dateutil.rrule import rrulestr
from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, residents, vault
from services.mobility import bookings
from services.mobility.common import (
    at_local,
    check_dong_code,
    parse_local_time,
    policy,
    seoul_today,
)
from services.mobility.eligibility import NotEligible, covering
from services.mobility.records import load_for_change as load_ride_for_change
from welfare.calendar import BusinessCalendar
from welfare.errors import Conflict, InvalidInput, RuleViolation
from welfare.models import (
    Actor,
    ExceptionKind,
    RecurringException,
    RecurringRide,
    Resident,
    Ride,
    RideOutcome,
    RideState,
)

TABLE = "mobility_recurring_rides"
# dateutil's frequency constants: YEARLY 0, MONTHLY 1, WEEKLY 2, DAILY 3, HOURLY 4, MINUTELY 5
HOURLY = 4
LOOKAHEAD = timedelta(days=731)  # a rule that fires nowhere in two years "never fires"
SAMPLE = 40
MAX_SPAN = timedelta(days=366 * 5)


@dataclass(frozen=True, slots=True)
class ExceptionView:
    date: date
    kind: str
    window_start: datetime | None
    window_end: datetime | None
    label: str | None


@dataclass(frozen=True, slots=True)
class RecurringView:
    id: uuid.UUID
    resident_id: uuid.UUID
    dong: str
    rrule: str
    pickup_time: str
    window_minutes: int
    starts_on: date
    until: date | None
    skip_holidays: bool
    pickup_dong: str
    dropoff_dong: str
    pickup_address: str | None
    dropoff_address: str | None
    wheelchair: bool
    companions: int
    active: bool
    materialized_through: date | None
    created_at: datetime
    updated_at: datetime
    version: int
    exceptions: list[ExceptionView]
    rides_created: int = 0


def parse_rule(raw: str, starts_on: date, pickup_minute: int) -> Any:
    """The RRULE as a dateutil rule starting on `starts_on` at the pickup time (naive Seoul),
    or InvalidInput on `rrule`: unparseable, with anything but the rule itself, firing more
    than once a day (more than hourly above all), or never within two years."""
    text = raw.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    problem = None
    rule = None
    if not text or "\n" in text or "\r" in text or ":" in text or "DTSTART" in text.upper():
        problem = "RRULE 한 줄만 쓰세요 (only the RRULE itself, e.g. FREQ=WEEKLY;BYDAY=MO,WE,FR)"
    else:
        start = datetime.combine(starts_on, time(*divmod(pickup_minute, 60)))
        try:
            rule = rrulestr(text, dtstart=start)
        except (ValueError, TypeError, OverflowError, KeyError, IndexError):
            problem = "RRULE 형식이 올바르지 않습니다 (invalid RRULE)"
    if rule is not None and problem is None:
        if rule._freq > HOURLY:  # dateutil keeps the frequency in a private attribute
            problem = "한 시간에 한 번보다 자주 반복됩니다 (the rule fires more than hourly)"
        else:
            try:
                first = list(itertools.islice(iter(rule), SAMPLE))
            except (ValueError, OverflowError):
                first = []
            dates = [d.date() for d in first]
            if not first or first[0] - start > LOOKAHEAD:
                problem = "이 규칙으로는 운행일이 생기지 않습니다 (the rule never fires)"
            elif any(b - a < timedelta(hours=1) for a, b in itertools.pairwise(first)):
                problem = "한 시간에 한 번보다 자주 반복됩니다 (the rule fires more than hourly)"
            elif len(set(dates)) < len(dates):
                problem = "하루에 한 번까지만 반복할 수 있습니다 (fires more than once a day)"
    if problem is not None:
        raise InvalidInput({"rrule": [problem]})
    return rule


def occurrence_dates(rule: Any, first: date, last: date) -> list[date]:
    if last < first:
        return []
    found = rule.between(
        datetime.combine(first, time(0, 0)), datetime.combine(last, time(23, 59, 59)), inc=True
    )
    return sorted({moment.date() for moment in found})


def _check_recurring(
    session: Session,
    *,
    rrule: str,
    pickup_time: str,
    window_minutes: int | None,
    starts_on: date,
    until: date | None,
    addresses: dict[str, str],
    dongs: dict[str, str],
    companions: int,
    now: datetime,
) -> tuple[int, int]:
    """The pickup minute and the window width, or InvalidInput with every field's problem."""
    p = policy()
    width = window_minutes or int(p.default_window.total_seconds() // 60)
    errors: dict[str, list[str]] = {}
    minute = parse_local_time(pickup_time)
    if minute is None:
        errors["pickup_time"] = ["HH:MM 형식의 서울 시각이어야 합니다 (pickup_time as HH:MM)"]
    if not 5 <= width <= p.max_window.total_seconds() // 60:
        errors["window_minutes"] = ["탑승 시간대 길이가 허용 범위 밖입니다 (window out of range)"]
    for field, dong in dongs.items():
        check_dong_code(session, field, dong, errors)
    for field, value in addresses.items():
        if not value.strip():
            errors[field] = ["주소를 입력하세요 (an address is required)"]
    if not 0 <= companions <= bookings.MAX_COMPANIONS:
        errors["companions"] = ["동반자 수가 허용 범위 밖입니다 (too many companions)"]
    if until is not None and until < starts_on:
        errors["until"] = ["종료일이 시작일보다 앞설 수 없습니다 (until before starts_on)"]
    elif until is not None and until - starts_on > MAX_SPAN:
        errors["until"] = ["반복 기간은 5년 이내여야 합니다 (at most five years)"]
    if starts_on < seoul_today(now) - timedelta(days=1):
        errors["starts_on"] = ["이미 지난 날짜입니다 (starts in the past)"]
    if minute is not None:
        try:
            parse_rule(rrule, starts_on, minute)
        except InvalidInput as invalid:
            errors.update(invalid.errors)
    if errors or minute is None:
        raise InvalidInput(errors)
    return minute, width


def create_recurring(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    rrule: str,
    pickup_time: str,
    starts_on: date,
    pickup_address: str,
    pickup_dong: str,
    dropoff_address: str,
    dropoff_dong: str,
    now: datetime,
    calendar: BusinessCalendar,
    window_minutes: int | None = None,
    until: date | None = None,
    skip_holidays: bool = False,
    wheelchair: bool = False,
    companions: int = 0,
) -> RecurringView:
    """A standing booking; its first horizon of rides is materialized at once."""
    minute, width = _check_recurring(
        session,
        rrule=rrule,
        pickup_time=pickup_time,
        window_minutes=window_minutes,
        starts_on=starts_on,
        until=until,
        addresses={"pickup_address": pickup_address, "dropoff_address": dropoff_address},
        dongs={"pickup_dong": pickup_dong, "dropoff_dong": dropoff_dong},
        companions=companions,
        now=now,
    )
    resident = residents.load(session, actor, resident_id, for_update=True)
    eligibility = covering(session, resident, max(starts_on, seoul_today(now)))
    if eligibility is None:
        raise NotEligible(
            {"starts_on": ["이 날짜에 이동지원 자격이 없습니다 (no eligibility on this date)"]}
        )
    if wheelchair and not eligibility.wheelchair:
        raise NotEligible({"wheelchair": ["휠체어 이용 자격이 없습니다 (no wheelchair need)"]})
    if companions and not eligibility.companion_allowed:
        raise NotEligible({"companions": ["동반자 탑승 자격이 없습니다 (no companion allowed)"]})
    recurring_id = uuid.uuid4()
    key = vault.data_key(session, resident.id)
    recurring = RecurringRide(
        id=recurring_id,
        resident_id=resident.id,
        dong_code=resident.dong_code,
        rrule=rrule.strip(),
        pickup_time=f"{minute // 60:02d}:{minute % 60:02d}",
        window_minutes=width,
        starts_on=starts_on,
        until=until,
        skip_holidays=skip_holidays,
        pickup_dong=pickup_dong,
        dropoff_dong=dropoff_dong,
        pickup_address_enc=vault.seal(
            session,
            resident.id,
            TABLE,
            "pickup_address",
            recurring_id,
            plaintext=pickup_address.strip(),
            key=key,
        ),
        dropoff_address_enc=vault.seal(
            session,
            resident.id,
            TABLE,
            "dropoff_address",
            recurring_id,
            plaintext=dropoff_address.strip(),
            key=key,
        ),
        wheelchair=wheelchair,
        companions=companions,
        active=True,
        materialized_through=None,
        created_by=actor.staff_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(recurring)
    session.flush()
    created = materialize_one(session, recurring, resident, as_of=now, calendar=calendar)
    result = view(session, actor, recurring, created=created)
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[resident.id])
    return result


def materialize(session: Session, *, as_of: datetime, calendar: BusinessCalendar) -> dict[str, int]:
    """Every active recurring ride's rides over the rolling horizon; safe to repeat."""
    counts = {"rides_created": 0, "dates_skipped": 0}
    horizon = seoul_today(as_of) + timedelta(days=policy().recurring_horizon_days)
    due = session.scalars(
        select(RecurringRide)
        .where(RecurringRide.active)
        .order_by(RecurringRide.materialized_through, RecurringRide.id)
    ).all()
    for recurring in due:
        if recurring.materialized_through is not None and recurring.materialized_through >= horizon:
            continue
        resident = session.get(Resident, recurring.resident_id)
        if resident is None or resident.is_erased:
            continue
        before = _skips(session, recurring.id)
        counts["rides_created"] += materialize_one(
            session, recurring, resident, as_of=as_of, calendar=calendar
        )
        counts["dates_skipped"] += _skips(session, recurring.id) - before
    return counts


def _skips(session: Session, recurring_id: uuid.UUID) -> int:
    return len(
        session.scalars(
            select(RecurringException.id).where(RecurringException.recurring_id == recurring_id)
        ).all()
    )


def materialize_one(
    session: Session,
    recurring: RecurringRide,
    resident: Resident,
    *,
    as_of: datetime,
    calendar: BusinessCalendar,
) -> int:
    """This recurring ride's missing rides from today to the horizon; returns how many."""
    today = seoul_today(as_of)
    last = today + timedelta(days=policy().recurring_horizon_days)
    if recurring.until is not None:
        last = min(last, recurring.until)
    first = max(recurring.starts_on, today)
    if recurring.until is not None and recurring.until < today:
        recurring.active = False  # nothing left to materialize
        return 0
    minute = parse_local_time(recurring.pickup_time)
    assert minute is not None  # noqa: S101 - stored validated
    rule = parse_rule(recurring.rrule, recurring.starts_on, minute)
    dates = occurrence_dates(rule, first, last)
    recurring.materialized_through = max(last, recurring.materialized_through or last)
    if not dates:
        return 0
    exceptions = {
        e.occurrence_date: e
        for e in session.scalars(
            select(RecurringException).where(
                RecurringException.recurring_id == recurring.id,
                RecurringException.occurrence_date.in_(dates),
            )
        )
    }
    existing = set(
        session.scalars(
            select(Ride.occurrence_date).where(
                Ride.recurring_id == recurring.id, Ride.occurrence_date.in_(dates)
            )
        )
    )
    width = timedelta(minutes=recurring.window_minutes)
    key: bytes | None = None
    addresses: tuple[str | None, str | None] | None = None
    created = 0
    for day in dates:
        if day in existing:
            continue
        exception = exceptions.get(day)
        if exception is not None and exception.kind != ExceptionKind.MOVED:
            continue
        if exception is not None and exception.window_start and exception.window_end:
            start, end = exception.window_start, exception.window_end
        else:
            start = at_local(day, minute)
            end = start + width
        if start < as_of:
            continue
        skip = _skip_reason(
            session, recurring, resident, day, start=start, end=end, calendar=calendar
        )
        if skip is not None and exception is None:
            kind, label = skip
            session.add(_exception(recurring, day, kind, label=label, at=as_of))
            continue
        if key is None:
            key = vault.data_key(session, resident.id)
            addresses = _addresses(session, recurring, key)
        assert addresses is not None  # noqa: S101 - opened with the key
        bookings.new_ride(
            session,
            actor=None,
            resident=resident,
            pickup_address=addresses[0],
            pickup_dong=recurring.pickup_dong,
            dropoff_address=addresses[1],
            dropoff_dong=recurring.dropoff_dong,
            window_start=start,
            window_end=end,
            wheelchair=recurring.wheelchair,
            companions=recurring.companions,
            now=as_of,
            recurring_id=recurring.id,
            occurrence_date=day,
            key=key,
        )
        session.flush()
        created += 1
    return created


def _skip_reason(
    session: Session,
    recurring: RecurringRide,
    resident: Resident,
    day: date,
    *,
    start: datetime,
    end: datetime,
    calendar: BusinessCalendar,
) -> tuple[ExceptionKind, str | None] | None:
    if recurring.skip_holidays and calendar.is_holiday(day):
        return ExceptionKind.HOLIDAY, calendar.holiday_name(day)
    eligibility = covering(session, resident, day)
    if (
        eligibility is None
        or (recurring.wheelchair and not eligibility.wheelchair)
        or (recurring.companions and not eligibility.companion_allowed)
    ):
        return ExceptionKind.INELIGIBLE, None
    until = bookings.occupies_until(end, recurring.pickup_dong, recurring.dropoff_dong)
    if bookings.overlapping_ride(session, resident.id, start, until) is not None:
        return ExceptionKind.OVERLAPS, None
    return None


def _addresses(
    session: Session, recurring: RecurringRide, key: bytes
) -> tuple[str | None, str | None]:
    actor = Actor.system("mobility_recurring")
    return (
        vault.open_value(
            session,
            actor=actor,
            subject_id=recurring.resident_id,
            table=TABLE,
            column="pickup_address",
            row_id=recurring.id,
            blob=recurring.pickup_address_enc,
            key=key,
        ),
        vault.open_value(
            session,
            actor=actor,
            subject_id=recurring.resident_id,
            table=TABLE,
            column="dropoff_address",
            row_id=recurring.id,
            blob=recurring.dropoff_address_enc,
            key=key,
        ),
    )


def _exception(
    recurring: RecurringRide,
    day: date,
    kind: ExceptionKind,
    *,
    at: datetime,
    label: str | None = None,
    by: uuid.UUID | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> RecurringException:
    return RecurringException(
        id=uuid.uuid4(),
        recurring_id=recurring.id,
        dong_code=recurring.dong_code,
        occurrence_date=day,
        kind=kind.value,
        window_start=window[0] if window else None,
        window_end=window[1] if window else None,
        label=label[:100] if label else None,
        created_by=by,
        created_at=at,
    )


def load(
    session: Session, actor: Actor, recurring_id: uuid.UUID, *, for_update: bool = False
) -> RecurringRide:
    return access.load_scoped(
        session,
        RecurringRide,
        recurring_id,
        actor=actor,
        resident_id_of=lambda r: r.resident_id,
        for_update=for_update,
    )


def get_recurring(session: Session, *, actor: Actor, recurring_id: uuid.UUID) -> RecurringView:
    recurring = load(session, actor, recurring_id)
    result = view(session, actor, recurring)
    access.commit_recorded(
        session, actor=actor, action="read", resident_ids=[recurring.resident_id]
    )
    return result


def add_exception(
    session: Session,
    *,
    actor: Actor,
    recurring_id: uuid.UUID,
    day: date,
    action: str,
    now: datetime,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> RecurringView:
    """Cancel or move one date. A ride already made for it is cancelled or moved with it (an
    assigned ride gives up its vehicle and driver when moved); the job never brings it back."""
    if action not in ("cancel", "move"):
        raise InvalidInput({"action": ["cancel 또는 move (cancel or move)"]})
    recurring = load(session, actor, recurring_id, for_update=True)
    if not recurring.active:
        raise RuleViolation("끝난 반복 예약입니다 (recurring ride ended)", code="recurring_ended")
    errors: dict[str, list[str]] = {}
    _check_date(recurring, day, now, errors)
    window: tuple[datetime, datetime] | None = None
    if action == "move":
        if window_start is None or window_end is None:
            errors["window_start"] = ["옮길 시간대를 주세요 (give the new window)"]
        else:
            bookings.check_window(window_start, window_end, now, errors)
            window = (window_start, window_end)
    if errors:
        raise InvalidInput(errors)
    taken = session.scalar(
        select(RecurringException).where(
            RecurringException.recurring_id == recurring.id,
            RecurringException.occurrence_date == day,
        )
    )
    if taken is not None and taken.kind in (ExceptionKind.CANCELLED, ExceptionKind.MOVED):
        raise Conflict(
            "이 날짜는 이미 변경되었습니다 (this date already has an exception)",
            code="exception_exists",
        )
    if taken is not None:
        session.delete(taken)  # a skip the job recorded gives way to the staff's decision
        session.flush()
    kind = ExceptionKind.CANCELLED if action == "cancel" else ExceptionKind.MOVED
    session.add(_exception(recurring, day, kind, at=now, by=actor.staff_id, window=window))
    made = session.scalar(
        select(Ride).where(Ride.recurring_id == recurring.id, Ride.occurrence_date == day)
    )
    if made is not None and made.state_enum.is_live:
        ride = load_ride_for_change(session, actor, made.id, None)
        if window is None:
            ride.end(outcome=RideOutcome.CANCELLED, occurred_at=now, by=actor.staff_id, at=now)
        else:
            _move(session, ride, window, now)
    recurring.updated_at = now
    session.flush()
    result = view(session, actor, recurring)
    access.commit_recorded(
        session, actor=actor, action="update", resident_ids=[recurring.resident_id]
    )
    return result


def _check_date(
    recurring: RecurringRide, day: date, now: datetime, errors: dict[str, list[str]]
) -> None:
    minute = parse_local_time(recurring.pickup_time)
    assert minute is not None  # noqa: S101 - stored validated
    rule = parse_rule(recurring.rrule, recurring.starts_on, minute)
    if day not in occurrence_dates(rule, day, day) or (recurring.until and day > recurring.until):
        errors["date"] = ["이 반복 예약의 운행일이 아닙니다 (not a date of this recurring ride)"]
    elif day < seoul_today(now):
        errors["date"] = ["이미 지난 날짜입니다 (date in the past)"]


def _move(session: Session, ride: Ride, window: tuple[datetime, datetime], now: datetime) -> None:
    until = bookings.occupies_until(window[1], ride.pickup_dong, ride.dropoff_dong)
    other = bookings.overlapping_ride(
        session, ride.resident_id, window[0], until, excluding=ride.id
    )
    if other is not None:
        raise Conflict(
            "같은 시간에 이미 예약된 이동이 있습니다 (another ride of this resident overlaps)",
            code="ride_overlaps",
        )
    ride.window_start, ride.window_end = window
    ride.state = RideState.REQUESTED.value
    ride.vehicle_id = ride.driver_id = None
    ride.pickup_at = ride.busy_until = None
    ride.updated_at = now


def view(
    session: Session, actor: Actor, recurring: RecurringRide, *, created: int = 0
) -> RecurringView:
    opened = vault.open_many(
        session,
        actor=actor,
        values=[
            vault.Sealed(
                recurring.resident_id, TABLE, c, recurring.id, getattr(recurring, f"{c}_enc")
            )
            for c in ("pickup_address", "dropoff_address")
        ],
    )
    exceptions: Sequence[RecurringException] = session.scalars(
        select(RecurringException)
        .where(RecurringException.recurring_id == recurring.id)
        .order_by(RecurringException.occurrence_date)
    ).all()
    return RecurringView(
        id=recurring.id,
        resident_id=recurring.resident_id,
        dong=recurring.dong_code,
        rrule=recurring.rrule,
        pickup_time=recurring.pickup_time,
        window_minutes=recurring.window_minutes,
        starts_on=recurring.starts_on,
        until=recurring.until,
        skip_holidays=recurring.skip_holidays,
        pickup_dong=recurring.pickup_dong,
        dropoff_dong=recurring.dropoff_dong,
        pickup_address=opened[0] if isinstance(opened[0], str) else None,
        dropoff_address=opened[1] if isinstance(opened[1], str) else None,
        wheelchair=recurring.wheelchair,
        companions=recurring.companions,
        active=recurring.active,
        materialized_through=recurring.materialized_through,
        created_at=recurring.created_at,
        updated_at=recurring.updated_at,
        version=recurring.version,
        exceptions=[
            ExceptionView(
                date=e.occurrence_date,
                kind=e.kind,
                window_start=e.window_start,
                window_end=e.window_end,
                label=e.label,
            )
            for e in exceptions
        ],
        rides_created=created,
    )
