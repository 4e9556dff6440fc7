"""Elder health & hygiene visits: visits made from the enrollment's RRULE, recorded done, missed
or refused; met is an Ongi visit; a concern raises welfare_concern and may go to a health branch
with consent; a missed or unrecorded visit raises hygiene_visit_missed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from tests.support.casework import register
from tests.support.clock import Clock
from tests.support.staff import DOKSAN1
from welfare.models import FollowUp, HygieneVisit, OngiEnrollment
from welfare.web import get_database

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 2026-12-01, 10:00 in Seoul
TICK = Job("followups", run_followups)


@pytest.fixture(autouse=True)
def clock(app: Flask) -> Clock:
    return Clock(NOW).install(app)


def enroll(client: Any, rid: str, **overrides: Any) -> Any:
    body = {
        "resident_id": rid,
        "provider": "hygiene_care_provider",
        "services": ["bathing", "health_check"],
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "dtstart": NOW.isoformat(),
        **overrides,
    }
    return client.post("/api/v1/hygiene/enrollments", json=body)


def visits(client: Any) -> list[dict[str, Any]]:
    return list(client.get("/api/v1/hygiene/visits").get_json()["items"])


def test_visits_come_from_the_rrule_four_weeks_ahead_and_the_tick_extends_them(
    app: Flask, login_as: Any
) -> None:
    counselor = login_as("counselor")
    rid = register(counselor)["id"]
    enrolled = enroll(counselor, rid)
    assert enrolled.status_code == 201, enrolled.get_json()
    times = [datetime.fromisoformat(v["scheduled_at"]) for v in visits(counselor)]
    assert times == [NOW + timedelta(weeks=k) for k in range(5)]  # Tuesdays 10:00, 28 days
    run_job(get_database(app), TICK, as_of=NOW + timedelta(days=14))
    run_job(get_database(app), TICK, as_of=NOW + timedelta(days=14, minutes=1))
    later = [datetime.fromisoformat(v["scheduled_at"]) for v in visits(login_as("counselor"))]
    assert later == [NOW + timedelta(weeks=k) for k in range(7)]
    # One active enrollment per resident: the same one sent again answers it, another is refused.
    again = enroll(counselor, rid)
    assert again.status_code == 200 and again.get_json()["id"] == enrolled.get_json()["id"]
    assert len(visits(counselor)) == 7  # nothing made twice
    assert enroll(counselor, rid, rrule="FREQ=WEEKLY;BYDAY=WE").status_code == 409


def test_a_met_visit_is_an_ongi_contact_and_a_concern_raises_welfare_concern(
    app: Flask, login_as: Any
) -> None:
    counselor = login_as("counselor")
    rid = register(counselor)["id"]
    counselor.post(
        "/api/v1/ongi/enrollments",
        json={"resident_id": rid, "risk_level": "high", "enrolled_at": NOW.isoformat()},
    )
    enroll(counselor, rid)
    first = visits(counselor)[0]
    recorded = counselor.post(
        f"/api/v1/hygiene/visits/{first['id']}/record",
        json={
            "outcome": "done",
            "met": True,
            "health_concern": True,
            "observation": "다리 부종, 식사량 감소",
        },
    )
    assert recorded.status_code == 200, recorded.get_json()
    body = recorded.get_json()
    assert body["state"] == "done" and body["contact_id"] is not None
    assert body["observation"] == "다리 부종, 식사량 감소"
    db = get_database(app)
    with db.new_session() as s:
        [concern] = s.scalars(select(FollowUp).where(FollowUp.reason == "welfare_concern"))
        assert concern.subject_id == uuid.UUID(first["id"])
        assert concern.risk_level == "high" and concern.program == "hygiene_care"
        ongi = s.scalar(
            select(OngiEnrollment).where(OngiEnrollment.resident_id == concern.resident_id)
        )
        assert ongi is not None and ongi.last_success_at == NOW
    # The concern may go to a health branch, with consent (Hannae is not open yet).
    referral = counselor.post(
        f"/api/v1/residents/{rid}/external-referrals",
        json={
            "partner": "doksan_health_branch",
            "reason": "방문 건강확인 중 부종 관찰",
            "consent": {
                "given_by": "본인",
                "given_at": NOW.isoformat(),
                "scope": "health",
            },
        },
    )
    assert referral.status_code == 201, referral.get_json()
    again = counselor.post(
        f"/api/v1/hygiene/visits/{first['id']}/record", json={"outcome": "refused"}
    )
    assert again.status_code == 409


def test_a_missed_or_unrecorded_visit_raises_a_follow_up_cleared_when_recorded(
    app: Flask, login_as: Any, clock: Clock
) -> None:
    counselor = login_as("counselor")
    rid = register(counselor)["id"]
    enroll(counselor, rid)
    first, second = visits(counselor)[:2]
    db = get_database(app)
    missed = counselor.post(
        f"/api/v1/hygiene/visits/{first['id']}/record", json={"outcome": "missed"}
    )
    assert missed.status_code == 200, missed.get_json()
    counts = run_job(db, TICK, as_of=NOW + timedelta(hours=1)).counts
    assert counts["hygiene_missed_raised"] == 1
    # The second, a week later, is never recorded: missed a day after its time.
    assert (
        run_job(db, TICK, as_of=NOW + timedelta(days=7, hours=23)).counts["hygiene_missed_raised"]
        == 0
    )
    assert run_job(db, TICK, as_of=NOW + timedelta(days=8)).counts["hygiene_missed_raised"] == 1
    clock.advance(days=8, hours=1)
    late = login_as("counselor").post(
        f"/api/v1/hygiene/visits/{second['id']}/record", json={"outcome": "done", "met": True}
    )
    assert late.status_code == 200, late.get_json()
    with db.new_session() as s:
        states = {
            str(f.subject_id): (f.state, f.outcome)
            for f in s.scalars(select(FollowUp).where(FollowUp.reason == "hygiene_visit_missed"))
        }
    assert states == {
        first["id"]: ("escalated", None),  # still missed: on its ladder's second rung by now
        second["id"]: ("resolved", "visit_done"),
    }


def test_bad_enrollments_and_records_are_korean_422s(login_as: Any) -> None:
    counselor = login_as("counselor")
    rid = register(counselor)["id"]
    for overrides, field in (
        ({"rrule": "FREQ=HOURLY"}, "rrule"),
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"rrule": "FREQ=WEEKLY;UNTIL=20200101T000000Z"}, "rrule"),
        ({"provider": "welfare_foundation"}, "provider"),
        ({"services": ["massage"]}, "services"),
        ({"dtstart": "0001-01-01T00:00:00+00:00"}, "dtstart"),  # would schedule centuries
        ({"dtstart": "9999-12-31T00:00:00+00:00"}, "dtstart"),  # would overflow in Seoul time
        ({"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"}, "rrule"),  # never fires
    ):
        response = enroll(counselor, rid, **overrides)
        assert response.status_code == 422, overrides
        assert response.get_json()["errors"][field][0][0] >= "\uac00", overrides
    enroll(counselor, rid)
    future = visits(counselor)[1]
    early = counselor.post(
        f"/api/v1/hygiene/visits/{future['id']}/record", json={"outcome": "done"}
    )
    assert early.status_code == 422
    first = visits(counselor)[0]
    no_note = counselor.post(
        f"/api/v1/hygiene/visits/{first['id']}/record",
        json={"outcome": "done", "met": True, "health_concern": True},
    )
    assert no_note.status_code == 422
    assert "observation" in no_note.get_json()["errors"]


def test_ending_removes_the_visits_not_yet_due_and_other_dongs_see_nothing(
    app: Flask, login_as: Any
) -> None:
    counselor = login_as("counselor")
    rid = register(counselor)["id"]
    enrollment = enroll(counselor, rid).get_json()
    elsewhere = login_as("counselor", (DOKSAN1,))
    assert elsewhere.get(f"/api/v1/hygiene/enrollments/{enrollment['id']}").status_code == 404
    assert visits(elsewhere) == []
    ended = counselor.post(f"/api/v1/hygiene/enrollments/{enrollment['id']}/end")
    assert ended.status_code == 200 and ended.get_json()["status"] == "ended"
    with get_database(app).new_session() as s:
        left = s.scalars(select(HygieneVisit.scheduled_at)).all()
    assert left == [NOW]  # today's visit stays; the ones after are gone
