"""Korean business days in Asia/Seoul and the time a follow-up's current step escalates.

Safety clocks run on calendar time; staff deadlines may run on business days: Monday to Friday,
minus Korean public holidays (from the `holidays` package, which includes substitute and temporary
holidays and election days) and any day staff add, such as a district closure or a holiday
declared after the package was released.

Business-day rule: days are counted on the Asia/Seoul calendar and the local time of day is kept.
A start on a non-business day first moves to the next business day at the same local time, so
Saturday 10:00 plus 0 business days is Monday 10:00 and plus 1 is Tuesday 10:00 (holidays
permitting). Every input and output is an aware datetime; outputs are in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import holidays

from config.ladders import Clock, LadderStep

SEOUL: Final = ZoneInfo("Asia/Seoul")
_SATURDAY: Final = 5
_ONE_DAY: Final = timedelta(days=1)


class BusinessCalendar:
    """Which Seoul calendar days district staff work, and business-day arithmetic over them."""

    def __init__(
        self, extra_holidays: Iterable[date] = (), years: Iterable[int] | None = None
    ) -> None:
        """`extra_holidays` are staff-added days off; `years` pre-loads the public holidays of
        those years (any other year is still loaded on first use)."""
        extra = frozenset(extra_holidays)
        for day in extra:
            _require_date(day)
        self._extra_holidays = extra
        # "public" holds the days government offices (and so dong centers) close, substitute
        # and temporary holidays included; "bank" adds only Workers' Day before 2026, a working
        # day for public servants.
        self._public_holidays = holidays.country_holidays(
            "KR", years=None if years is None else list(years), categories=("public",)
        )

    @property
    def extra_holidays(self) -> frozenset[date]:
        return self._extra_holidays

    def is_holiday(self, day: date) -> bool:
        """A Korean public holiday or a staff-added day off (weekends aside)."""
        _require_date(day)
        return day in self._extra_holidays or day in self._public_holidays

    def holiday_name(self, day: date) -> str | None:
        """The holiday's name (the package's English), "staff-added day off", or None."""
        _require_date(day)
        if day in self._public_holidays:
            return str(self._public_holidays.get(day))
        return "staff-added day off" if day in self._extra_holidays else None

    def is_business_day(self, day: date) -> bool:
        """Monday to Friday and not a holiday; `day` is a date on the Seoul calendar."""
        _require_date(day)
        return day.weekday() < _SATURDAY and not self.is_holiday(day)

    def next_business_day(self, day: date) -> date:
        """`day` itself if it is a business day, else the first business day after it."""
        while not self.is_business_day(day):
            day += _ONE_DAY
        return day

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """`days` business days after `start`, at the same Seoul time of day, in UTC.

        A start on a non-business day counts from the next business day at the same time.
        """
        _require_aware(start, "start")
        if days < 0:
            raise ValueError(f"days must not be negative, not {days}")
        local = start.astimezone(SEOUL)
        day = self.next_business_day(local.date())
        for _ in range(days):
            day = self.next_business_day(day + _ONE_DAY)
        return datetime.combine(day, local.time(), tzinfo=SEOUL).astimezone(UTC)


def next_escalation_at(start: datetime, step: LadderStep, calendar: BusinessCalendar) -> datetime:
    """When a follow-up that reached `step` at `start` escalates past it, in UTC.

    A calendar step adds its delay as elapsed time (holidays and weekends included); a business
    step adds its business days on `calendar`.
    """
    _require_aware(start, "start")
    if step.clock == Clock.CALENDAR and step.delay is not None:
        return start.astimezone(UTC) + step.delay
    if step.clock == Clock.BUSINESS and step.business_days is not None:
        return calendar.add_business_days(start, step.business_days)
    raise ValueError(f"step {step.step} has no delay for its {step.clock} clock")


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not the naive {moment.isoformat()}")


def _require_date(day: date) -> None:
    # A datetime is a date too, but never equals one: it would silently match no holiday.
    if isinstance(day, datetime):
        raise TypeError(f"expected a Seoul calendar date, not the datetime {day.isoformat()}")
