"""Care-request deadlines: what an urgency promises (config/care_urgency.json), on calendar or
business-day clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from config.casework import DeadlineClock, UrgencyRule, load_urgencies
from welfare.calendar import SEOUL, BusinessCalendar
from welfare.errors import InvalidInput


@cache
def urgencies() -> dict[str, UrgencyRule]:
    return load_urgencies()


def respond_by(urgency: str, received_at: datetime, calendar: BusinessCalendar) -> datetime:
    """The response deadline `urgency` sets for a request received at `received_at`, in UTC.

    Calendar deadlines add elapsed time (the center never closes); a next-business-day deadline
    is the first business day after the Seoul day of receipt, at the configured Seoul time.
    """
    rule = rule_for(urgency)
    if rule.clock is DeadlineClock.CALENDAR:
        assert rule.respond_within is not None  # noqa: S101 - validated at load
        return received_at.astimezone(UTC) + rule.respond_within
    assert rule.at_local_time is not None  # noqa: S101 - validated at load
    received_on = received_at.astimezone(SEOUL).date()
    day = calendar.next_business_day(received_on + timedelta(days=1))
    return datetime.combine(day, rule.at_local_time, tzinfo=SEOUL).astimezone(UTC)


def rule_for(urgency: str, errors: dict[str, list[str]] | None = None) -> UrgencyRule:
    rule = urgencies().get(urgency)
    if rule is None:
        problem = {"urgency": [f"{', '.join(urgencies())} 중 하나 (unknown urgency)"]}
        if errors is None:
            raise InvalidInput(problem)
        errors.update(problem)
        return next(iter(urgencies().values()))
    return rule
