"""A resident's whole picture: the record lists what every program is doing for them now, and
their Ongi enrollments can be listed by resident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask

from tests.support.casework import care_request, open_case, raise_lapse, register
from tests.support.staff import DOKSAN1, GASAN


def test_the_resident_record_shows_enrollment_cases_follow_ups_and_care_requests(
    app: Flask, login_as: Any
) -> None:
    counselor = login_as("counselor")
    fid = raise_lapse(app, counselor)
    rid = counselor.get(f"/api/v1/followups/{fid}").get_json()["resident_id"]
    case = open_case(counselor, rid, "care_center").get_json()
    request = care_request(counselor, resident_id=rid).get_json()
    body = counselor.get(f"/api/v1/residents/{rid}").get_json()
    programs = body["programs"]
    assert programs["ongi_enrollment"]["risk_level"] == "high"
    assert programs["ongi_enrollment"]["status"] == "active"
    # the care center case opened here, and the Ongi case the enrollment opened
    assert case["id"] in [c["id"] for c in programs["open_cases"]]
    assert sorted(c["program"] for c in programs["open_cases"]) == ["care_center", "ongi"]
    assert [(f["id"], f["reason"]) for f in programs["live_followups"]] == [(fid, "contact_lapsed")]
    assert [r["id"] for r in programs["open_care_requests"]] == [request["id"]]
    assert "summary" not in str(programs["open_care_requests"])  # sealed fields stay sealed


def test_a_resident_with_nothing_going_on_has_an_empty_picture(login_as: Any) -> None:
    counselor = login_as("counselor")
    rid = register(counselor)["id"]
    assert counselor.get(f"/api/v1/residents/{rid}").get_json()["programs"] == {
        "ongi_enrollment": None,
        "open_cases": [],
        "live_followups": [],
        "open_care_requests": [],
    }


def test_enrollments_list_by_resident_and_by_status_in_scope(login_as: Any) -> None:
    counselor = login_as("counselor", (GASAN,))
    rid = register(counselor)["id"]
    enrolled = counselor.post(
        "/api/v1/ongi/enrollments",
        json={
            "resident_id": rid,
            "risk_level": "medium",
            "enrolled_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        },
    )
    assert enrolled.status_code == 201
    mine = counselor.get("/api/v1/ongi/enrollments", query_string={"resident_id": rid})
    assert [e["id"] for e in mine.get_json()["items"]] == [enrolled.get_json()["id"]]
    active = counselor.get("/api/v1/ongi/enrollments", query_string={"status": "active"})
    assert enrolled.get_json()["id"] in [e["id"] for e in active.get_json()["items"]]
    outsider = login_as("counselor", (DOKSAN1,))
    theirs = outsider.get("/api/v1/ongi/enrollments", query_string={"resident_id": rid})
    assert (theirs.status_code, theirs.get_json()["items"]) == (200, [])
    assert outsider.get("/api/v1/ongi/enrollments").get_json()["items"] == []
