"""A cursor is opaque, but clients can send anything in its place: every forgery is a 422."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from tests.support.staff import GASAN

PROBLEM = "application/problem+json"


def forged(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def pair(instant: str) -> str:
    """A follow-up or scheduler-run cursor: a time and an id."""
    return forged(json.dumps([instant, str(uuid.uuid4())]))


FORGERIES = {
    "not base64 json": "!!!",
    "nested too deeply": forged("[" * 5_000),
    "naive time": pair("2026-01-01T00:00:00"),
    "time out of range in UTC": pair("0001-01-01T00:00:00+09:00"),
    "year 9999 behind UTC": pair("9999-12-31T23:59:59-09:00"),
    "audit seq beyond 64 bits": forged("ae1:" + "9" * 30),
}
LISTS = [
    ("counselor", "/api/v1/residents"),
    ("counselor", "/api/v1/followups"),
    ("supervisor", "/api/v1/scheduler/runs"),
    ("supervisor", "/api/v1/audit/events"),
    ("admin", "/api/v1/staff"),
]


@pytest.mark.parametrize("cursor", FORGERIES.values(), ids=FORGERIES.keys())
@pytest.mark.parametrize(("role", "url"), LISTS, ids=[url for _, url in LISTS])
def test_a_forged_cursor_is_a_422_or_an_empty_page(
    login_as: Any, role: str, url: str, cursor: str
) -> None:
    client = login_as(role, () if role == "admin" else (GASAN,))
    response = client.get(url, query_string={"cursor": cursor})
    assert response.status_code in (200, 422), response.get_json()
    if response.status_code == 422:
        assert response.mimetype == PROBLEM
        assert "cursor" in response.get_json()["errors"]
    else:
        assert response.get_json()["items"] == []
