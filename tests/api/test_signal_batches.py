"""Signal batches: a fixed number of statements whatever the batch's size, with the rules of one
contact at a time (a repeated event id, several events for one resident, a lapse resolved once)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, event, func, select

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from tests.support.casework import with_check_digit
from tests.support.clock import Clock
from tests.support.staff import GASAN
from welfare.models import Contact, FollowUp, FollowUpEvent, OngiEnrollment
from welfare.web import get_database

ENROLLED = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # every high-risk enrollment lapsed by now


@pytest.fixture
def clock(app: Flask) -> Clock:
    return Clock(ENROLLED).install(app)


@pytest.fixture
def counselor(login_as: Any, clock: Clock) -> Any:
    return login_as("counselor")


def enrolled_with_source(counselor: Any, n: int) -> str:
    created = counselor.post(
        "/api/v1/residents",
        json={
            "name": f"주민{n}",
            "rrn": with_check_digit(f"4001{n % 28 + 1:02d}2{n:05d}"),
            "dong": GASAN,
        },
    )
    assert created.status_code == 201, created.get_json()
    rid = str(created.get_json()["id"])
    enrolled = counselor.post(
        "/api/v1/ongi/enrollments", json={"resident_id": rid, "risk_level": "high"}
    )
    assert enrolled.status_code == 201, enrolled.get_json()
    linked = counselor.post(
        "/api/v1/signals/sources",
        json={"resident_id": rid, "kind": "sensor_activity", "source_ref": f"plug-{n}"},
    )
    assert linked.status_code == 201, linked.get_json()
    return rid


@contextmanager
def statements(connection: Connection) -> Iterator[list[str]]:
    """Every statement sent on the test's connection (the app is bound to it)."""
    seen: list[str] = []

    def before(_c: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(connection, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", before)


def events(residents: range, per_resident: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{tag}-{n}-{k}",
            "kind": "sensor_activity",
            "source_ref": f"plug-{n}",
            "occurred_at": (NOW - timedelta(minutes=60 - k)).isoformat(),
        }
        for n in residents
        for k in range(per_resident)
    ]


def test_a_batch_costs_the_same_statements_for_5_events_or_500(
    app: Flask, connection: Connection, counselor: Any, login_as: Any, clock: Clock
) -> None:
    small, large = range(1, 2), range(2, 27)  # 1 resident x 5 events; 25 residents x 20
    ids = [enrolled_with_source(counselor, n) for n in (*small, *large)]
    clock.now = NOW
    result = run_job(get_database(app), Job("followups", run_followups), as_of=NOW)
    assert result.counts["raised"] == len(ids)  # every one lapsed, one follow-up each
    gateway = login_as("gateway")
    gateway.get("/api/v1/auth/me")  # the token's first use, outside the counts

    counts = []
    for residents, tag in ((small, "s"), (large, "l")):
        batch = events(residents, 5 if residents is small else 20, tag)
        with statements(connection) as seen:
            response = gateway.post("/api/v1/signals", json={"events": batch})
        assert response.status_code == 200, response.get_json()
        assert {r["status"] for r in response.get_json()["results"]} == {"accepted"}
        counts.append(len(seen))
    assert len(events(large, 20, "l")) == 500
    assert counts[0] == counts[1], counts
    assert 0 < counts[1] <= 30, counts

    with get_database(app).new_session() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 505
        # Each lapse was resolved once, by the batch's first contact for its resident.
        resolved = session.scalars(
            select(FollowUpEvent.detail).where(FollowUpEvent.kind == "resolved")
        ).all()
        assert len(resolved) == len(ids)
        assert all(d["outcome"] == "contact_made" and d["channel"] == "sensor" for d in resolved)
        assert session.scalar(
            select(func.count()).select_from(FollowUp).where(FollowUp.state == "resolved")
        ) == len(ids)
        # The newest signal of each resident is their last success.
        latest = session.scalars(select(OngiEnrollment.last_success_at)).all()
        assert set(latest) == {NOW - timedelta(minutes=60 - 19), NOW - timedelta(minutes=60 - 4)}


def test_a_repeated_event_id_within_one_batch_counts_once(
    app: Flask, counselor: Any, login_as: Any, clock: Clock
) -> None:
    enrolled_with_source(counselor, 1)
    clock.now = NOW
    once = events(range(1, 2), 1, "r")[0]
    other_body = once | {"occurred_at": (NOW - timedelta(minutes=1)).isoformat()}
    response = login_as("gateway").post(
        "/api/v1/signals", json={"events": [once, once, other_body]}
    )
    assert [r["status"] for r in response.get_json()["results"]] == [
        "accepted",
        "duplicate",
        "key_reused",
    ]
    with get_database(app).new_session() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
