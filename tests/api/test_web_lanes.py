"""Lanes (WELFARE_WEB_LANE): gateway nodes serve only what gateways call, staff nodes everything
else, so a gateway's batch never waits behind staff requests for a thread or a connection."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from config.settings import Settings, SettingsError
from tests.support.staff import make_staff, token_client
from welfare.web import get_settings

EVENT = {
    "event_id": "lane-1",
    "kind": "sensor_activity",
    "source_ref": "plug-unknown",
    "occurred_at": datetime(2026, 11, 24, tzinfo=UTC).isoformat(),
}


def on_lane(app: Flask, lane: str) -> None:
    app.extensions["welfare.settings"] = replace(get_settings(app), web_lane=lane)


def test_a_gateway_lane_serves_gateways_and_health_but_not_staff(app: Flask, login_as: Any) -> None:
    counselor = login_as("counselor")
    gateway = token_client(app, make_staff(app, "gateway"))
    on_lane(app, "gateway")
    assert gateway.post("/api/v1/signals", json={"events": [EVENT]}).status_code == 200
    assert app.test_client().get("/healthz").status_code == 200
    refused = counselor.get("/api/v1/residents")
    assert refused.status_code == 421
    assert refused.get_json()["code"] == "wrong_lane"
    assert "이 서버는" in refused.get_json()["title"]


def test_a_staff_lane_refuses_gateway_only_routes_and_serves_the_rest(
    app: Flask, login_as: Any
) -> None:
    counselor = login_as("counselor")
    gateway = token_client(app, make_staff(app, "gateway"))
    on_lane(app, "staff")
    refused = gateway.post("/api/v1/signals", json={"events": [EVENT]})
    assert refused.status_code == 421
    assert refused.get_json()["code"] == "wrong_lane"
    assert counselor.get("/api/v1/residents").status_code == 200
    assert counselor.get("/api/v1/auth/me").status_code == 200


def test_every_node_serves_every_route_unless_told_otherwise(app: Flask, login_as: Any) -> None:
    assert get_settings(app).web_lane == "all"
    gateway = token_client(app, make_staff(app, "gateway"))
    assert gateway.post("/api/v1/signals", json={"events": [EVENT]}).status_code == 200
    assert login_as("counselor").get("/api/v1/residents").status_code == 200


@pytest.mark.parametrize("lane", ["", "gateways", "STAFF"])
def test_an_unknown_lane_is_refused_at_start_up(lane: str) -> None:
    with pytest.raises(SettingsError, match="WELFARE_WEB_LANE"):
        Settings.from_env({"WELFARE_WEB_LANE": lane, "WELFARE_DATABASE_URL": "sqlite://"})
