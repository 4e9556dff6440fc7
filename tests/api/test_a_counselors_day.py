"""A newcomer's script of a counselor's day, through the API only: find a resident, see their
picture, log a call, work the queue, hand a follow-up to a colleague found by name. Every id
the script sends, it got from an earlier response."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from tests.support.casework import unique_rrn
from tests.support.staff import GASAN, PASSWORD, make_staff
from welfare.web import get_database

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Newcomer:
    """A client that remembers every id it was told, and refuses to send any other."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.known: set[str] = set()
        self.csrf = ""

    def call(self, method: str, url: str, body: Any = None, **query: Any) -> Any:
        sent = set(UUID.findall(url + json.dumps(body or {}) + json.dumps(query)))
        assert sent <= self.known, f"{method} {url} uses ids nobody gave: {sent - self.known}"
        response = self.client.open(
            url,
            method=method,
            json=body,
            query_string=query or None,
            headers={"X-CSRF-Token": self.csrf} if method != "GET" else {},
        )
        assert response.status_code < 400, (method, url, response.get_json())
        data = response.get_json()
        self.known |= set(UUID.findall(json.dumps(data)))
        return data


def test_a_counselors_day_needs_no_id_from_elsewhere(app: Flask) -> None:
    # The district as the day begins: a resident of Gasan enrolled at high risk, whose check-in
    # lapsed overnight, and the team of the dong (set up by others, as in real life).
    registrar = make_staff(app, "counselor", (GASAN,), display_name="등록담당")
    make_staff(app, "counselor", (GASAN,), username="kim.sangdam", display_name="김상담")
    make_staff(app, "outreach", (GASAN,), display_name="박방문")
    other = app.test_client()
    login = other.post(
        "/api/v1/auth/login", json={"username": registrar.username, "password": PASSWORD}
    )
    headers = {"X-CSRF-Token": login.get_json()["csrf_token"]}
    person = other.post(
        "/api/v1/residents",
        json={"name": "한봄날", "rrn": unique_rrn(), "dong": GASAN, "phone": "010-4321-8765"},
        headers=headers,
    ).get_json()
    other.post(
        "/api/v1/ongi/enrollments",
        json={
            "resident_id": person["id"],
            "risk_level": "high",
            "enrolled_at": (datetime.now(UTC) - timedelta(hours=26)).isoformat(),
        },
        headers=headers,
    )
    assert run_job(get_database(app), Job("followups", run_followups)).status == "succeeded"

    me = Newcomer(app.test_client())
    me.csrf = me.call(
        "POST", "/api/v1/auth/login", {"username": "kim.sangdam", "password": PASSWORD}
    )["csrf_token"]

    # Find the resident by name (a POST: names never go in URLs) and see the whole picture.
    (found,) = me.call("POST", "/api/v1/residents/search", {"name": "한봄날"})["items"]
    picture = me.call("GET", f"/api/v1/residents/{found['id']}")
    (lapse,) = picture["programs"]["live_followups"]
    assert lapse["reason"] == "contact_lapsed"
    assert picture["programs"]["ongi_enrollment"]["risk_level"] == "high"

    # Call: nobody answers; the call is logged and reads back.
    logged = me.call(
        "POST",
        "/api/v1/contacts",
        {
            "resident_id": found["id"],
            "channel": "phone",
            "outcome": "no_answer",
            "occurred_at": datetime.now(UTC).isoformat(),
            "note": "오전 통화 연결 안 됨",
        },
    )
    assert me.call("GET", f"/api/v1/contacts/{logged['id']}")["note"] == "오전 통화 연결 안 됨"

    # Work the queue: what is overdue in my dongs, each item with whom it is about.
    queue = me.call("GET", "/api/v1/followups", overdue="true")["items"]
    (item,) = [i for i in queue if i["resident"]["name"] == "한봄날"]

    # Hand it to the outreach worker of the dong, found by name: a visit is needed.
    team = me.call("GET", "/api/v1/team", role="outreach")["items"]
    (visitor,) = [c for c in team if c["name"] == "박방문"]
    assigned = me.call(
        "POST", f"/api/v1/followups/{item['id']}/assign", {"assignee_id": visitor["id"]}
    )
    assert assigned["assignee_id"] == visitor["id"]
    history = me.call("GET", f"/api/v1/residents/{found['id']}/timeline")["items"]
    assert {"contact", "followup_raised", "followup_assigned"} <= {e["kind"] for e in history}
