"""Counselor dispatch: a request with its urgency's deadline, assigned to a counselor on duty,
requested → assigned → en route → on site → done; meeting the person is an Ongi visit; missing
the deadline raises `dispatch_overdue`, resolved on arrival; an address before registration is
sealed under the dispatch's own key until the resident is linked."""

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
from welfare.models import Contact, FollowUp, Staff
from welfare.web import get_database

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Seoul
TICK = Job("followups", run_followups)


@pytest.fixture(autouse=True)
def clock(app: Flask) -> Clock:
    return Clock(NOW).install(app)


@pytest.fixture
def on_duty(app: Flask, login_as: Any) -> Staff:
    """A counselor of Gasan on duty for eight hours from now."""
    counselor = make_staff(app, "counselor", (GASAN,))
    shift = login_as("supervisor").post(
        "/api/v1/duty-shifts",
        json={
            "dong": GASAN,
            "staff_id": str(counselor.id),
            "starts_at": NOW.isoformat(),
            "ends_at": (NOW + timedelta(hours=8)).isoformat(),
        },
    )
    assert shift.status_code == 201, shift.get_json()
    return counselor


def ask(client: Any, **overrides: Any) -> Any:
    body = {
        "dong": GASAN,
        "urgency": "urgent",
        "requester_kind": "dong_center",
        "summary": "이웃이 며칠째 인기척이 없다고 신고",
        **overrides,
    }
    return client.post("/api/v1/dispatches", json=body)


def test_a_visit_from_request_to_done_is_an_ongi_contact_and_opens_a_case(
    app: Flask, login_as: Any, on_duty: Staff
) -> None:
    desk = login_as("counselor")
    rid = register(desk)["id"]
    asked = ask(desk, resident_id=rid)
    assert asked.status_code == 201, asked.get_json()
    body = asked.get_json()
    assert body["state"] == "requested"
    assert datetime.fromisoformat(body["deadline_at"]) == NOW + timedelta(hours=4)
    path = f"/api/v1/dispatches/{body['id']}"
    assigned = desk.post(f"{path}/assign", json={})
    assert assigned.status_code == 200, assigned.get_json()
    assert assigned.get_json()["assignee_id"] == str(on_duty.id)
    goer = log_in(app, on_duty)
    assert goer.post(f"{path}/moves", json={"to": "on_site"}).status_code == 409  # not en route
    assert goer.post(f"{path}/moves", json={"to": "en_route"}).status_code == 200
    assert goer.post(f"{path}/moves", json={"to": "on_site"}).status_code == 200
    done = goer.post(f"{path}/done", json={"outcome": "case_opened", "note": "식사 거름"})
    assert done.status_code == 200, done.get_json()
    finished = done.get_json()
    assert (finished["state"], finished["outcome"]) == ("done", "case_opened")
    assert finished["case_id"] is not None and finished["contact_id"] is not None
    with get_database(app).new_session() as s:
        contact = s.get(Contact, uuid.UUID(finished["contact_id"]))
        assert contact is not None
        assert (contact.channel, contact.outcome, contact.program) == (
            "visit",
            "reached",
            "outreach_dispatch",
        )
    case = desk.get(f"/api/v1/cases/{finished['case_id']}").get_json()
    assert case["program"] == "outreach_dispatch"


def test_only_a_counselor_on_duty_in_the_dong_is_assigned(
    app: Flask, login_as: Any, on_duty: Staff
) -> None:
    desk = login_as("counselor")
    sent = ask(desk, address="서울 금천구 시흥대로 1").get_json()
    path = f"/api/v1/dispatches/{sent['id']}/assign"
    off_duty = make_staff(app, "counselor", (GASAN,))
    refused = desk.post(path, json={"staff_id": str(off_duty.id)})
    assert refused.status_code == 422
    assert refused.get_json()["errors"]["staff_id"][0].startswith("지금 이 동의 당번")
    assert desk.post(path, json={"staff_id": str(on_duty.id)}).status_code == 200
    late = ask(desk, address="서울 금천구 시흥대로 2").get_json()
    nobody = login_as("counselor", (DOKSAN1,))
    elsewhere = ask(nobody, dong=DOKSAN1, address="독산로 1").get_json()
    empty = nobody.post(f"/api/v1/dispatches/{elsewhere['id']}/assign", json={})
    assert empty.status_code == 422  # nobody on duty in Doksan 1
    assert desk.get(f"/api/v1/dispatches/{elsewhere['id']}").status_code == 404
    assert late["state"] == "requested"


def test_a_missed_deadline_raises_a_follow_up_resolved_on_arrival(
    app: Flask, login_as: Any, on_duty: Staff, clock: Clock
) -> None:
    desk = login_as("counselor")
    sent = ask(desk, urgency="emergency", address="서울 금천구 가산로 9").get_json()
    db = get_database(app)
    assert (
        run_job(db, TICK, as_of=NOW + timedelta(minutes=59)).counts["dispatch_overdue_raised"] == 0
    )
    assert run_job(db, TICK, as_of=NOW + timedelta(hours=1)).counts["dispatch_overdue_raised"] == 1
    assert (
        run_job(db, TICK, as_of=NOW + timedelta(hours=1, minutes=5)).counts[
            "dispatch_overdue_raised"
        ]
        == 0
    )
    path = f"/api/v1/dispatches/{sent['id']}"
    clock.advance(hours=1, minutes=10)
    desk = login_as("counselor")  # a new session: the first one has been idle too long
    goer = log_in(app, on_duty)
    assert desk.post(f"{path}/assign", json={}).status_code == 200
    goer.post(f"{path}/moves", json={"to": "en_route"})
    arrived = goer.post(f"{path}/moves", json={"to": "on_site"})
    assert arrived.status_code == 200
    with db.new_session() as s:
        [followup] = s.scalars(select(FollowUp).where(FollowUp.reason == "dispatch_overdue"))
        assert (followup.state, followup.outcome) == ("resolved", "arrived")
        assert followup.dong_code == GASAN and followup.resident_id is None


def test_an_address_before_registration_is_linked_on_site_and_nobody_found_is_no_contact(
    app: Flask, login_as: Any, on_duty: Staff
) -> None:
    desk = login_as("counselor")
    sent = ask(desk, address="서울 금천구 벚꽃로 3, 2층").get_json()
    assert sent["address"] == "서울 금천구 벚꽃로 3, 2층" and sent["resident_id"] is None
    path = f"/api/v1/dispatches/{sent['id']}"
    desk.post(f"{path}/assign", json={})
    goer = log_in(app, on_duty)
    goer.post(f"{path}/moves", json={"to": "en_route"})
    goer.post(f"{path}/moves", json={"to": "on_site"})
    rid = register(desk)["id"]
    done = goer.post(f"{path}/done", json={"outcome": "no_need", "resident_id": rid})
    assert done.status_code == 200, done.get_json()
    linked = done.get_json()
    assert linked["resident_id"] == rid and linked["contact_id"] is not None
    assert desk.get(path).get_json()["address"] == "서울 금천구 벚꽃로 3, 2층"
    other = ask(desk, address="서울 금천구 벚꽃로 5").get_json()
    other_path = f"/api/v1/dispatches/{other['id']}"
    desk.post(f"{other_path}/assign", json={})
    gone = goer.post(f"{other_path}/done", json={"outcome": "not_found"})
    assert gone.status_code == 200 and gone.get_json()["contact_id"] is None


def test_bad_requests_are_korean_422s_and_nothing_is_written(login_as: Any) -> None:
    desk = login_as("counselor")
    for overrides, field in (
        ({}, "address"),  # neither a resident nor an address
        ({"address": "x", "requester_kind": "partner"}, "requester_partner"),
        ({"address": "x", "requester_partner": "welfare_foundation"}, "requester_partner"),
        ({"address": "x", "dong": DOKSAN1}, "dong"),
    ):
        response = ask(desk, **overrides)
        assert response.status_code == 422, overrides
        assert response.get_json()["errors"][field][0][0] >= "\uac00", overrides
    assert desk.get("/api/v1/dispatches").get_json()["items"] == []
    partner = ask(
        desk, address="x", requester_kind="partner", requester_partner="welfare_foundation"
    )
    assert partner.status_code == 201


def test_a_retried_request_is_taken_once(login_as: Any) -> None:
    desk = login_as("counselor")
    first = ask(desk, address="가산로 1", client_ref="dispatch-0001")
    again = ask(desk, address="가산로 1", client_ref="dispatch-0001")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    assert ask(desk, address="가산로 2", client_ref="dispatch-0001").status_code == 422
