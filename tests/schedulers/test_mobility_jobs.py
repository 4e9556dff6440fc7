"""Recurring rides materialized by the scheduler (idempotent, Chuseok skipped when asked,
exceptions kept) and the `eligibility_expiring` follow-up from the tick."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select

from schedulers.followups import run_followups
from schedulers.mobility import materialize_recurring_rides
from schedulers.registry import SCHEDULE, Job
from schedulers.runner import run_job
from services import followups, mobility, residents
from tests.support.casework import unique_rrn
from tests.support.mobility import eligible
from tests.support.staff import GASAN, SIHEUNG1, make_staff
from welfare.database import Database
from welfare.errors import InvalidInput
from welfare.models import Actor, FollowUp, RecurringException, Ride

SEOUL = ZoneInfo("Asia/Seoul")
JOB = Job("mobility_rides", materialize_recurring_rides)
TICK = Job("followups", run_followups)
# Chuseok 2027 falls on 14-16 September (a Tuesday to a Thursday).
BEFORE_CHUSEOK = datetime(2027, 9, 8, 9, 0, tzinfo=SEOUL).astimezone(UTC)
CHUSEOK = (date(2027, 9, 14), date(2027, 9, 15), date(2027, 9, 16))


@pytest.fixture
def counselor(app: Flask) -> Actor:
    return make_staff(app, "counselor", (GASAN,)).actor()


def rider(db: Database, actor: Actor, now: datetime, *, days: int = 365) -> uuid.UUID:
    """A resident with an eligibility from `now`'s Seoul day for `days` days."""
    today = now.astimezone(SEOUL).date()
    with db.new_session() as s:
        resident = residents.register_resident(
            s, actor=actor, name="투석환자", rrn=unique_rrn(), dong=GASAN, now=now
        )
        mobility.grant(
            s,
            actor=actor,
            resident_id=resident.id,
            basis="severe_walking_disability",
            valid_from=today,
            valid_until=today + timedelta(days=days),
            now=now,
        )
    return resident.id


def standing(
    db: Database, actor: Actor, resident_id: uuid.UUID, now: datetime, **overrides: Any
) -> mobility.RecurringView:
    body: dict[str, Any] = {
        "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
        "pickup_time": "07:30",
        "starts_on": now.astimezone(SEOUL).date(),
        "pickup_address": "가산로 12",
        "pickup_dong": GASAN,
        "dropoff_address": "시흥대로 투석센터",
        "dropoff_dong": SIHEUNG1,
        **overrides,
    }
    with db.new_session() as s:
        return mobility.create_recurring(
            s,
            actor=actor,
            resident_id=resident_id,
            now=now,
            calendar=followups.business_calendar(s),
            **body,
        )


def rides_of(db: Database, recurring_id: uuid.UUID) -> list[Ride]:
    with db.new_session() as s:
        return list(
            s.scalars(
                select(Ride).where(Ride.recurring_id == recurring_id).order_by(Ride.window_start)
            )
        )


def run(db: Database, job: Job, at: datetime) -> dict[str, Any]:
    result = run_job(db, job, as_of=at)
    assert result.status == "succeeded", result
    return dict(result.counts)


def test_the_job_is_scheduled() -> None:
    assert "mobility_rides" in {job.name for job in SCHEDULE}


def test_materializing_twice_creates_nothing_twice(db: Database, counselor: Actor) -> None:
    now = BEFORE_CHUSEOK
    recurring = standing(db, counselor, rider(db, counselor, now), now)
    made = rides_of(db, recurring.id)
    # Mon, Wed, Fri over the 14-day horizon from Wednesday 8 September: 6 or 7 dates, 07:30 Seoul.
    assert recurring.rides_created == len(made) >= 6
    assert {r.window_start.astimezone(SEOUL).time() for r in made} == {time(7, 30)}
    assert {r.occurrence_date.weekday() for r in made if r.occurrence_date} <= {0, 2, 4}
    assert all(r.window_end - r.window_start == timedelta(minutes=30) for r in made)
    first = run(db, JOB, now + timedelta(minutes=15))
    second = run(db, JOB, now + timedelta(minutes=30))
    assert first["rides_created"] == second["rides_created"] == 0
    assert len(rides_of(db, recurring.id)) == len(made)
    # A day later the horizon moves on by one day; still one ride per date.
    later = run(db, JOB, now + timedelta(days=1))
    dates = [r.occurrence_date for r in rides_of(db, recurring.id)]
    assert len(dates) == len(set(dates)) == len(made) + later["rides_created"]


def test_chuseok_is_skipped_when_asked_and_each_skipped_date_is_visible(
    db: Database, counselor: Actor
) -> None:
    now = BEFORE_CHUSEOK
    skipping = standing(
        db, counselor, rider(db, counselor, now), now, rrule="FREQ=DAILY", skip_holidays=True
    )
    keeping = standing(db, counselor, rider(db, counselor, now), now, rrule="FREQ=DAILY")
    skipped_dates = {r.occurrence_date for r in rides_of(db, skipping.id)}
    kept_dates = {r.occurrence_date for r in rides_of(db, keeping.id)}
    assert set(CHUSEOK) <= kept_dates
    assert not set(CHUSEOK) & skipped_dates
    shown = {e.date: (e.kind, e.label) for e in skipping.exceptions}
    assert {d: shown[d][0] for d in CHUSEOK} == dict.fromkeys(CHUSEOK, "holiday")
    assert all("Chuseok" in (shown[d][1] or "") for d in CHUSEOK)
    run(db, JOB, now + timedelta(hours=1))
    with db.new_session() as s:
        holidays = s.scalar(
            select(func.count())
            .select_from(RecurringException)
            .where(RecurringException.recurring_id == skipping.id)
        )
    assert holidays == len([e for e in skipping.exceptions if e.kind == "holiday"])


def test_a_cancelled_or_moved_date_is_kept_when_the_job_runs_again(
    db: Database, counselor: Actor
) -> None:
    now = BEFORE_CHUSEOK
    recurring = standing(db, counselor, rider(db, counselor, now), now)
    made = rides_of(db, recurring.id)
    cancelled_day, moved_day = made[1].occurrence_date, made[2].occurrence_date
    assert cancelled_day and moved_day
    new_start = datetime.combine(moved_day, time(13, 0), tzinfo=SEOUL).astimezone(UTC)
    with db.new_session() as s:
        mobility.add_exception(
            s,
            actor=counselor,
            recurring_id=recurring.id,
            day=cancelled_day,
            action="cancel",
            now=now,
        )
    with db.new_session() as s:
        view = mobility.add_exception(
            s,
            actor=counselor,
            recurring_id=recurring.id,
            day=moved_day,
            action="move",
            now=now,
            window_start=new_start,
            window_end=new_start + timedelta(minutes=20),
        )
    assert {(e.date, e.kind) for e in view.exceptions} == {
        (cancelled_day, "cancelled"),
        (moved_day, "moved"),
    }
    for at in (now + timedelta(hours=1), now + timedelta(hours=2)):
        run(db, JOB, at)
    by_date = {r.occurrence_date: r for r in rides_of(db, recurring.id)}
    assert len(by_date) == len(rides_of(db, recurring.id))  # one per date, still
    assert by_date[cancelled_day].state == "cancelled"
    assert by_date[moved_day].state == "requested"
    assert by_date[moved_day].window_start == new_start


def test_bad_rrules_are_refused_and_nothing_is_written(db: Database, counselor: Actor) -> None:
    now = BEFORE_CHUSEOK
    resident_id = rider(db, counselor, now)
    for rule in (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",  # never fires
        "FREQ=MINUTELY",  # more than hourly
        "FREQ=HOURLY;INTERVAL=1",  # hourly: 24 rides a day
        "FREQ=DAILY;BYHOUR=7,8",  # twice a day
        "FREQ=SOMETIMES",
        "DTSTART:20270101T000000\nRRULE:FREQ=DAILY",
        "FREQ=WEEKLY;COUNT=0",
    ):
        with pytest.raises(InvalidInput) as refused:
            standing(db, counselor, resident_id, now, rrule=rule)
        assert "rrule" in refused.value.errors, rule
    with db.new_session() as s:
        assert s.scalar(select(func.count()).select_from(Ride)) == 0


def test_the_tick_raises_eligibility_expiring_once_and_cancels_it_on_renewal(
    db: Database, counselor: Actor
) -> None:
    now = datetime.now(UTC)
    resident_id = rider(db, counselor, now, days=20)  # ends within the 30-day notice
    far = rider(db, counselor, now, days=200)  # does not
    run(db, TICK, now)
    run(db, TICK, now + timedelta(minutes=1))
    with db.new_session() as s:
        raised = s.scalars(select(FollowUp).where(FollowUp.reason == "eligibility_expiring")).all()
        assert [(f.resident_id, f.program, f.dong_code) for f in raised] == [
            (resident_id, "mobility", GASAN)
        ]
        assert far not in {f.resident_id for f in raised}
    today = now.astimezone(SEOUL).date()
    with db.new_session() as s:
        mobility.grant(
            s,
            actor=counselor,
            resident_id=resident_id,
            basis="severe_walking_disability",
            valid_from=today + timedelta(days=21),
            valid_until=today + timedelta(days=400),
            now=now,
        )
    counts = run(db, TICK, now + timedelta(minutes=2))
    assert counts["eligibility_expiring_cancelled"] == 1
    with db.new_session() as s:
        states = s.scalars(
            select(FollowUp.outcome).where(FollowUp.reason == "eligibility_expiring")
        ).all()
    assert states == ["renewed"]


def test_a_recurring_ride_over_the_api_answers_201_and_bad_input_422(login_as: Any) -> None:
    client = login_as("counselor")
    resident_id = eligible(client)
    body = {
        "resident_id": resident_id,
        "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
        "pickup_time": "07:30",
        "window_minutes": 20,
        "starts_on": (datetime.now(SEOUL).date() + timedelta(days=1)).isoformat(),
        "skip_holidays": True,
        "pickup_address": "가산로 12",
        "pickup_dong": GASAN,
        "dropoff_address": "시흥대로 투석센터",
        "dropoff_dong": SIHEUNG1,
    }
    response = client.post("/api/v1/mobility/recurring-rides", json=body)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["rides_created"] >= 5 and created["pickup_address"] == "가산로 12"
    read = client.get(f"/api/v1/mobility/recurring-rides/{created['id']}")
    assert read.status_code == 200 and read.get_json()["rrule"] == body["rrule"]
    for overrides, field in (
        ({"rrule": "FREQ=SECONDLY"}, "rrule"),
        ({"pickup_time": "25:00"}, "pickup_time"),
        ({"pickup_dong": "0000000000"}, "pickup_dong"),
        ({"until": "2020-01-01"}, "until"),
    ):
        bad = client.post("/api/v1/mobility/recurring-rides", json={**body, **overrides})
        assert bad.status_code == 422, overrides
        assert field in bad.get_json()["errors"], bad.get_json()
    assert (
        login_as("outreach").post("/api/v1/mobility/recurring-rides", json=body).status_code == 403
    )
