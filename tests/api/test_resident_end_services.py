"""The district plan's other services follow the resident: a resident who dies, moves away or is
erased gets no more hygiene visits, no dispatched counselor and no open partner referral (each
ended with a history entry naming why, and the follow-ups they raised cancelled at once); a
resident who moves within the district takes open dispatches and referrals to the new dong's
team, releasing an assignee who does not work there."""

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
from tests.support.staff import DOKSAN1, GASAN, log_in, make_staff
from welfare.models import (
    Dispatch,
    DispatchEvent,
    ExternalReferral,
    FollowUp,
    HygieneVisit,
    Staff,
)
from welfare.web import get_database

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Seoul
TICK = Job("followups", run_followups)


@pytest.fixture(autouse=True)
def clock(app: Flask) -> Clock:
    return Clock(NOW).install(app)


def on_duty(app: Flask, supervisor: Any, dong: str) -> Staff:
    counselor = make_staff(app, "counselor", (dong,))
    shift = supervisor.post(
        "/api/v1/duty-shifts",
        json={
            "dong": dong,
            "staff_id": str(counselor.id),
            "starts_at": NOW.isoformat(),
            "ends_at": (NOW + timedelta(hours=8)).isoformat(),
        },
    )
    assert shift.status_code == 201, shift.get_json()
    return counselor


def services_for(client: Any, rid: str, clock: Clock) -> dict[str, Any]:
    """A hygiene enrollment, an assigned dispatch and a referral waiting for its answer (a
    minute apart, as a counselor's steps are)."""
    enrolled = client.post(
        "/api/v1/hygiene/enrollments",
        json={
            "resident_id": rid,
            "provider": "hygiene_care_provider",
            "services": ["bathing"],
            "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "dtstart": NOW.isoformat(),
        },
    )
    assert enrolled.status_code == 201, enrolled.get_json()
    asked = client.post(
        "/api/v1/dispatches",
        json={
            "dong": GASAN,
            "urgency": "urgent",
            "requester_kind": "dong_center",
            "summary": "이웃 신고",
            "resident_id": rid,
        },
    )
    assert asked.status_code == 201, asked.get_json()
    clock.advance(minutes=1)
    assigned = client.post(f"/api/v1/dispatches/{asked.get_json()['id']}/assign", json={})
    assert assigned.status_code == 200, assigned.get_json()
    clock.advance(minutes=1)
    referred = client.post(
        f"/api/v1/residents/{rid}/external-referrals",
        json={
            "partner": "welfare_foundation",
            "reason": "긴급 생계비 지원 연계",
            "consent": {
                "given_by": "본인",
                "given_at": (NOW - timedelta(hours=1)).isoformat(),
                "scope": "contact",
            },
        },
    )
    assert referred.status_code == 201, referred.get_json()
    return {
        "enrollment": enrolled.get_json(),
        "dispatch": assigned.get_json(),
        "referral": referred.get_json(),
    }


def visit_states(app: Flask, rid: str) -> list[str]:
    with get_database(app).new_session() as s:
        return [
            v.state
            for v in s.scalars(
                select(HygieneVisit)
                .where(HygieneVisit.resident_id == uuid.UUID(rid))
                .order_by(HygieneVisit.scheduled_at)
            )
        ]


def live_follow_ups(app: Flask, reason: str) -> list[FollowUp]:
    with get_database(app).new_session() as s:
        return list(
            s.scalars(
                select(FollowUp).where(
                    FollowUp.reason == reason, FollowUp.state.in_(("open", "escalated"))
                )
            )
        )


def test_the_history_of_a_dispatch_and_a_referral_names_each_step(
    app: Flask, login_as: Any, clock: Clock
) -> None:
    supervisor = login_as("supervisor")
    counselor = login_as("counselor")
    goer = on_duty(app, supervisor, GASAN)
    rid = register(counselor)["id"]
    made = services_for(counselor, rid, clock)
    dispatch = made["dispatch"]
    assert [e["kind"] for e in dispatch["events"]] == ["requested", "assigned"]
    assert dispatch["events"][1]["detail"] == {"state": "assigned", "staff_id": str(goer.id)}
    path = f"/api/v1/dispatches/{dispatch['id']}"
    field = log_in(app, goer)
    clock.advance(minutes=1)
    assert field.post(f"{path}/moves", json={"to": "en_route"}).status_code == 200
    clock.advance(minutes=1)
    assert field.post(f"{path}/moves", json={"to": "on_site"}).status_code == 200
    clock.advance(minutes=1)
    done = field.post(f"{path}/done", json={"outcome": "no_need"}).get_json()
    assert [e["kind"] for e in done["events"]] == [
        "requested",
        "assigned",
        "en_route",
        "on_site",
        "done",
    ]
    assert done["events"][-1]["actor_staff_id"] == str(goer.id)
    listed = counselor.get("/api/v1/dispatches").get_json()["items"]
    assert all("events" not in item for item in listed)  # no history in a list
    ref = f"/api/v1/external-referrals/{made['referral']['id']}"
    assert counselor.post(f"{ref}/answer", json={"answer": "accepted"}).status_code == 200
    clock.advance(minutes=1)
    completed = counselor.post(f"{ref}/complete", json={}).get_json()
    assert [e["kind"] for e in completed["events"]] == ["sent", "accepted", "completed"]
    # No personal data in any history entry: codes, states and staff ids only.
    text = str(completed["events"]) + str(done["events"])
    assert "이순자" not in text and "이웃 신고" not in text and "생계비" not in text


@pytest.mark.parametrize("status", ["deceased", "moved_out"])
def test_a_resident_who_dies_or_moves_away_gets_no_visit_dispatch_or_referral(
    app: Flask, login_as: Any, clock: Clock, status: str
) -> None:
    supervisor = login_as("supervisor")
    counselor = login_as("counselor")
    on_duty(app, supervisor, GASAN)
    rid = register(counselor)["id"]
    made = services_for(counselor, rid, clock)
    # The first visit is missed and chased; the dispatch is overdue and chased.
    first = counselor.get("/api/v1/hygiene/visits").get_json()["items"][0]
    assert (
        counselor.post(
            f"/api/v1/hygiene/visits/{first['id']}/record", json={"outcome": "missed"}
        ).status_code
        == 200
    )
    counts = run_job(get_database(app), TICK, as_of=NOW + timedelta(hours=5)).counts
    assert counts["hygiene_missed_raised"] == 1 and counts["dispatch_overdue_raised"] == 1
    clock.advance(minutes=1)
    changed = counselor.post(
        f"/api/v1/residents/{rid}/status", json={"status": status}, headers={"If-Match": '"v1"'}
    )
    assert changed.status_code == 200, changed.get_json()
    why = f"resident_{status}"

    enrollment = counselor.get(f"/api/v1/hygiene/enrollments/{made['enrollment']['id']}")
    assert enrollment.get_json()["status"] == "ended"
    # The missed visit stays missed (no longer chased); the ones to come never happen.
    assert visit_states(app, rid) == ["missed"]
    dispatch = counselor.get(f"/api/v1/dispatches/{made['dispatch']['id']}").get_json()
    assert dispatch["state"] == "cancelled"
    assert dispatch["events"][-1]["kind"] == "cancelled"
    assert dispatch["events"][-1]["detail"]["why"] == why
    referral = counselor.get(f"/api/v1/external-referrals/{made['referral']['id']}").get_json()
    assert referral["state"] == "withdrawn"
    assert referral["events"][-1]["detail"] == {
        "state": "withdrawn",
        "why": why,
        "from_state": "sent",
    }
    # Their follow-ups are cancelled at once, and the tick raises none again.
    for reason in ("hygiene_visit_missed", "dispatch_overdue", "partner_unanswered"):
        assert live_follow_ups(app, reason) == []
    later = run_job(get_database(app), TICK, as_of=NOW + timedelta(days=10)).counts
    assert later["hygiene_missed_raised"] == 0
    assert later["dispatch_overdue_raised"] == 0
    assert later["partner_unanswered_raised"] == 0


def test_an_erased_resident_ends_every_service_and_the_history_still_reads(
    app: Flask, login_as: Any, clock: Clock
) -> None:
    supervisor = login_as("supervisor")
    counselor = login_as("counselor")
    on_duty(app, supervisor, GASAN)
    rid = register(counselor)["id"]
    made = services_for(counselor, rid, clock)
    clock.advance(minutes=1)
    erased = supervisor.post(f"/api/v1/residents/{rid}/erasure", json={"reason": "파기 요청"})
    assert erased.status_code in (200, 204), erased.get_json()
    # The visit due minutes ago is cancelled, unrecorded; the ones to come never happen.
    assert visit_states(app, rid) == ["cancelled"]
    # An erased resident's rows answer 410 through the API; the rows themselves ended.
    assert supervisor.get(f"/api/v1/dispatches/{made['dispatch']['id']}").status_code == 410
    with get_database(app).new_session() as s:
        dispatch = s.get(Dispatch, uuid.UUID(made["dispatch"]["id"]))
        referral = s.get(ExternalReferral, uuid.UUID(made["referral"]["id"]))
        assert dispatch is not None and referral is not None
        assert (dispatch.state, referral.state) == ("cancelled", "withdrawn")
        cancelled = s.scalars(
            select(DispatchEvent).where(
                DispatchEvent.dispatch_id == dispatch.id, DispatchEvent.kind == "cancelled"
            )
        ).one()
        assert cancelled.detail["why"] == "resident_erased"


def test_a_move_within_the_district_takes_open_dispatches_and_referrals_along(
    app: Flask, login_as: Any, clock: Clock
) -> None:
    supervisor = login_as("supervisor", (GASAN, DOKSAN1))
    counselor = login_as("counselor", (GASAN, DOKSAN1))
    gasan_only = login_as("counselor", (GASAN,))
    goer = on_duty(app, supervisor, GASAN)  # works Gasan only
    rid = register(counselor)["id"]
    made = services_for(counselor, rid, clock)
    assert made["dispatch"]["assignee_id"] == str(goer.id)
    clock.advance(minutes=1)
    moved = counselor.patch(
        f"/api/v1/residents/{rid}", json={"dong": DOKSAN1}, headers={"If-Match": '"v1"'}
    )
    assert moved.status_code == 200, moved.get_json()
    dispatch = counselor.get(f"/api/v1/dispatches/{made['dispatch']['id']}").get_json()
    # Its assignee does not work Doksan 1: released, and it waits for Doksan 1's duty.
    assert (dispatch["dong"], dispatch["state"], dispatch["assignee_id"]) == (
        DOKSAN1,
        "requested",
        None,
    )
    assert dispatch["events"][-1]["kind"] == "moved"
    assert dispatch["events"][-1]["detail"]["released_staff_id"] == str(goer.id)
    doksan_goer = on_duty(app, supervisor, DOKSAN1)
    again = counselor.post(f"/api/v1/dispatches/{dispatch['id']}/assign", json={})
    assert again.get_json()["assignee_id"] == str(doksan_goer.id)
    referral = counselor.get(f"/api/v1/external-referrals/{made['referral']['id']}").get_json()
    assert referral["dong"] == DOKSAN1 and referral["events"][-1]["kind"] == "moved"
    enrollment = counselor.get(f"/api/v1/hygiene/enrollments/{made['enrollment']['id']}")
    assert enrollment.get_json()["dong"] == DOKSAN1
    visits = counselor.get("/api/v1/hygiene/visits").get_json()["items"]
    assert {v["dong"] for v in visits} == {DOKSAN1}
    # Gasan's staff no longer see any of it.
    assert gasan_only.get(f"/api/v1/dispatches/{dispatch['id']}").status_code == 404
    assert gasan_only.get(f"/api/v1/external-referrals/{referral['id']}").status_code == 404
    assert gasan_only.get("/api/v1/hygiene/visits").get_json()["items"] == []
