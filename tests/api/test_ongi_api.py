"""Ongi over HTTP: enrollments, contacts (idempotent by client_ref), signals, the queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from tests.support.casework import with_check_digit
from tests.support.clock import Clock
from tests.support.staff import DOKSAN1, GASAN
from welfare.web import get_database

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock(app: Flask) -> Clock:
    return Clock(NOW).install(app)


@pytest.fixture
def counselor(login_as: Any, clock: Clock) -> Any:
    return login_as("counselor")


def resident(client: Any, rrn: str = "400101-1234567") -> str:
    created = client.post("/api/v1/residents", json={"name": "이순자", "rrn": rrn, "dong": GASAN})
    assert created.status_code == 201, created.get_json()
    return str(created.get_json()["id"])


def enroll(client: Any, resident_id: str, risk: str = "high", **extra: Any) -> Any:
    return client.post(
        "/api/v1/ongi/enrollments", json={"resident_id": resident_id, "risk_level": risk, **extra}
    )


def tick(app: Flask, at: datetime) -> dict[str, Any]:
    result = run_job(get_database(app), Job("followups", run_followups), as_of=at)
    assert result.status == "succeeded"
    return result.counts


def test_an_enrollment_sets_the_interval_and_first_due_time(counselor: Any) -> None:
    response = enroll(counselor, resident(counselor), "medium")
    assert response.status_code == 201
    body = response.get_json()
    assert body["interval_hours"] == 72
    assert body["status"] == "active"
    assert body["last_success_at"] is None
    assert datetime.fromisoformat(body["next_due_at"]) == NOW + timedelta(hours=72)


def test_a_resident_has_at_most_one_active_enrollment(counselor: Any) -> None:
    rid = resident(counselor)
    assert enroll(counselor, rid).status_code == 201
    again = enroll(counselor, rid, "low")
    assert again.status_code == 409
    assert again.get_json()["code"] == "already_enrolled"


def test_an_unknown_risk_level_or_a_future_enrollment_is_refused(counselor: Any) -> None:
    rid = resident(counselor)
    assert enroll(counselor, rid, "extreme").status_code == 422
    future = enroll(counselor, rid, enrolled_at=(NOW + timedelta(days=1)).isoformat())
    assert future.status_code == 422
    assert "enrolled_at" in future.get_json()["errors"]


def test_pause_resume_and_end_follow_their_rules(counselor: Any) -> None:
    created = enroll(counselor, resident(counselor))
    url = created.headers["Location"]
    paused = counselor.patch(
        url, json={"status": "paused"}, headers={"If-Match": created.headers["ETag"]}
    )
    assert paused.status_code == 200
    assert paused.get_json()["next_due_at"] is None
    resumed = counselor.patch(
        url, json={"status": "active"}, headers={"If-Match": paused.headers["ETag"]}
    )
    assert resumed.get_json()["next_due_at"] is not None
    ended = counselor.patch(
        url, json={"status": "ended"}, headers={"If-Match": resumed.headers["ETag"]}
    )
    assert ended.get_json()["status"] == "ended"
    again = counselor.patch(
        url, json={"status": "active"}, headers={"If-Match": ended.headers["ETag"]}
    )
    assert again.status_code == 409
    stale = counselor.patch(
        url, json={"risk_level": "low"}, headers={"If-Match": created.headers["ETag"]}
    )
    assert stale.status_code == 412


def test_a_successful_contact_moves_the_due_time(counselor: Any, clock: Clock) -> None:
    rid = resident(counselor)
    url = enroll(counselor, rid, enrolled_at=(NOW - timedelta(hours=10)).isoformat()).headers[
        "Location"
    ]
    logged = counselor.post(
        "/api/v1/contacts",
        json={
            "resident_id": rid,
            "channel": "visit",
            "outcome": "reached",
            "occurred_at": (NOW - timedelta(hours=1)).isoformat(),
            "note": "건강해 보임",
        },
    )
    assert logged.status_code == 201
    enrollment = counselor.get(url).get_json()
    assert datetime.fromisoformat(enrollment["last_success_at"]) == NOW - timedelta(hours=1)
    assert datetime.fromisoformat(enrollment["next_due_at"]) == NOW + timedelta(hours=23)


def test_a_back_dated_contact_is_accepted_and_a_future_one_refused(counselor: Any) -> None:
    rid = resident(counselor)
    back = counselor.post(
        "/api/v1/contacts",
        json={
            "resident_id": rid,
            "channel": "phone",
            "outcome": "no_answer",
            "occurred_at": (NOW - timedelta(days=2)).isoformat(),
        },
    )
    assert back.status_code == 201
    future = counselor.post(
        "/api/v1/contacts",
        json={
            "resident_id": rid,
            "channel": "phone",
            "outcome": "reached",
            "occurred_at": (NOW + timedelta(hours=1)).isoformat(),
        },
    )
    assert future.status_code == 422
    assert "occurred_at" in future.get_json()["errors"]


def test_a_retried_contact_with_the_same_client_ref_creates_nothing_twice(counselor: Any) -> None:
    rid = resident(counselor)
    payload = {
        "resident_id": rid,
        "channel": "visit",
        "outcome": "reached",
        "occurred_at": NOW.isoformat(),
        "client_ref": "app-7f3a-0001",
    }
    first = counselor.post("/api/v1/contacts", json=payload)
    second = counselor.post("/api/v1/contacts", json=payload)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["id"] == second.get_json()["id"]
    timeline = counselor.get(f"/api/v1/residents/{rid}/timeline").get_json()["items"]
    assert [i["kind"] for i in timeline] == ["contact"]


def test_unknown_channels_and_outcomes_get_field_errors(counselor: Any) -> None:
    rid = resident(counselor)
    response = counselor.post(
        "/api/v1/contacts",
        json={
            "resident_id": rid,
            "channel": "telepathy",
            "outcome": "maybe",
            "occurred_at": "yesterday",
        },
    )
    assert response.status_code == 422
    assert {"channel", "outcome", "occurred_at"} <= set(response.get_json()["errors"])


def test_the_queue_shows_lapses_of_the_callers_dongs_and_a_contact_clears_them(
    app: Flask, counselor: Any, login_as: Any, clock: Clock
) -> None:
    rid = resident(counselor)
    enroll(counselor, rid, enrolled_at=(NOW - timedelta(hours=25)).isoformat())
    tick(app, NOW)
    clock.advance(seconds=5)
    items = counselor.get("/api/v1/followups").get_json()["items"]
    assert [(i["resident_id"], i["reason"], i["state"], i["step"]) for i in items] == [
        (rid, "contact_lapsed", "open", 1)
    ]
    assert (
        login_as("counselor", dongs=(DOKSAN1,)).get("/api/v1/followups").get_json()["items"] == []
    )
    detail = counselor.get(f"/api/v1/followups/{items[0]['id']}").get_json()
    assert [e["kind"] for e in detail["events"]] == ["raised"]
    assert detail["evidence"]["risk_level"] == "high"
    counselor.post(
        "/api/v1/contacts",
        json={
            "resident_id": rid,
            "channel": "phone",
            "outcome": "reached",
            "occurred_at": clock.now.isoformat(),
        },
    )
    assert counselor.get("/api/v1/followups").get_json()["items"] == []
    resolved = counselor.get("/api/v1/followups?state=resolved").get_json()["items"]
    assert [(i["id"], i["outcome"]) for i in resolved] == [(items[0]["id"], "contact_made")]


def test_claim_assign_and_resolve_a_follow_up(
    app: Flask, counselor: Any, login_as: Any, clock: Clock
) -> None:
    rid = resident(counselor)
    enroll(counselor, rid, enrolled_at=(NOW - timedelta(hours=25)).isoformat())
    tick(app, NOW)
    clock.advance(seconds=5)
    fid = counselor.get("/api/v1/followups").get_json()["items"][0]["id"]
    outreach = login_as("outreach")
    claimed = outreach.post(f"/api/v1/followups/{fid}/claim")
    assert claimed.get_json()["assignee_id"] == str(outreach.staff.id)
    assert login_as("outreach").post(f"/api/v1/followups/{fid}/claim").status_code == 409
    other_dong = login_as("outreach", dongs=(DOKSAN1,))
    bad = counselor.post(
        f"/api/v1/followups/{fid}/assign", json={"staff_id": str(other_dong.staff.id)}
    )
    assert bad.status_code == 422
    clock.advance(seconds=5)
    resolved = outreach.post(
        f"/api/v1/followups/{fid}/resolve",
        json={"outcome": "confirmed_safe", "note": "딸 집에 머무는 중"},
    )
    assert resolved.get_json()["state"] == "resolved"
    assert (
        outreach.post(f"/api/v1/followups/{fid}/resolve", json={"outcome": "other"}).status_code
        == 409
    )
    events = counselor.get(f"/api/v1/followups/{fid}").get_json()["events"]
    assert [e["kind"] for e in events] == ["raised", "claimed", "resolved"]
    assert events[-1]["note"] == "딸 집에 머무는 중"
    hidden = outreach.get(f"/api/v1/followups/{fid}").get_json()["events"]
    assert hidden[-1]["note"] is None  # outreach workers do not read notes


def test_the_queue_pages_by_due_time(app: Flask, counselor: Any) -> None:
    ids = [resident(counselor, rrn=with_check_digit(f"4001{n:02d}123456")) for n in range(1, 6)]
    for rid in ids:
        enroll(counselor, rid, enrolled_at=(NOW - timedelta(hours=25)).isoformat())
    tick(app, NOW)
    first = counselor.get("/api/v1/followups?limit=2").get_json()
    seen = [i["id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = counselor.get(f"/api/v1/followups?limit=2&cursor={cursor}").get_json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 5


def test_supervisors_see_every_scheduler_run(app: Flask, login_as: Any) -> None:
    tick(app, NOW)
    runs = login_as("supervisor").get("/api/v1/scheduler/runs").get_json()["items"]
    assert runs[0]["job"] == "followups"
    assert runs[0]["status"] == "succeeded"
    assert set(runs[0]["counts"]) >= {"raised", "cancelled", "escalated"}
    assert login_as("outreach").get("/api/v1/scheduler/runs").status_code == 403


def test_gateway_signals_count_as_contacts_once_per_event(
    app: Flask, counselor: Any, login_as: Any, clock: Clock
) -> None:
    rid = resident(counselor)
    url = enroll(counselor, rid).headers["Location"]
    linked = counselor.post(
        "/api/v1/signals/sources",
        json={"resident_id": rid, "kind": "sensor_activity", "source_ref": "plug-00417"},
    )
    assert linked.status_code == 201
    gateway = login_as("gateway")
    batch = {
        "events": [
            {
                "event_id": "e1",
                "kind": "sensor_activity",
                "source_ref": "plug-00417",
                "occurred_at": (NOW - timedelta(minutes=5)).isoformat(),
            },
            {
                "event_id": "e2",
                "kind": "sensor_activity",
                "source_ref": "plug-99999",
                "occurred_at": NOW.isoformat(),
            },
            {
                "event_id": "e3",
                "kind": "sensor_activity",
                "source_ref": "plug-00417",
                "occurred_at": (NOW + timedelta(hours=3)).isoformat(),
            },
        ]
    }
    first = gateway.post("/api/v1/signals", json=batch).get_json()["results"]
    assert [r["status"] for r in first] == ["accepted", "unknown_source", "rejected"]
    again = gateway.post("/api/v1/signals", json=batch).get_json()["results"]
    assert again[0]["status"] == "duplicate"
    enrollment = counselor.get(url).get_json()
    assert datetime.fromisoformat(enrollment["last_success_at"]) == NOW - timedelta(minutes=5)
    assert gateway.get(f"/api/v1/residents/{rid}").status_code == 403


def test_long_event_ids_that_share_a_prefix_are_distinct_signals(
    counselor: Any, login_as: Any
) -> None:
    rid = resident(counselor)
    counselor.post(
        "/api/v1/signals/sources",
        json={"resident_id": rid, "kind": "message_read", "source_ref": "kakao-1"},
    )
    prefix = "x" * 79
    events = [
        {
            "event_id": prefix + tail,
            "kind": "message_read",
            "source_ref": "kakao-1",
            "occurred_at": NOW.isoformat(),
        }
        for tail in ("a", "b")
    ]
    results = login_as("gateway").post("/api/v1/signals", json={"events": events}).get_json()
    assert [r["status"] for r in results["results"]] == ["accepted", "accepted"]


def test_options_requests_are_answered_without_a_policy_error(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.options("/api/v1/residents")
    assert response.status_code == 200
    assert "route without a declared policy" not in caplog.text
