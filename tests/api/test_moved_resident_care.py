"""A resident who moves dong takes their open care requests, and the overdue alarms about them,
to the new team; a closed request stays with the team that handled it. A follow-up is always
scoped like its subject: the old team is refused both (404 and a denial record)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from tests.support.casework import care_request, register
from tests.support.staff import DOKSAN1, GASAN
from welfare.models import AuditEvent, FollowUp
from welfare.web import get_database

REASON = "care_response_overdue"


def denials(app: Flask) -> int:
    with get_database(app).new_session() as s:
        count = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "access_denied", AuditEvent.outcome == "denied")
        )
        return int(count or 0)


def overdue_followup(app: Flask, request_id: str) -> str:
    with get_database(app).new_session() as s:
        found = s.scalars(
            select(FollowUp.id).where(
                FollowUp.subject_id == uuid.UUID(request_id), FollowUp.reason == REASON
            )
        ).one()
        return str(found)


def linked_request(client: FlaskClient, resident_id: str) -> str:
    received = datetime.now(UTC) - timedelta(hours=2)  # an emergency: an hour overdue
    response = care_request(client, resident_id=resident_id, received_at=received.isoformat())
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def move(client: FlaskClient, resident_id: str, dong: str) -> None:
    current = client.get(f"/api/v1/residents/{resident_id}")
    moved = client.patch(
        f"/api/v1/residents/{resident_id}",
        json={"dong": dong},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.get_json()


def test_an_open_request_and_its_overdue_alarm_move_with_the_resident_to_the_new_team(
    app: Flask, login_as: Any
) -> None:
    old_team = login_as("counselor", (GASAN,))
    new_team = login_as("counselor", (DOKSAN1,))
    mover = login_as("counselor", (GASAN, DOKSAN1))
    rid = str(register(old_team, dong=GASAN)["id"])
    request_id = linked_request(old_team, rid)
    handed = old_team.post(
        f"/api/v1/care-requests/{request_id}/handover",
        json={"to_staff_id": str(old_team.staff.id)},
    )
    assert handed.status_code == 200, handed.get_json()
    run_job(get_database(app), Job("followups", run_followups), as_of=datetime.now(UTC))
    followup_id = overdue_followup(app, request_id)
    assert old_team.get(f"/api/v1/followups/{followup_id}").status_code == 200

    move(mover, rid, DOKSAN1)

    before = denials(app)
    assert old_team.get(f"/api/v1/care-requests/{request_id}").status_code == 404
    assert old_team.get(f"/api/v1/followups/{followup_id}").status_code == 404
    assert denials(app) == before + 2

    opened = new_team.get(f"/api/v1/care-requests/{request_id}")
    assert opened.status_code == 200, opened.get_json()
    body = opened.get_json()
    assert body["dong"] == DOKSAN1
    assert body["assignee_id"] is None  # the old team's member can no longer open it
    moved = body["events"][-1]
    assert (moved["kind"], moved["actor_staff_id"]) == ("moved", str(mover.staff.id))
    assert moved["detail"] == {
        "why": "resident_moved",
        "from_dong": GASAN,
        "to_dong": DOKSAN1,
        "released_staff_id": str(old_team.staff.id),
    }
    alarm = new_team.get(f"/api/v1/followups/{followup_id}")
    assert alarm.status_code == 200
    assert alarm.get_json()["reason"] == REASON
    queue = new_team.get("/api/v1/followups", query_string={"reason": REASON}).get_json()
    assert followup_id in {f["id"] for f in queue["items"]}

    answered = new_team.post(f"/api/v1/care-requests/{request_id}/respond", json={"note": "응대"})
    assert answered.status_code == 200, answered.get_json()
    assert new_team.get(f"/api/v1/followups/{followup_id}").get_json()["state"] == "resolved"


def test_a_closed_request_and_its_alarm_stay_with_the_team_that_handled_it(
    app: Flask, login_as: Any
) -> None:
    old_team = login_as("counselor", (GASAN,))
    new_team = login_as("counselor", (DOKSAN1,))
    mover = login_as("counselor", (GASAN, DOKSAN1))
    rid = str(register(old_team, dong=GASAN)["id"])
    request_id = linked_request(old_team, rid)
    run_job(get_database(app), Job("followups", run_followups), as_of=datetime.now(UTC))
    followup_id = overdue_followup(app, request_id)
    closed = old_team.post(
        f"/api/v1/care-requests/{request_id}/outcome", json={"outcome": "handled"}
    )
    assert closed.status_code == 200, closed.get_json()

    move(mover, rid, DOKSAN1)

    kept = old_team.get(f"/api/v1/care-requests/{request_id}")
    assert kept.status_code == 200
    assert kept.get_json()["dong"] == GASAN
    assert "moved" not in {e["kind"] for e in kept.get_json()["events"]}
    assert old_team.get(f"/api/v1/followups/{followup_id}").status_code == 200
    before = denials(app)
    assert new_team.get(f"/api/v1/care-requests/{request_id}").status_code == 404
    assert new_team.get(f"/api/v1/followups/{followup_id}").status_code == 404
    assert denials(app) == before + 2
