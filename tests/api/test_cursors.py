"""A cursor is opaque, but clients can send anything in its place: every forgery is a 422.

The routes are found, not listed: every GET operation of the served OpenAPI document that takes
a `cursor` query parameter is walked, as a role its policy allows, so a new list joins at once.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import pytest
from flask import Flask

from tests.support.staff import GASAN
from welfare.api.policy import Policy, policy_for
from welfare.models import Role

PROBLEM = "application/problem+json"
PREFERRED_ROLES = (Role.COUNSELOR, Role.SUPERVISOR, Role.OUTREACH, Role.ADMIN)


def forged(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def pair(instant: str) -> str:
    """A cursor of a time and an id (the shape of most lists)."""
    return forged(json.dumps([instant, str(uuid.uuid4())]))


FORGERIES = {
    "not base64 json": "!!!",
    "empty": "",
    "non-ascii": "커서",
    "nested too deeply": forged("[" * 5_000),
    "naive time": pair("2026-01-01T00:00:00"),
    "time out of range in UTC": pair("0001-01-01T00:00:00+09:00"),
    "year 9999 behind UTC": pair("9999-12-31T23:59:59-09:00"),
    "not a uuid": forged(json.dumps(["2026-01-01T00:00:00+00:00", "x"])),
    "integer beyond 64 bits": forged(json.dumps([int("9" * 30)])),
    "integer beyond 64 bits with an id": forged(json.dumps([int("9" * 30), str(uuid.uuid4())])),
    "old audit form beyond 64 bits": forged("ae1:" + "9" * 30),
    "numbers for strings": forged(json.dumps([1, 2])),
    "an object": forged(json.dumps({"seq": 1})),
    "NUL in text": forged(json.dumps(["a\u0000b"])),
    "huge": forged(json.dumps(["x" * 5000])),
}
SAMPLE_UUID = "00000000-0000-4000-8000-000000000000"


def cursor_routes(app: Flask) -> list[tuple[str, Role]]:
    """(path, role) for every GET operation that takes a cursor, with a role allowed to call it."""
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    endpoints = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    found = []
    for path, operations in spec["paths"].items():
        params = operations.get("get", {}).get("parameters", [])
        if not any(p["name"] == "cursor" and p["in"] == "query" for p in params):
            continue
        rule = re.sub(r"\{(\w+)\}", r"<uuid:\1>", path)
        policy = policy_for(app, endpoints[rule], "GET")
        assert isinstance(policy, Policy)
        role = next(r for r in PREFERRED_ROLES if policy.allows(r))
        found.append((re.sub(r"\{\w+\}", SAMPLE_UUID, path), role))
    return found


# Every list route, named so each gets its own test ids; the walk below proves it is complete.
LISTS = [
    "/api/v1/residents",
    "/api/v1/followups",
    "/api/v1/cases",
    "/api/v1/care-requests/handover",
    "/api/v1/scheduler/runs",
    "/api/v1/outbox/dead-letters",
    "/api/v1/audit/events",
    "/api/v1/staff",
    "/api/v1/mobility/vehicles",
    "/api/v1/mobility/drivers",
    "/api/v1/mobility/rides",
    "/api/v1/mobility/no-show-review",
    f"/api/v1/residents/{SAMPLE_UUID}/contacts",
    "/api/v1/ongi/enrollments",
    "/api/v1/team",
    "/api/v1/kimchi/campaigns",
    f"/api/v1/kimchi/campaigns/{SAMPLE_UUID}/allocations",
    f"/api/v1/kimchi/campaigns/{SAMPLE_UUID}/routes",
    "/api/v1/gateways/incidents",
    f"/api/v1/gateways/incidents/{SAMPLE_UUID}/followups",
    "/api/v1/gateways/watches",
    "/api/v1/external-referrals",
    "/api/v1/dispatches",
    "/api/v1/duty-shifts",
    "/api/v1/hygiene/enrollments",
    "/api/v1/hygiene/visits",
]


def test_the_list_of_cursor_routes_is_every_route_that_takes_a_cursor(app: Flask) -> None:
    assert sorted(path for path, _ in cursor_routes(app)) == sorted(LISTS)


@pytest.mark.parametrize("cursor", FORGERIES.values(), ids=FORGERIES.keys())
@pytest.mark.parametrize("path", LISTS)
def test_a_forged_cursor_is_a_422(app: Flask, login_as: Any, path: str, cursor: str) -> None:
    role = dict(cursor_routes(app))[path]
    client = login_as(role.value, () if role is Role.ADMIN else (GASAN,))
    response = client.get(path, query_string={"cursor": cursor})
    assert response.status_code == 422, (path, response.get_json())
    assert response.mimetype == PROBLEM
    assert "cursor" in response.get_json()["errors"], path


def test_a_cursor_of_one_list_is_refused_by_another(login_as: Any) -> None:
    client = login_as("supervisor", (GASAN,))
    client.get("/api/v1/residents")  # an access record, so the audit list has two pages
    audit_page = client.get("/api/v1/audit/events", query_string={"limit": 1}).get_json()
    real = audit_page["next_cursor"]
    assert real is not None
    assert client.get("/api/v1/audit/events", query_string={"cursor": real}).status_code == 200
    for other in ("/api/v1/followups", "/api/v1/scheduler/runs", "/api/v1/residents"):
        response = client.get(other, query_string={"cursor": real})
        assert response.status_code == 422, other
