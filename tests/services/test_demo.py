"""The demo district: fictional residents in every dong, Ongi history, some already lapsed, and
casework acted by the demo staff: cases, notes, referrals and care requests in every state."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import delete, func, select

from config.casework import PROGRAMS
from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import care, cases, demo, residents
from services.demo import casework as demo_casework
from services.demo import seed as demo_seed
from services.demo import stories as demo_stories
from welfare.calendar import BusinessCalendar
from welfare.cli import demo as demo_command
from welfare.crypto.passwords import make_hasher
from welfare.database import Database, database_now
from welfare.identity import parse_rrn
from welfare.models import (
    Actor,
    CareRequest,
    CareRequestEvent,
    CareState,
    Case,
    CaseEvent,
    CaseNote,
    Contact,
    Dispatch,
    ExternalReferral,
    FollowUp,
    OngiEnrollment,
    RecurringRide,
    Referral,
    Resident,
    Ride,
    Staff,
    SystemMarker,
)
from welfare.web import get_settings

HASHER = make_hasher("fast")


def seed(db: Database, size: int = 80) -> demo.DemoDistrict | None:
    with db.new_session() as s:
        return demo.seed_demo_district(s, hasher=HASHER, residents=size)


def counts(db: Database) -> tuple[int, int, int, int]:
    with db.new_session() as s:
        return tuple(  # type: ignore[return-value]  # four models, so four counts
            s.scalar(select(func.count()).select_from(m)) or 0
            for m in (Resident, OngiEnrollment, Contact, Staff)
        )


CASEWORK_MODELS = (Case, CaseEvent, CaseNote, Referral, CareRequest, CareRequestEvent, FollowUp)


def casework_counts(db: Database) -> tuple[int, ...]:
    with db.new_session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) or 0 for m in CASEWORK_MODELS)


def demo_actor(db: Database, username: str) -> Actor:
    with db.new_session() as s:
        return s.scalars(select(Staff).where(Staff.username == username)).one().actor()


def seed_time(db: Database) -> datetime:
    """The seed's clock: its marker is written at the instant every offset was taken from."""
    with db.new_session() as s:
        return s.get_one(SystemMarker, demo.DEMO_MARKER).set_at


def test_the_seed_registers_readable_residents_in_every_dong_and_enrolls_some(
    db: Database,
) -> None:
    district = seed(db)
    assert district is not None
    assert district.counts["residents"] == 80
    assert 20 <= district.counts["enrollments"] <= 45  # about 40%
    assert district.counts["contacts"] > district.counts["enrollments"]
    with db.new_session() as s:
        everyone = list(s.scalars(select(Resident)))
        assert len({r.dong_code for r in everyone}) == 10
        views = [residents.view(s, Actor.system("test"), r) for r in everyone]
        risk_levels = set(s.scalars(select(OngiEnrollment.risk_level)))
    assert all(v.name and v.rrn_masked and v.address and "금천구" in v.address for v in views)
    assert any(v.phone and v.phone.startswith("010-") for v in views)
    assert risk_levels == {"high", "medium", "low"}


def test_a_tick_after_the_seed_raises_follow_ups_for_the_lapsed(db: Database) -> None:
    district = seed(db)
    assert district is not None
    assert district.counts["lapsed"] > 0
    with db.new_session() as s:
        now = database_now(s)
    result = run_job(db, Job("followups", run_followups), as_of=now + timedelta(minutes=1))
    assert result.status == "succeeded", result
    assert result.counts["raised"] >= district.counts["lapsed"]


def test_seeding_again_adds_nothing_and_an_interrupted_seed_completes(db: Database) -> None:
    assert seed(db) is not None
    before = counts(db)
    casework_before = casework_counts(db)
    assert seed(db) is None
    assert counts(db) == before
    assert casework_counts(db) == casework_before
    with db.new_session() as s:  # as if the first run died before writing its marker
        s.execute(delete(SystemMarker).where(SystemMarker.key == demo.DEMO_MARKER))
        s.commit()
    again = seed(db)
    assert again is not None
    assert again.counts["residents"] == again.counts["staff"] == again.counts["enrollments"] == 0
    assert counts(db)[:2] == before[:2]
    assert again.counts["cases"] == again.counts["care_requests"] == 0
    assert casework_counts(db) == casework_before


def test_the_seed_command_prints_demo_credentials_once_and_they_log_in(
    runner: FlaskCliRunner, app: Flask
) -> None:
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "DEMO CREDENTIALS" in first.output
    assert "demo.supervisor" in first.output and "demo.counselor.gasan" in first.output
    password = first.output.split("password for all of them:")[1].split()[0]
    assert len(password) >= 12
    assert "cases by program: care_center=" in first.output
    assert "care requests: handled=" in first.output
    second = runner.invoke(args=["demo", "seed"])
    assert "already seeded" in second.output
    assert password not in second.output
    response = app.test_client().post(
        "/api/v1/auth/login", json={"username": "demo.outreach.gasan", "password": password}
    )
    assert response.status_code == 200
    assert response.get_json()["staff"]["role"] == "outreach"


def test_the_seed_command_refuses_production(
    runner: FlaskCliRunner, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    production = replace(get_settings(app), env="production")
    monkeypatch.setattr(demo_command, "get_settings", lambda: production)
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 2
    assert "never runs in production" in result.output


@pytest.mark.parametrize("seed_value", [1, 2, 3])
def test_fictional_rrns_are_valid_with_a_legacy_check_digit(seed_value: int) -> None:
    rng = random.Random(seed_value)
    today = datetime(2026, 11, 24, tzinfo=UTC)
    parsed = [
        parse_rrn(demo.fictional_rrn(rng, today=today), today=today.date()) for _ in range(500)
    ]
    assert all(rrn.legacy_checksum_ok for rrn in parsed)
    assert {rrn.digits[6] for rrn in parsed} >= {"1", "2", "3", "4"}


def test_the_seed_opens_cases_in_every_program_and_state_with_notes_and_referrals(
    db: Database,
) -> None:
    district = seed(db)
    assert district is not None
    with db.new_session() as s:
        seeded = list(s.scalars(select(Case)))
        classes = Counter(demo_casework.status_class(c) for c in seeded)
        programs = Counter(c.program for c in seeded)
        referrals = list(s.scalars(select(Referral)))
        notes = s.scalar(select(func.count()).select_from(CaseNote))
        supervisor = s.scalars(select(Staff).where(Staff.username == "demo.supervisor")).one()
        closed = [c for c in seeded if c.closed_at is not None]
        targets = {r.to_case_id: s.get_one(Case, r.to_case_id) for r in referrals}
    assert set(programs) == set(PROGRAMS)  # every program, the district plan's others too
    assert set(classes) == {"intake", "in_progress", "closure_requested", "closed"}
    assert district.counts["cases"] == len(seeded)
    assert district.details["cases by program"] == dict(programs)
    assert district.details["cases by status"] == dict(classes)
    assert district.counts["case_notes"] == notes and notes >= len(seeded) // 2
    assert district.counts["referrals"] == len(referrals) >= 2
    for referral in referrals:  # consent first, then the referral, which opens the target case
        assert referral.consent_given_at < referral.referred_at
        assert referral.from_program != referral.to_program
        target = targets[referral.to_case_id]
        assert target.referred_from_case_id == referral.from_case_id
        assert target.opened_at == referral.referred_at
    # Closed through the two-person protocol: a counselor asked, the supervisor approved.
    assert closed and all(c.closed_by == supervisor.id != c.closure_requested_by for c in closed)


def test_the_casework_happened_in_order_before_the_seed_and_after_registration(
    db: Database,
) -> None:
    assert seed(db) is not None
    now = seed_time(db)
    with db.new_session() as s:
        registered = {rid: at for rid, at in s.execute(select(Resident.id, Resident.created_at))}
        for case in s.scalars(select(Case)):
            times = list(
                s.scalars(
                    select(CaseEvent.at)
                    .where(CaseEvent.case_id == case.id)
                    .order_by(CaseEvent.at, CaseEvent.id)
                )
            )
            assert registered[case.resident_id] <= case.opened_at == times[0]
            assert case.updated_at <= times[-1] < now  # a referral out leaves updated_at
        for request in s.scalars(select(CareRequest)):
            kinds = list(
                s.scalars(
                    select(CareRequestEvent.kind)
                    .where(CareRequestEvent.care_request_id == request.id)
                    .order_by(CareRequestEvent.at, CareRequestEvent.id)
                )
            )
            assert kinds[0] == "received" and request.received_at < now
            assert request.responded_at is None or request.received_at < request.responded_at


@pytest.mark.parametrize(
    "seoul_now",
    [
        "2026-11-30T03:10:00",  # a Monday night
        "2026-11-27T17:40:00",  # a Friday afternoon
        "2026-09-28T09:05:00",  # the morning after Chuseok and a weekend
        "2027-01-01T00:01:00",  # a holiday, just after midnight
    ],
)
def test_every_story_runs_forward_in_time_and_ends_before_the_seed(seoul_now: str) -> None:
    now = datetime.fromisoformat(seoul_now + "+09:00").astimezone(UTC)
    clock = demo_casework.Clock(now, BusinessCalendar())
    for case_story in demo_stories.CASE_STORIES:
        times = [clock.at(case_story.opened), *(clock.at(s.when) for s in case_story.steps)]
        assert times == sorted(times) and len(set(times)) == len(times), case_story
        assert times[-1] < now
    for care_story in demo_stories.CARE_STORIES:
        times = [clock.at(care_story.received)]
        for step in care_story.steps:
            times.append(clock.at(step.when))
            if isinstance(step, demo_stories.RegisterAndLink):
                times.append(clock.at(step.then_link))
        assert times == sorted(times) and len(set(times)) == len(times), care_story
        assert times[-1] < now


def test_care_stories_are_distinct_so_a_rerun_can_tell_them_apart() -> None:
    keys = [(c.dong, c.care_type, c.channel, c.urgency, c.by) for c in demo_stories.CARE_STORIES]
    assert len(set(keys)) == len(keys)


def test_the_seed_takes_care_requests_in_every_state(db: Database) -> None:
    district = seed(db)
    assert district is not None
    now = seed_time(db)
    with db.new_session() as s:
        requests = list(s.scalars(select(CareRequest)))
        kinds = {
            r.id: set(
                s.scalars(
                    select(CareRequestEvent.kind).where(CareRequestEvent.care_request_id == r.id)
                )
            )
            for r in requests
        }
        registered = {rid: at for rid, at in s.execute(select(Resident.id, Resident.created_at))}
        born = {rid: year for rid, year in s.execute(select(Resident.id, Resident.birth_year))}
    waiting = [r for r in requests if r.state == CareState.RECEIVED]
    assert [r for r in waiting if r.respond_by > now], "open within its deadline"
    assert [r for r in waiting if r.respond_by < now], "overdue"
    assert [r for r in requests if r.state == CareState.RESPONDED], "answered, care under way"
    assert [r for r in requests if r.state == CareState.DONE and r.outcome == "handled"]
    handed = [r for r in requests if "handover" in kinds[r.id]]
    assert handed and all(r.state != CareState.DONE for r in handed)
    assert all(r.assignee_id != r.responded_by for r in handed)  # the next shift has it
    unlinked = [r for r in requests if r.resident_id is None]
    assert len(unlinked) == 1 and unlinked[0].linked_at is None
    (linked,) = [r for r in requests if "linked" in kinds[r.id]]
    assert linked.resident_id is not None and linked.linked_at is not None
    # Received before the person was registered, linked after.
    assert linked.received_at < registered[linked.resident_id] <= linked.linked_at
    assert born[linked.resident_id] <= 1955  # the neighbor reported an elder
    assert district.counts["care_requests"] == len(requests)
    assert sum(district.details["care requests"].values()) == len(requests)
    assert district.details["care requests"]["overdue"] == len(
        [r for r in waiting if r.respond_by < now]
    )


def test_a_demo_counselor_sees_the_casework_of_their_dong_through_the_services(
    db: Database,
) -> None:
    assert seed(db) is not None
    now = seed_time(db)
    counselor = demo_actor(db, "demo.counselor.gasan")
    outreach = demo_actor(db, "demo.outreach.gasan")
    with db.new_session() as s:
        queue = [i.record for i in cases.list_cases(s, actor=counselor).items]
        closed = [i.record for i in cases.list_cases(s, actor=counselor, status="closed").items]
        assert queue and closed
        assert {c.dong_code for c in [*queue, *closed]} == {demo_stories.GASAN}
        assert {c.program for c in [*queue, *closed]} == {
            "care_center",
            "ongi",
            "kimchi",
            "mobility",
            "hygiene_care",
        }
        notes = [
            n for c in [*queue, *closed] for n in cases.list_notes(s, actor=counselor, case_id=c.id)
        ]
        assert notes and all(n.body for n in notes)
        referrals = [
            r for c in queue for r in cases.list_referrals(s, actor=counselor, case_id=c.id)
        ]
        assert referrals and all(r.reason and r.consent_given_by for r in referrals)
        handover = care.handover_view(s, actor=counselor, now=now).items
        # Soonest deadline first; an overdue unanswered request is there whatever the hour (a
        # request answered in time may have an earlier deadline: from 14:00 in Seoul the
        # overnight walk-in's 09:00 deadline precedes the urgent one's).
        assert [r.respond_by for r in handover] == sorted(r.respond_by for r in handover)
        assert any(r.is_overdue and r.state == "received" for r in handover)
        assert all(r.dong == demo_stories.GASAN and r.summary for r in handover)
        (walk_in,) = [r for r in handover if r.resident_id is None]
        assert walk_in.caller_name and walk_in.state == "responded"
        history = care.get_request(s, actor=counselor, request_id=walk_in.id, now=now)
        assert [e.kind for e in history.events] == ["received", "responded"]
        assert all(e.note for e in history.events if e.kind == "responded")
        # Outreach workers work the same queue without the sealed summaries.
        field_view = care.handover_view(s, actor=outreach, now=now).items
        assert [r.id for r in field_view] == [r.id for r in handover]
        assert all(r.summary is None for r in field_view)
    siheung = demo_actor(db, "demo.counselor.siheung1")
    with db.new_session() as s:
        mine = [
            r
            for r in care.handover_view(s, actor=siheung, now=now).items
            if r.assignee_id == siheung.staff_id
        ]
        assert mine, "the night shift handed a request over to the day counselor"
        events = care.get_request(s, actor=siheung, request_id=mine[0].id, now=now).events
        assert "handover" in [e.kind for e in events]


def test_a_tick_at_the_seed_time_raises_the_overdue_care_follow_ups(db: Database) -> None:
    district = seed(db)
    assert district is not None
    now = seed_time(db)
    result = run_job(db, Job("followups", run_followups), as_of=now)
    assert result.status == "succeeded", result
    overdue = district.details["care requests"]["overdue"]
    assert overdue >= 1
    assert result.counts["care_overdue_raised"] == overdue
    with db.new_session() as s:
        raised = list(s.scalars(select(FollowUp).where(FollowUp.reason == "care_response_overdue")))
        waiting = set(
            s.scalars(
                select(CareRequest.id).where(
                    CareRequest.state == CareState.RECEIVED.value, CareRequest.respond_by <= now
                )
            )
        )
    assert {f.subject_id for f in raised} == waiting
    assert all(f.program == "care_center" and f.dong_code for f in raised)


def test_the_seed_builds_a_mobility_center_with_a_dispatched_day_and_its_outcomes(
    db: Database,
) -> None:
    district = seed(db)
    assert district is not None
    center = district.details["mobility center"]
    assert (center["vehicles"], center["drivers"]) == (6, 6)
    assert center["eligible_riders"] >= 4 and center["recurring_rides"] == 2
    with db.new_session() as s:
        states = Counter(s.scalars(select(Ride.state)))
        recurring = s.scalar(select(func.count()).select_from(RecurringRide))
        no_show_followups = s.scalar(
            select(func.count()).select_from(FollowUp).where(FollowUp.reason == "ride_no_show")
        )
        ride_contacts = s.scalar(
            select(func.count()).select_from(Contact).where(Contact.channel == "ride")
        )
    assert recurring == 2
    assert states["completed"] >= 1 and states["no_show"] == 1
    assert states["assigned"] >= 1  # tomorrow, dispatched
    assert no_show_followups == 1 and ride_contacts >= 1  # the riders are Ongi residents
    before = Counter(states)
    assert seed(db) is None
    with db.new_session() as s:
        assert Counter(s.scalars(select(Ride.state))) == before


def test_the_seed_works_the_district_plans_other_services_and_the_tick_chases_them(
    db: Database,
) -> None:
    district = seed(db)
    assert district is not None
    plan = district.details["district plan services"]
    staffed = len(demo_seed.STAFFED_DONGS)
    assert plan["duty_shifts"] == 2 * staffed
    for state in ("done", "en_route", "requested"):
        assert plan[f"dispatches_{state}"] == staffed
    assert plan["hygiene_enrollments"] >= staffed
    assert plan["hygiene_visits_missed"] >= 1 and plan["hygiene_visits_done"] >= 3
    assert plan["partner_referrals"] == 2 * staffed
    with db.new_session() as s:
        dispatches = Counter(s.scalars(select(Dispatch.state)))
        referrals = Counter(s.scalars(select(ExternalReferral.state)))
        visit_contacts = s.scalar(
            select(func.count()).select_from(Contact).where(Contact.program == "hygiene_care")
        )
        concerns = s.scalar(
            select(func.count())
            .select_from(FollowUp)
            .where(FollowUp.reason == "welfare_concern", FollowUp.program == "hygiene_care")
        )
        now = database_now(s)
    assert dispatches == {"done": staffed, "en_route": staffed, "requested": staffed}
    assert referrals == {"accepted": staffed, "sent": staffed}
    assert visit_contacts == plan["hygiene_visits_done"]  # every visit met is an Ongi contact
    assert concerns >= 1
    result = run_job(db, Job("followups", run_followups), as_of=now + timedelta(minutes=1))
    assert result.status == "succeeded", result
    assert result.counts["hygiene_missed_raised"] == plan["hygiene_visits_missed"]
    assert result.counts["partner_unanswered_raised"] == staffed
    assert seed(db) is None
    with db.new_session() as s:
        assert Counter(s.scalars(select(Dispatch.state))) == dispatches


@pytest.mark.parametrize("seoul_time", ["02:10", "08:50", "17:58", "18:30", "23:59"])
def test_the_seed_works_whatever_the_time_of_day_in_seoul(
    db: Database, monkeypatch: pytest.MonkeyPatch, seoul_time: str
) -> None:
    """`make run` seeds whenever a newcomer runs it: a fixed 09:00-18:00 duty roster left no
    counselor on duty for the seed's dispatches in the evening and at night in Seoul."""
    hour, minute = map(int, seoul_time.split(":"))
    # today's date in Seoul at that time (UTC+9, no daylight saving)
    at = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        hours=hour - 9, minutes=minute
    )
    monkeypatch.setattr(demo_seed, "database_now", lambda _session: at)
    district = seed(db)
    assert district is not None
    plan = district.details["district plan services"]
    assert plan["duty_shifts"] == 2 * len(demo_seed.STAFFED_DONGS)
