"""An Ongi enrollment and the resident's Ongi case agree: enrolling opens (or links) the case,
closing the case ends the enrollment with the reason, and ending the enrollment is written into
the case's history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from tests.support.casework import open_case, raise_lapse, register
from welfare.database import Database
from welfare.models import CaseEvent


def enroll(client: Any, resident_id: str) -> Any:
    response = client.post(
        "/api/v1/ongi/enrollments",
        json={
            "resident_id": resident_id,
            "risk_level": "medium",
            "enrolled_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        },
    )
    assert response.status_code == 201, response.get_json()
    return response


def ongi_cases(client: Any, resident_id: str) -> list[dict[str, Any]]:
    items = client.get(f"/api/v1/residents/{resident_id}/cases").get_json()["items"]
    return [c for c in items if c["program"] == "ongi"]


def history(db: Database, case_id: str) -> list[tuple[str, dict[str, Any]]]:
    with db.new_session() as s:
        rows = s.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == uuid.UUID(case_id))
            .order_by(CaseEvent.at, CaseEvent.id)
        ).all()
        return [(e.kind, e.detail) for e in rows]


def test_enrolling_opens_the_ongi_case(login_as: Any, db: Database) -> None:
    counselor = login_as("counselor")
    rid = register(counselor)["id"]
    enrollment = enroll(counselor, rid).get_json()
    (case,) = ongi_cases(counselor, rid)
    assert case["status"] == "intake" and case["closed_at"] is None
    assert (
        "enrolled",
        {"enrollment_id": enrollment["id"], "risk_level": "medium"},
    ) in history(db, case["id"])


def test_enrolling_links_an_open_ongi_case_instead_of_opening_another(
    login_as: Any, db: Database
) -> None:
    counselor = login_as("counselor")
    rid = register(counselor)["id"]
    opened = open_case(counselor, rid, "ongi").get_json()
    enroll(counselor, rid)
    assert [c["id"] for c in ongi_cases(counselor, rid)] == [opened["id"]]
    assert sorted(k for k, _ in history(db, opened["id"])) == ["enrolled", "opened"]


def test_closing_the_ongi_case_ends_the_enrollment_and_its_lapse(
    app: Flask, login_as: Any, db: Database
) -> None:
    counselor = login_as("counselor")
    supervisor = login_as("supervisor")
    fid = raise_lapse(app, counselor)
    rid = counselor.get(f"/api/v1/followups/{fid}").get_json()["resident_id"]
    (case,) = ongi_cases(counselor, rid)
    url = f"/api/v1/cases/{case['id']}"
    assert counselor.post(url + "/closure-request", json={"note": "자녀와 동거"}).status_code == 200
    assert supervisor.post(url + "/closure-decision", json={"approve": True}).status_code == 200
    enrollments = counselor.get("/api/v1/ongi/enrollments", query_string={"resident_id": rid})
    (ended,) = enrollments.get_json()["items"]
    assert ended["status"] == "ended" and ended["next_due_at"] is None
    followup = counselor.get(f"/api/v1/followups/{fid}").get_json()
    assert (followup["state"], followup["outcome"]) == ("cancelled", "case_closed")
    events = history(db, case["id"])
    assert {"closure_approved", "enrollment_ended"} <= {k for k, _ in events}
    assert ("enrollment_ended", {"enrollment_id": ended["id"], "why": "case_closed"}) in events


def test_ending_or_pausing_the_enrollment_is_written_into_the_case(
    login_as: Any, db: Database
) -> None:
    counselor = login_as("counselor")
    rid = register(counselor)["id"]
    created = enroll(counselor, rid)
    url = f"/api/v1/ongi/enrollments/{created.get_json()['id']}"
    paused = counselor.patch(
        url, json={"status": "paused"}, headers={"If-Match": created.headers["ETag"]}
    )
    ended = counselor.patch(
        url, json={"status": "ended"}, headers={"If-Match": paused.headers["ETag"]}
    )
    assert ended.status_code == 200
    (case,) = ongi_cases(counselor, rid)
    kinds = [k for k, _ in history(db, case["id"])]
    assert kinds[-2:] == ["enrollment_paused", "enrollment_ended"]
