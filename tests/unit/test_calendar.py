"""Business days skip Korean holidays and weekends on the Seoul calendar; safety clocks do not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from config.ladders import Clock, LadderBook, LadderStep, load_ladders
from welfare.calendar import SEOUL, BusinessCalendar, next_escalation_at

CALENDAR = BusinessCalendar(years=range(2024, 2029))


def kst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SEOUL)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def business_step(days: int) -> LadderStep:
    return LadderStep(1, None, days, Clock.BUSINESS, "supervisor_review", "supervisor", "팀장 검토")


def calendar_step(hours: int) -> LadderStep:
    return LadderStep(
        1, timedelta(hours=hours), None, Clock.CALENDAR, "phone_check", "outreach", "전화"
    )


@pytest.fixture(scope="module")
def book() -> LadderBook:
    return load_ladders()


# --- the holidays the rest of the tests rely on, as the pinned package knows them ------------


@pytest.mark.parametrize(
    ("day", "what"),
    [
        (date(2026, 9, 24), "day before Chuseok 2026 (Thursday)"),
        (date(2026, 9, 25), "Chuseok 2026 (Friday)"),
        (date(2027, 2, 8), "second day of Seollal 2027 (Monday)"),
        (date(2027, 2, 9), "substitute holiday for Seollal 2027, which spans a Sunday"),
        (date(2026, 3, 2), "substitute holiday for Independence Movement Day on a Sunday"),
        (date(2026, 5, 25), "substitute holiday for Buddha's Birthday on a Sunday"),
        (date(2026, 6, 3), "local election day 2026"),
        (date(2025, 1, 27), "temporary public holiday declared before Seollal 2025"),
    ],
)
def test_the_calendar_knows_korean_public_substitute_and_temporary_holidays(
    day: date, what: str
) -> None:
    assert day.weekday() < 5, what
    assert CALENDAR.is_holiday(day), what
    assert not CALENDAR.is_business_day(day), what


def test_chuseok_2026_falling_on_a_saturday_gets_no_substitute_day() -> None:
    # Seollal and Chuseok earn a substitute day only for a Sunday or another holiday.
    assert CALENDAR.is_holiday(date(2026, 9, 26))
    assert CALENDAR.is_business_day(date(2026, 9, 28))


def test_weekends_are_not_business_days_and_an_ordinary_weekday_is() -> None:
    assert not CALENDAR.is_business_day(date(2026, 11, 21))  # Saturday
    assert not CALENDAR.is_business_day(date(2026, 11, 22))  # Sunday
    assert CALENDAR.is_business_day(date(2026, 11, 23))  # Monday


def test_years_only_preload_and_later_years_are_still_known() -> None:
    assert BusinessCalendar(years=[2026]).is_holiday(date(2030, 1, 1))


# --- business-day steps skip holidays and weekends; calendar steps do not --------------------


def test_a_business_day_step_skips_chuseok_2026_and_the_weekend_after_it() -> None:
    raised_at = kst(2026, 9, 23, 10)  # Wednesday, the last working day before Chuseok
    assert next_escalation_at(raised_at, business_step(1), CALENDAR) == kst(2026, 9, 28, 10)


def test_a_calendar_step_runs_straight_through_chuseok() -> None:
    raised_at = kst(2026, 9, 23, 22)
    due_at = next_escalation_at(raised_at, calendar_step(4), CALENDAR)
    assert due_at == kst(2026, 9, 24, 2)
    assert due_at.tzinfo is UTC


def test_a_business_day_step_skips_seollal_2027_and_its_substitute_holiday() -> None:
    raised_at = kst(2027, 2, 5, 14)  # Friday; Seollal runs Saturday to Monday, Tuesday substitutes
    assert CALENDAR.add_business_days(raised_at, 1) == kst(2027, 2, 10, 14)
    assert CALENDAR.add_business_days(raised_at, 2) == kst(2027, 2, 11, 14)


def test_a_business_day_step_skips_a_substitute_holiday_on_a_monday() -> None:
    raised_at = kst(2026, 2, 27, 9)  # Friday; Monday 2 March substitutes for Sunday 1 March
    assert CALENDAR.add_business_days(raised_at, 1) == kst(2026, 3, 3, 9)


def test_the_shipped_high_risk_lapse_ladder_ignores_the_chuseok_weekend(
    book: LadderBook,
) -> None:
    ladder = book.for_("contact_lapsed", "high")
    at = kst(2026, 9, 25, 20)  # Chuseok evening, a Friday
    for step in ladder.steps[:-1]:
        at = next_escalation_at(at, step, CALENDAR)
    assert at == kst(2026, 9, 26, 8)  # 4 h + 6 h + 2 h later, holiday or not


def test_the_shipped_care_center_review_waits_for_the_next_business_day(
    book: LadderBook,
) -> None:
    review = book.for_("care_response_overdue").step(2)
    escalated_at = kst(2027, 2, 5, 23, 30)  # Friday night before Seollal 2027
    assert next_escalation_at(escalated_at, review, CALENDAR) == kst(2027, 2, 10, 23, 30)


def test_a_staff_added_holiday_is_skipped() -> None:
    raised_at = kst(2026, 11, 19, 10)  # Thursday
    assert CALENDAR.add_business_days(raised_at, 1) == kst(2026, 11, 20, 10)
    closed = BusinessCalendar(extra_holidays=[date(2026, 11, 20)])  # a district closure
    assert not closed.is_business_day(date(2026, 11, 20))
    assert closed.add_business_days(raised_at, 1) == kst(2026, 11, 23, 10)
    assert closed.extra_holidays == {date(2026, 11, 20)}


# --- Asia/Seoul day boundaries -------------------------------------------------------------


def test_a_utc_afternoon_is_already_the_next_seoul_day() -> None:
    late = utc(2026, 9, 24, 16)  # 01:00 on Friday 25 September in Seoul: Chuseok itself
    assert late.astimezone(SEOUL).date() == date(2026, 9, 25)
    # counted from Monday 28 (the next business day) at 01:00 Seoul, plus one: Tuesday 01:00
    assert CALENDAR.add_business_days(late, 1) == utc(2026, 9, 28, 16)


def test_midnight_in_seoul_is_1500_utc() -> None:
    wednesday_night = utc(2026, 9, 23, 14, 59)  # 23:59 Wednesday in Seoul, a business day
    thursday_start = utc(2026, 9, 23, 15, 0)  # 00:00 Thursday in Seoul, Chuseok eve
    assert CALENDAR.add_business_days(wednesday_night, 0) == wednesday_night
    assert CALENDAR.add_business_days(thursday_start, 0) == kst(2026, 9, 28, 0)


def test_a_start_on_a_weekend_counts_from_monday_at_the_same_seoul_time() -> None:
    saturday = kst(2026, 11, 21, 10, 30)
    assert CALENDAR.add_business_days(saturday, 0) == kst(2026, 11, 23, 10, 30)
    assert CALENDAR.add_business_days(saturday, 1) == kst(2026, 11, 24, 10, 30)


def test_results_are_utc_whatever_zone_the_start_is_in() -> None:
    start = kst(2026, 11, 23, 9)
    result = CALENDAR.add_business_days(start, 1)
    assert result.tzinfo is UTC
    assert result == utc(2026, 11, 24, 0)


# --- refusals ------------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 11, 23, 9)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="aware"):
        CALENDAR.add_business_days(naive, 1)
    with pytest.raises(ValueError, match="aware"):
        next_escalation_at(naive, calendar_step(4), CALENDAR)
    with pytest.raises(ValueError, match="aware"):
        next_escalation_at(naive, business_step(1), CALENDAR)


def test_negative_business_days_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CALENDAR.add_business_days(kst(2026, 11, 23, 9), -1)


def test_a_datetime_where_a_date_belongs_is_refused_rather_than_never_matching() -> None:
    with pytest.raises(TypeError, match="not the datetime"):
        CALENDAR.is_business_day(kst(2026, 9, 25, 9))
    with pytest.raises(TypeError, match="not the datetime"):
        BusinessCalendar(extra_holidays=[kst(2026, 11, 20)])


# --- properties ----------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive by design
    max_value=datetime(2028, 6, 30),  # noqa: DTZ001 - hypothesis bounds are naive by design
    timezones=st.just(UTC),
)


@given(instants)
def test_zero_business_days_from_a_business_day_is_the_same_instant(start: datetime) -> None:
    assume(CALENDAR.is_business_day(start.astimezone(SEOUL).date()))
    assert CALENDAR.add_business_days(start, 0) == start


@given(instants, st.integers(min_value=0, max_value=30))
def test_the_result_is_a_business_day_at_the_same_seoul_time(start: datetime, days: int) -> None:
    result = CALENDAR.add_business_days(start, days)
    local_start, local_result = start.astimezone(SEOUL), result.astimezone(SEOUL)
    assert CALENDAR.is_business_day(local_result.date())
    assert local_result.time() == local_start.time()
    assert result >= start
    between = local_result.date() - local_start.date()
    assert between >= timedelta(days=days)


@given(instants, st.integers(min_value=0, max_value=15), st.integers(min_value=0, max_value=15))
def test_business_days_add_up(start: datetime, first: int, second: int) -> None:
    in_two_goes = CALENDAR.add_business_days(CALENDAR.add_business_days(start, first), second)
    assert in_two_goes == CALENDAR.add_business_days(start, first + second)


@given(instants, st.integers(min_value=1, max_value=200))
def test_a_calendar_step_is_exactly_its_delay_later(start: datetime, hours: int) -> None:
    assert next_escalation_at(start, calendar_step(hours), CALENDAR) == start + timedelta(
        hours=hours
    )
