"""The gateway-silence routes: incidents for admins and the gateway's supervisors, grouped
follow-ups for the staff of their dongs, and a gateway's rhythm configured by admins only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from tests.support.casework import register
from tests.support.clock import Clock
from tests.support.staff import GASAN, log_in, make_staff, token_client
from welfare.models import Staff
from welfare.web import get_database

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
TICK = Job("followups", run_followups)


@pytest.fixture(autouse=True)
def clock(app: Flask) -> Clock:
    return Clock(NOW).install(app)


@pytest.fixture
def gateway(app: Flask) -> Staff:
    return make_staff(app, "gateway", (GASAN,), display_name="AI 안부전화 회선")


def silent_gateway_with_a_lapse(app: Flask, login_as: Any, gateway: Staff) -> str:
    """A resident seen only through the gateway, which then falls silent for two days."""
    counselor = login_as("counselor")
    rid = register(counselor, dong=GASAN)["id"]
    enrolled = counselor.post(
        "/api/v1/ongi/enrollments",
        json={"resident_id": rid, "risk_level": "high", "enrolled_at": NOW.isoformat()},
    )
    assert enrolled.status_code == 201, enrolled.get_json()
    linked = counselor.post(
        "/api/v1/signals/sources",
        json={"resident_id": rid, "kind": "ai_call_answered", "source_ref": "010-0000-0001"},
    )
    assert linked.status_code == 201, linked.get_json()
    sent = token_client(app, gateway).post(
        "/api/v1/signals",
        json={
            "events": [
                {
                    "event_id": "call-1",
                    "kind": "ai_call_answered",
                    "source_ref": "010-0000-0001",
                    "occurred_at": NOW.isoformat(),
                }
            ]
        },
    )
    assert sent.status_code == 200, sent.get_json()
    result = run_job(get_database(app), TICK, as_of=NOW + timedelta(days=2))
    assert result.counts["gateway_silent_raised"] == 1, result
    return str(rid)


def test_a_supervisor_sees_the_incident_and_a_counselor_its_grouped_lapses(
    app: Flask, login_as: Any, gateway: Staff
) -> None:
    rid = silent_gateway_with_a_lapse(app, login_as, gateway)
    supervisor = login_as("supervisor")
    listed = supervisor.get("/api/v1/gateways/incidents")
    assert listed.status_code == 200, listed.get_json()
    [incident] = listed.get_json()["items"]
    assert incident["gateway_id"] == str(gateway.id)
    assert incident["gateway_name"] == "AI 안부전화 회선"
    assert (incident["dependents"], incident["grouped"], incident["grouped_live"]) == (1, 1, 1)
    one = supervisor.get(f"/api/v1/gateways/incidents/{incident['id']}")
    assert one.status_code == 200 and one.get_json()["id"] == incident["id"]
    grouped = login_as("counselor").get(f"/api/v1/gateways/incidents/{incident['id']}/followups")
    assert grouped.status_code == 200, grouped.get_json()
    [lapse] = grouped.get_json()["items"]
    assert lapse["resident_id"] == rid
    assert lapse["incident_id"] == incident["id"]
    assert lapse["reason"] == "contact_lapsed"


def test_counselors_do_not_list_incidents_and_admins_see_no_resident(
    app: Flask, login_as: Any, gateway: Staff
) -> None:
    silent_gateway_with_a_lapse(app, login_as, gateway)
    assert login_as("counselor").get("/api/v1/gateways/incidents").status_code == 403
    admin = login_as("admin", ())
    [incident] = admin.get("/api/v1/gateways/incidents").get_json()["items"]
    assert "resident" not in incident and incident["grouped"] == 1
    denied = admin.get(f"/api/v1/gateways/incidents/{incident['id']}/followups")
    assert denied.status_code == 403


def test_an_admin_configures_a_gateways_rhythm_with_if_match(
    app: Flask, login_as: Any, gateway: Staff
) -> None:
    admin = login_as("admin", ())
    path = f"/api/v1/gateways/{gateway.id}/signal-rate"
    set_ = admin.put(path, json={"expected_interval_minutes": 15})
    assert set_.status_code == 200, set_.get_json()
    body = set_.get_json()
    assert body["expected_interval_seconds"] == 900
    assert body["silence_threshold_seconds"] == 45 * 60
    stale = admin.put(path, json={"expected_interval_minutes": 20}, headers={"If-Match": '"v9"'})
    assert stale.status_code == 412
    fresh = admin.put(
        path, json={"expected_interval_minutes": None}, headers={"If-Match": set_.headers["ETag"]}
    )
    assert fresh.status_code == 200, fresh.get_json()
    assert fresh.get_json()["expected_interval_seconds"] is None
    [watch] = admin.get("/api/v1/gateways/watches").get_json()["items"]
    assert watch["gateway_id"] == str(gateway.id)


@pytest.mark.parametrize("minutes", [0, -5, 7 * 24 * 60 + 1, "soon"])
def test_an_impossible_rhythm_is_a_korean_422(
    login_as: Any, gateway: Staff, minutes: object
) -> None:
    response = login_as("admin", ()).put(
        f"/api/v1/gateways/{gateway.id}/signal-rate", json={"expected_interval_minutes": minutes}
    )
    assert response.status_code == 422
    [message] = response.get_json()["errors"]["expected_interval_minutes"]
    assert message[0] >= "\uac00"  # Korean first


def test_only_a_gateway_account_has_a_rhythm(app: Flask, login_as: Any) -> None:
    counselor = make_staff(app, "counselor")
    admin = log_in(app, make_staff(app, "admin", ()))
    for target in (counselor.id, uuid.uuid4()):
        response = admin.put(
            f"/api/v1/gateways/{target}/signal-rate", json={"expected_interval_minutes": 10}
        )
        assert response.status_code == 404
    supervisor = login_as("supervisor")
    forbidden = supervisor.put(
        f"/api/v1/gateways/{counselor.id}/signal-rate", json={"expected_interval_minutes": 10}
    )
    assert forbidden.status_code == 403
