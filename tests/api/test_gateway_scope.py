"""Gateways speak only for their own sources: those pinned to their account, or unpinned in their
dongs. Another dong's source is refused exactly like an unknown one, and the attempt recorded."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, event, select

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from tests.support.casework import register
from tests.support.clock import Clock
from tests.support.staff import DOKSAN1, GASAN, make_staff
from welfare.models import AuditEvent, Contact, FollowUp, Staff
from welfare.web import get_database

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
DEVICE = "plug-doksan-0042"


@pytest.fixture(autouse=True)
def clock(app: Flask) -> Clock:
    return Clock(NOW).install(app)


def signal(source_ref: str, event_id: str = "e1") -> dict[str, Any]:
    return {
        "events": [
            {
                "event_id": event_id,
                "kind": "sensor_activity",
                "source_ref": source_ref,
                "occurred_at": (NOW - timedelta(minutes=5)).isoformat(),
            }
        ]
    }


def lapsed_resident(app: Flask, counselor: FlaskClient, dong: str, **source: Any) -> str:
    """A resident of `dong` with a device, whose contact has lapsed (a live follow-up)."""
    rid = register(counselor, dong=dong)["id"]
    enrolled = counselor.post(
        "/api/v1/ongi/enrollments",
        json={
            "resident_id": rid,
            "risk_level": "high",
            "enrolled_at": (NOW - timedelta(days=3)).isoformat(),
        },
    )
    assert enrolled.status_code == 201, enrolled.get_json()
    linked = counselor.post(
        "/api/v1/signals/sources",
        json={"resident_id": rid, "kind": "sensor_activity", "source_ref": DEVICE, **source},
    )
    assert linked.status_code == 201, linked.get_json()
    result = run_job(get_database(app), Job("followups", run_followups), as_of=NOW)
    assert result.counts["raised"] == 1
    return str(rid)


def live_lapses(app: Flask, rid: str) -> list[FollowUp]:
    with get_database(app).new_session() as s:
        return list(
            s.scalars(
                select(FollowUp).where(
                    FollowUp.subject_id == uuid.UUID(rid), FollowUp.state.in_(["open", "escalated"])
                )
            )
        )


def contacts(app: Flask, rid: str) -> int:
    with get_database(app).new_session() as s:
        return len(s.scalars(select(Contact).where(Contact.resident_id == uuid.UUID(rid))).all())


def denials(app: Flask) -> list[AuditEvent]:
    with get_database(app).new_session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "access_denied")
                .order_by(AuditEvent.at, AuditEvent.id)
            )
        )


def audit_text(app: Flask) -> str:
    with get_database(app).new_session() as s:
        rows = s.scalars(select(AuditEvent)).all()
        return json.dumps(
            [{c.name: str(getattr(r, c.name)) for c in AuditEvent.__table__.columns} for r in rows]
        )


@pytest.fixture
def doksan_counselor(login_as: Any) -> FlaskClient:
    client: FlaskClient = login_as("counselor", (DOKSAN1,))
    return client


def test_a_gateway_of_another_dong_cannot_resolve_a_lapse_with_its_signals(
    app: Flask, login_as: Any, doksan_counselor: FlaskClient
) -> None:
    rid = lapsed_resident(app, doksan_counselor, DOKSAN1)
    gasan_gateway = login_as("gateway", (GASAN,))
    before = len(denials(app))

    response = gasan_gateway.post("/api/v1/signals", json=signal(DEVICE))

    assert response.status_code == 200
    assert response.get_json() == {"results": [{"event_id": "e1", "status": "unknown_source"}]}
    assert contacts(app, rid) == 0
    assert len(live_lapses(app, rid)) == 1  # the lapse stays with the team that must act
    new = denials(app)[before:]
    assert [(e.outcome, e.staff_id, e.resident_ids) for e in new] == [
        ("denied", gasan_gateway.staff.id, [rid])
    ]
    assert DEVICE not in audit_text(app)

    doksan_gateway = login_as("gateway", (DOKSAN1,))
    accepted = doksan_gateway.post("/api/v1/signals", json=signal(DEVICE))
    assert accepted.get_json()["results"][0]["status"] == "accepted"
    assert live_lapses(app, rid) == []


@pytest.fixture
def statements(connection: Connection) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the test runs."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    yield sent
    event.remove(connection, "before_cursor_execute", count)


def test_another_dongs_source_is_answered_like_an_unknown_one_with_the_same_lookups(
    app: Flask, login_as: Any, doksan_counselor: FlaskClient, statements: list[str]
) -> None:
    lapsed_resident(app, doksan_counselor, DOKSAN1)
    gateway = login_as("gateway", (GASAN,))
    gateway.post("/api/v1/signals", json=signal("warm-up"))  # the token's first use is noted
    answers, sent = [], []
    for ref in (DEVICE, "plug-that-was-never-registered"):
        before = len(denials(app))
        start = len(statements)
        response = gateway.post("/api/v1/signals", json=signal(ref, event_id=f"probe-{ref}"))
        sent.append([re.sub(r"sa_savepoint_\d+", "sp", s) for s in statements[start:]])
        answers.append((response.status_code, response.content_type, response.get_json()))
        assert len(denials(app)) == before + 1
    assert answers[0][2]["results"][0]["status"] == "unknown_source"
    assert answers[0][:2] == answers[1][:2]
    assert sorted(answers[0][2]) == sorted(answers[1][2]) == ["results"]
    assert sorted(answers[0][2]["results"][0]) == sorted(answers[1][2]["results"][0])
    assert answers[0][2]["results"][0]["status"] == answers[1][2]["results"][0]["status"]
    # The same statements, in the same order: one lookup each, then the denial record.
    assert sent[0] == sent[1]


def test_a_source_pinned_to_one_gateway_refuses_other_gateways_of_its_dong(
    app: Flask, login_as: Any, doksan_counselor: FlaskClient
) -> None:
    pinned = login_as("gateway", (DOKSAN1,))
    rid = lapsed_resident(app, doksan_counselor, DOKSAN1, gateway_id=str(pinned.staff.id))
    other = login_as("gateway", (DOKSAN1,))
    refused = other.post("/api/v1/signals", json=signal(DEVICE)).get_json()
    assert refused["results"][0]["status"] == "unknown_source"
    assert denials(app)[-1].resident_ids == [rid]
    assert len(live_lapses(app, rid)) == 1
    accepted = pinned.post("/api/v1/signals", json=signal(DEVICE)).get_json()
    assert accepted["results"][0]["status"] == "accepted"


def test_a_source_can_be_pinned_only_to_an_active_gateway_of_the_residents_dong(
    app: Flask, login_as: Any, doksan_counselor: FlaskClient
) -> None:
    rid = register(doksan_counselor, dong=DOKSAN1)["id"]
    inactive = make_staff(app, "gateway", (DOKSAN1,))
    with get_database(app).new_session() as s:
        s.get_one(Staff, inactive.id).is_active = False
        s.commit()
    for wrong in (
        make_staff(app, "gateway", (GASAN,)).id,  # a gateway of another dong
        make_staff(app, "counselor", (DOKSAN1,)).id,  # not a gateway
        inactive.id,
        "00000000-0000-4000-8000-00000000dead",  # nobody
    ):
        response = doksan_counselor.post(
            "/api/v1/signals/sources",
            json={
                "resident_id": rid,
                "kind": "message_read",
                "source_ref": f"kakao-{wrong}",
                "gateway_id": str(wrong),
            },
        )
        assert response.status_code == 422, wrong
        assert list(response.get_json()["errors"]) == ["gateway_id"]
    right = make_staff(app, "gateway", (DOKSAN1, GASAN))
    response = doksan_counselor.post(
        "/api/v1/signals/sources",
        json={
            "resident_id": rid,
            "kind": "message_read",
            "source_ref": "kakao-right",
            "gateway_id": str(right.id),
        },
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["gateway_id"] == str(right.id)


def test_an_unpinned_source_follows_its_resident_to_the_new_dongs_gateways(
    app: Flask, login_as: Any
) -> None:
    both = login_as("counselor", (GASAN, DOKSAN1))
    rid = lapsed_resident(app, both, GASAN)
    current = both.get(f"/api/v1/residents/{rid}")
    moved = both.patch(
        f"/api/v1/residents/{rid}",
        json={"dong": DOKSAN1},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.get_json()
    old = login_as("gateway", (GASAN,)).post("/api/v1/signals", json=signal(DEVICE, "old"))
    assert old.get_json()["results"][0]["status"] == "unknown_source"
    new = login_as("gateway", (DOKSAN1,)).post("/api/v1/signals", json=signal(DEVICE, "new"))
    assert new.get_json()["results"][0]["status"] == "accepted"


def test_a_batch_locks_its_residents_enrollments_in_one_order_whatever_the_events_order(
    app: Flask, login_as: Any, connection: Connection
) -> None:
    """Two batches (or a batch and a contact) that share residents must queue, not deadlock:
    each batch takes its enrollments' row locks by resident id, and answers in its own order."""
    counselor = login_as("counselor", (GASAN,))
    refs = {}
    for n in range(4):
        rid = register(counselor, dong=GASAN)["id"]
        assert (
            counselor.post(
                "/api/v1/ongi/enrollments", json={"resident_id": rid, "risk_level": "high"}
            ).status_code
            == 201
        )
        ref = f"plug-order-{n}"
        assert (
            counselor.post(
                "/api/v1/signals/sources",
                json={"resident_id": rid, "kind": "sensor_activity", "source_ref": ref},
            ).status_code
            == 201
        )
        refs[ref] = uuid.UUID(rid)
    backwards = sorted(refs, key=lambda ref: str(refs[ref]), reverse=True)
    locked: list[uuid.UUID] = []

    def enrollment_reads(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM ongi_enrollments" in statement:
            values = parameters.values() if isinstance(parameters, dict) else parameters
            for value in values:
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    candidate = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
                    if candidate in refs.values():
                        locked.append(candidate)

    gateway = login_as("gateway", (GASAN,))
    batch = {
        "events": [
            {
                "event_id": f"order-{ref}",
                "kind": "sensor_activity",
                "source_ref": ref,
                "occurred_at": (NOW - timedelta(minutes=5)).isoformat(),
            }
            for ref in backwards
        ]
    }
    event.listen(connection, "before_cursor_execute", enrollment_reads)
    try:
        response = gateway.post("/api/v1/signals", json=batch)
    finally:
        event.remove(connection, "before_cursor_execute", enrollment_reads)
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert [r["event_id"] for r in results] == [f"order-{ref}" for ref in backwards]
    assert {r["status"] for r in results} == {"accepted"}
    assert locked == sorted(refs.values(), key=str)
