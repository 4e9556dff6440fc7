"""How rides end: a completed ride is an Ongi contact, a no-show of an enrolled resident a
`ride_no_show` follow-up within hours, and a cancellation late or not by the configured cut-off."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from tests.support.mobility import (
    assign,
    at,
    book,
    driver,
    eligible,
    make_current,
    seoul_day,
    vehicle,
)
from tests.support.staff import GASAN
from welfare.models import Contact, FollowUp, FollowUpEvent, OngiEnrollment
from welfare.web import get_database

RIDES = "/api/v1/mobility/rides"


def assigned_ride(
    login_as: Any, *, enrolled: str | None = None, start: datetime | None = None
) -> tuple[Any, dict[str, Any]]:
    """A ride of a Gasan resident (enrolled in Ongi at `enrolled` risk), assigned; returns
    the counselor's client and the ride."""
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    resident_id = eligible(counselor)
    if enrolled:
        response = counselor.post(
            "/api/v1/ongi/enrollments", json={"resident_id": resident_id, "risk_level": enrolled}
        )
        assert response.status_code == 201, response.get_json()
    start = start or at(seoul_day(1), 10)
    ride = book(counselor, resident_id, start)
    response = assign(supervisor, ride["id"], vehicle(supervisor), driver(supervisor), start)
    assert response.status_code == 200, response.get_json()
    return counselor, response.get_json()


def outcome(client: Any, ride_id: str, kind: str, occurred_at: datetime, **extra: Any) -> Any:
    return client.post(
        f"{RIDES}/{ride_id}/outcome",
        json={"outcome": kind, "occurred_at": occurred_at.isoformat(), **extra},
    )


def test_a_completed_ride_of_an_enrolled_resident_is_an_ongi_contact(
    app: Flask, login_as: Any
) -> None:
    _counselor, ride = assigned_ride(login_as, enrolled="high")
    outreach = login_as("outreach")
    occurred = datetime.now(UTC)
    # The window is tomorrow: reporting it done today is refused as too early.
    early = outcome(outreach, ride["id"], "completed", occurred)
    assert early.status_code == 422 and "occurred_at" in early.get_json()["errors"]
    make_current(app, ride["id"], occurred - timedelta(minutes=20))
    done = outcome(outreach, ride["id"], "completed", occurred, client_ref="done-ref-0001")
    assert done.status_code == 200, done.get_json()
    assert (done.get_json()["state"], done.get_json()["outcome_by"]) == (
        "completed",
        str(outreach.staff.id),
    )
    with get_database(app).new_session() as s:
        contacts = s.scalars(
            select(Contact).where(Contact.resident_id == uuid.UUID(ride["resident_id"]))
        ).all()
        enrollment = s.scalar(
            select(OngiEnrollment).where(
                OngiEnrollment.resident_id == uuid.UUID(ride["resident_id"])
            )
        )
    assert [(c.channel, c.outcome, c.program) for c in contacts] == [
        ("ride", "reached", "mobility")
    ]
    assert enrollment is not None and enrollment.last_success_at == occurred
    again = outcome(outreach, ride["id"], "completed", occurred, client_ref="done-ref-0001")
    assert again.status_code == 200 and again.get_json()["id"] == ride["id"]
    other = outcome(outreach, ride["id"], "no_show", occurred, client_ref="done-ref-0001")
    assert (other.status_code, other.get_json()["code"]) == (422, "idempotency_key_reused")
    closed = outcome(outreach, ride["id"], "no_show", occurred)
    assert (closed.status_code, closed.get_json()["code"]) == (409, "ride_closed")


def test_a_no_show_of_an_enrolled_resident_raises_a_follow_up_of_hours(
    app: Flask, login_as: Any
) -> None:
    counselor, ride = assigned_ride(login_as, enrolled="high")
    now = datetime.now(UTC)
    make_current(app, ride["id"], now - timedelta(minutes=15))
    outreach = login_as("outreach")
    response = outcome(outreach, ride["id"], "no_show", now, reason="카나리아부재 문 잠김")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "no_show"
    assert response.get_json()["outcome_reason"] is None  # outreach workers read no notes
    read = counselor.get(f"{RIDES}/{ride['id']}").get_json()
    assert read["outcome_reason"] == "카나리아부재 문 잠김"
    with get_database(app).new_session() as s:
        raised = s.scalars(
            select(FollowUp).where(FollowUp.subject_id == uuid.UUID(ride["id"]))
        ).all()
        assert len(raised) == 1
        followup = raised[0]
        assert (followup.reason, followup.program, followup.dong_code, followup.risk_level) == (
            "ride_no_show",
            "mobility",
            GASAN,
            "high",
        )
        assert followup.next_escalation_at is not None
        first_step = followup.next_escalation_at - followup.raised_at
        assert first_step <= timedelta(hours=2)  # hours, not days
        events = s.scalars(
            select(FollowUpEvent).where(FollowUpEvent.followup_id == followup.id)
        ).all()
        assert [e.detail["target_role"] for e in events] == ["outreach"]
        assert "카나리아부재" not in str(followup.evidence)


def test_a_no_show_of_a_resident_not_in_ongi_raises_nothing(app: Flask, login_as: Any) -> None:
    _counselor, ride = assigned_ride(login_as)
    now = datetime.now(UTC)
    make_current(app, ride["id"], now - timedelta(minutes=15))
    assert outcome(login_as("outreach"), ride["id"], "no_show", now).status_code == 200
    with get_database(app).new_session() as s:
        assert (
            s.scalars(select(FollowUp).where(FollowUp.subject_id == uuid.UUID(ride["id"]))).all()
            == []
        )


def test_a_ride_never_assigned_cannot_be_completed(login_as: Any) -> None:
    counselor = login_as("counselor")
    ride = book(counselor, eligible(counselor), at(seoul_day(1), 10))
    response = outcome(login_as("outreach"), ride["id"], "completed", datetime.now(UTC))
    assert (response.status_code, response.get_json()["code"]) == (409, "ride_not_assigned")


def test_a_cancellation_after_the_cut_off_is_a_late_cancel_and_either_frees_the_vehicle(
    login_as: Any,
) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    soon = datetime.now(UTC) + timedelta(minutes=90)  # inside the 2-hour cut-off
    later = at(seoul_day(2), 10)
    v, d = vehicle(supervisor), driver(supervisor)
    late_ride = book(counselor, eligible(counselor), soon)
    early_ride = book(counselor, eligible(counselor), later)
    assign(supervisor, early_ride["id"], v, d, later)
    now = datetime.now(UTC)
    late = outcome(counselor, late_ride["id"], "cancelled", now)
    early = outcome(counselor, early_ride["id"], "late_cancel", now)
    assert (late.get_json()["state"], early.get_json()["state"]) == ("late_cancel", "cancelled")
    # The freed interval takes another ride.
    other = book(counselor, eligible(counselor), later)
    assert assign(supervisor, other["id"], v, d, later).status_code == 200


def test_bad_outcomes_are_422_and_change_nothing(login_as: Any) -> None:
    counselor, ride = assigned_ride(login_as)
    outreach = login_as("outreach")
    future = datetime.now(UTC) + timedelta(hours=2)
    for body, field in (
        ({"outcome": "vanished", "occurred_at": future.isoformat()}, "outcome"),
        ({"outcome": "no_show", "occurred_at": future.isoformat()}, "occurred_at"),
        ({"outcome": "no_show"}, "occurred_at"),
    ):
        response = outreach.post(f"{RIDES}/{ride['id']}/outcome", json=body)
        assert response.status_code == 422, body
        assert field in response.get_json()["errors"]
    assert counselor.get(f"{RIDES}/{ride['id']}").get_json()["state"] == "assigned"
