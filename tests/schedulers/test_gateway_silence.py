"""A silent gateway: one incident naming it and its dependents, their lapses on their own clocks
grouped under it (highest risk first), one notice per team, cancelled when it speaks again."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from config.reference import load_dongs
from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import followup_queue, gateway_silence, ongi, residents, signals
from tests.support.casework import with_check_digit
from tests.support.staff import DOKSAN1, GASAN, make_staff
from welfare.database import Database
from welfare.errors import NotFound
from welfare.models import (
    Actor,
    AuditEvent,
    FollowUp,
    GatewayWatch,
    OngiEnrollment,
    OutboxMessage,
    Resident,
    Staff,
)

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday, 09:00 in Seoul
TICK = Job("followups", run_followups)
LIVE = ("open", "escalated")
DONGS = [d.code for d in load_dongs()]
HOUSEHOLDS = 6000


def tick(db: Database, at: datetime) -> dict[str, Any]:
    result = run_job(db, TICK, as_of=at)
    assert result.status == "succeeded", result
    return dict(result.counts)


@pytest.fixture
def counselor(app: Flask) -> Actor:
    return make_staff(app, "counselor", (GASAN,)).actor()


@pytest.fixture
def gateway(app: Flask) -> Staff:
    return make_staff(app, "gateway", (GASAN, DOKSAN1), display_name="스마트플러그 허브 A")


@pytest.fixture
def wired(db: Database, counselor: Actor, gateway: Staff) -> Callable[..., uuid.UUID]:
    """A resident of Gasan enrolled at `risk`, with a plug whose signal the gateway sends at
    `seen` (its last proof of life); returns the resident id."""
    counter = iter(range(1, 10_000))

    def make(risk: str = "high", seen: datetime = T0) -> uuid.UUID:
        n = next(counter)
        with db.new_session() as s:
            view = residents.register_resident(
                s,
                actor=counselor,
                name=f"주민{n}",
                rrn=with_check_digit(f"39{n % 12 + 1:02d}{n % 28 + 1:02d}2{n:05d}"),
                dong=GASAN,
                now=seen - timedelta(days=1),
            )
            ongi.enroll(
                s,
                actor=counselor,
                resident_id=view.id,
                risk_level=risk,
                now=seen - timedelta(days=1),
                enrolled_at=seen - timedelta(days=1),
            )
            signals.register_source(
                s,
                actor=counselor,
                resident_id=view.id,
                kind="sensor_activity",
                source_ref=f"plug-{n}",
                now=seen,
            )
            results = signals.ingest(
                s,
                actor=gateway.actor(),
                events=[
                    {
                        "event_id": f"e{n}",
                        "kind": "sensor_activity",
                        "source_ref": f"plug-{n}",
                        "occurred_at": seen - timedelta(minutes=1),
                    }
                ],
                now=seen,
            )
            assert [r.status for r in results] == ["accepted"]
            return view.id

    return make


def incidents(db: Database) -> list[FollowUp]:
    with db.new_session() as s:
        return list(s.scalars(select(FollowUp).where(FollowUp.reason == "gateway_silent")))


def lapses(db: Database) -> list[FollowUp]:
    with db.new_session() as s:
        return list(
            s.scalars(
                select(FollowUp).where(
                    FollowUp.reason == "contact_lapsed", FollowUp.state.in_(LIVE)
                )
            )
        )


def outbox(db: Database, kind: str) -> list[OutboxMessage]:
    with db.new_session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def test_a_gateway_that_falls_silent_raises_one_incident_naming_it_and_its_dependents(
    db: Database, wired: Callable[..., uuid.UUID], gateway: Staff
) -> None:
    wired("high")
    wired("medium")
    assert tick(db, T0 + timedelta(hours=2))["gateway_silent_raised"] == 0  # within 3 hours
    counts = tick(db, T0 + timedelta(hours=4))
    assert counts["gateway_silent_raised"] == 1
    assert tick(db, T0 + timedelta(hours=5))["gateway_silent_raised"] == 0
    [incident] = incidents(db)
    assert incident.subject_type == "gateway"
    assert incident.subject_id == gateway.id
    assert incident.dong_code is None and incident.resident_id is None
    assert incident.evidence["gateway_name"] == "스마트플러그 허브 A"
    assert incident.evidence["dependents"] == 2
    assert incident.evidence["dongs"] == sorted([GASAN, DOKSAN1])
    [notice] = outbox(db, "gateway_silent")
    assert notice.payload["incident_id"] == str(incident.id)
    assert notice.payload["dependents"] == 2
    assert notice.payload["roles"] == ["admin", "supervisor"]
    assert lapses(db) == []  # nobody's own interval has passed yet


def test_its_residents_lapses_come_on_their_own_clocks_grouped_highest_risk_first(
    app: Flask, db: Database, wired: Callable[..., uuid.UUID]
) -> None:
    high, medium, low = wired("high"), wired("medium"), wired("low")
    tick(db, T0 + timedelta(hours=4))
    [incident] = incidents(db)
    tick(db, T0 + timedelta(hours=25))  # the high-risk resident's 24 hours have passed
    assert [f.subject_id for f in lapses(db)] == [high]
    counts = tick(db, T0 + timedelta(days=8))  # and everyone's since
    assert counts["gateway_lapses_grouped"] == 2
    assert counts["raised"] == 0  # the Ongi rule found them already raised
    found = lapses(db)
    assert {f.subject_id for f in found} == {high, medium, low}
    assert {f.incident_id for f in found} == {incident.id}
    supervisor = make_staff(app, "supervisor", (GASAN,)).actor()
    with db.new_session() as s:
        page = gateway_silence.incident_followups(s, actor=supervisor, incident_id=incident.id)
    assert [i.record.subject_id for i in page.items] == [high, medium, low]


def test_grouped_lapses_are_notified_once_per_team_not_once_per_resident(
    db: Database, wired: Callable[..., uuid.UUID]
) -> None:
    for _ in range(3):
        wired("high")
    tick(db, T0 + timedelta(hours=4))
    tick(db, T0 + timedelta(hours=25))
    assert len(lapses(db)) == 3
    [team] = outbox(db, "incident_followups")
    assert team.payload["dong"] == GASAN
    assert team.payload["count"] == 3
    assert team.payload["event"] == "raised"
    step_notices = [
        m
        for m in outbox(db, "followup_step")
        if m.payload["followup_id"] in {str(f.id) for f in lapses(db)}
    ]
    assert step_notices == []
    # Escalation is batched the same way: the high-risk ladder's second rung, for all three.
    tick(db, T0 + timedelta(hours=30))
    escalated = [m for m in outbox(db, "incident_followups") if m.payload["event"] == "escalated"]
    assert [(m.payload["dong"], m.payload["step"], m.payload["count"]) for m in escalated] == [
        (GASAN, 2, 3)
    ]


def test_a_resident_last_seen_by_staff_is_not_grouped_and_is_still_raised(
    db: Database, wired: Callable[..., uuid.UUID], counselor: Actor
) -> None:
    via_gateway = wired("high")
    called = wired("high")
    with db.new_session() as s:
        ongi.log_contact(
            s,
            actor=counselor,
            resident_id=called,
            channel="phone",
            outcome="reached",
            occurred_at=T0 + timedelta(minutes=10),
            now=T0 + timedelta(minutes=10),
        )
    tick(db, T0 + timedelta(hours=4))
    [incident] = incidents(db)
    assert incident.evidence["dependents"] == 1
    tick(db, T0 + timedelta(hours=26))
    by_resident = {f.subject_id: f.incident_id for f in lapses(db)}
    assert by_resident == {via_gateway: incident.id, called: None}


def test_the_incident_is_cancelled_when_the_gateway_speaks_again(
    db: Database, wired: Callable[..., uuid.UUID], gateway: Staff
) -> None:
    wired("high")
    tick(db, T0 + timedelta(hours=4))
    wired("high", seen=T0 + timedelta(hours=5))  # a new household's plug: the gateway is back
    counts = tick(db, T0 + timedelta(hours=6))
    assert counts["gateway_silent_cancelled"] == 1
    [incident] = incidents(db)
    assert (incident.state, incident.outcome) == ("cancelled", "gateway_resumed")


def test_a_learned_rhythm_and_a_configured_one_set_the_threshold(
    app: Flask, db: Database, gateway: Staff, wired: Callable[..., uuid.UUID]
) -> None:
    # Twelve batches ten minutes apart teach a ten-minute rhythm: silent after 30 minutes.
    for k in range(12):
        wired("low", seen=T0 + timedelta(minutes=10 * k))
    last = T0 + timedelta(minutes=110)
    with db.new_session() as s:
        watch = s.get(GatewayWatch, gateway.id)
        assert watch is not None
        assert watch.batches == 12 and watch.learned_interval_seconds == 600
    assert tick(db, last + timedelta(minutes=29))["gateway_silent_raised"] == 0
    assert tick(db, last + timedelta(minutes=31))["gateway_silent_raised"] == 1
    # An admin says this gateway reports every six hours: not silent until 18 hours.
    admin = make_staff(app, "admin", ()).actor()
    with db.new_session() as s:
        view = gateway_silence.set_expected_interval(
            s, actor=admin, gateway_id=gateway.id, expected_minutes=360, now=last
        )
    assert view.silence_threshold_seconds == 18 * 3600
    counts = tick(db, last + timedelta(hours=1))
    assert counts["gateway_silent_cancelled"] == 1
    assert tick(db, last + timedelta(hours=18, minutes=1))["gateway_silent_raised"] == 1


def test_incidents_are_seen_by_admins_and_the_gateways_dongs_only(
    app: Flask, db: Database, wired: Callable[..., uuid.UUID]
) -> None:
    wired("high")
    tick(db, T0 + timedelta(hours=4))
    tick(db, T0 + timedelta(hours=25))
    [incident] = incidents(db)
    admin = make_staff(app, "admin", ()).actor()
    mine = make_staff(app, "supervisor", (DOKSAN1,)).actor()  # a dong the gateway serves
    other = make_staff(app, "supervisor", ("1154570000",)).actor()
    with db.new_session() as s:
        [seen] = gateway_silence.list_incidents(s, actor=admin).items
        assert (seen.grouped, seen.grouped_live) == (1, 1)
        [shown] = gateway_silence.list_incidents(s, actor=mine).items
        assert shown.grouped == 0  # the grouped follow-up is of Gasan, not of this dong
        queue = followup_queue.list_followups(
            s, actor=mine, now=T0 + timedelta(hours=25), reason="gateway_silent"
        )
        assert [i.record.id for i in queue.items] == [incident.id]
        assert gateway_silence.list_incidents(s, actor=other).items == []
        denied_before = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "access_denied")
        )
        with pytest.raises(NotFound):
            gateway_silence.incident_followups(s, actor=other, incident_id=incident.id)
        denied_after = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "access_denied")
        )
    assert denied_after == (denied_before or 0) + 1


def insert_silent_households(
    db: Database, gateway_id: uuid.UUID, count: int, seen: datetime
) -> dict[str, int]:
    """`count` sensor households across every dong, each last seen through the gateway at
    `seen` (bulk rows: their sealed columns are placeholders no test reads)."""
    per_dong: dict[str, int] = {}
    levels = (("high", 24), ("medium", 72), ("low", 168))
    residents_rows, enrollments = [], []
    for n in range(count):
        dong = DONGS[n % len(DONGS)]
        per_dong[dong] = per_dong.get(dong, 0) + 1
        level, hours = levels[n % 3]
        resident_id = uuid.uuid4()
        residents_rows.append(
            {
                "id": resident_id,
                "dong_code": dong,
                "birth_year": 1940,
                "sex": "female",
                "is_foreigner": False,
                "household_type": "single_elderly",
                "status": "active",
                "rrn_index": uuid.uuid4().bytes * 2,
                "created_at": seen,
                "updated_at": seen,
                "version": 1,
            }
        )
        enrollments.append(
            {
                "id": uuid.uuid4(),
                "resident_id": resident_id,
                "dong_code": dong,
                "risk_level": level,
                "interval_hours": hours,
                "status": "active",
                "enrolled_at": seen - timedelta(days=30),
                "last_success_at": seen,
                "last_success_gateway_id": gateway_id,
                "next_due_at": seen + timedelta(hours=hours),
                "updated_at": seen,
                "version": 1,
            }
        )
    with db.new_session() as s:
        s.execute(insert(Resident), residents_rows)
        s.execute(insert(OngiEnrollment), enrollments)
        s.merge(
            GatewayWatch(gateway_id=gateway_id, last_signal_at=seen, batches=1, updated_at=seen)
        )
        s.commit()
    return per_dong


def test_six_thousand_households_going_silent_at_once(
    app: Flask, db: Database, gateway: Staff
) -> None:
    per_dong = insert_silent_households(db, gateway.id, HOUSEHOLDS, T0)
    counts = tick(db, T0 + timedelta(days=8))  # past every household's interval
    assert counts["gateway_silent_raised"] == 1
    assert counts["gateway_lapses_grouped"] == HOUSEHOLDS
    assert counts["raised"] == 0
    [incident] = incidents(db)
    assert incident.evidence["dependents"] == HOUSEHOLDS
    with db.new_session() as s:
        grouped = s.scalar(
            select(func.count()).select_from(FollowUp).where(FollowUp.incident_id == incident.id)
        )
        assert grouped == HOUSEHOLDS
        teams = list(
            s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "incident_followups"))
        )
        per_resident = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "followup_step")
        )
    assert {m.payload["dong"]: m.payload["count"] for m in teams} == per_dong
    assert len(teams) == len(per_dong)  # one message per team
    assert per_resident == 1  # the incident's own step notice, nothing per resident
    assert len(outbox(db, "gateway_silent")) == 1
    # The queue still answers a page of one team's work (its time is measured in bench/).
    supervisor = make_staff(app, "supervisor", (GASAN,)).actor()
    with db.new_session() as s:
        page = followup_queue.list_followups(
            s, actor=supervisor, now=T0 + timedelta(days=8), reason="contact_lapsed", limit=50
        )
        assert len(page.items) == 50 and page.next_cursor is not None
        first = gateway_silence.incident_followups(
            s, actor=supervisor, incident_id=incident.id, limit=50
        )
        assert {i.record.risk_level for i in first.items} == {"high"}
    # A second tick at a later instant adds nothing.
    again = tick(db, T0 + timedelta(days=8, minutes=5))
    assert again["gateway_silent_raised"] == again["gateway_lapses_grouped"] == 0
