"""Canary residents leave no trace in the raw database, the logs or error bodies."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, text

from config import Settings
from tests.support.databases import fresh_database
from tests.support.staff import GASAN, log_in, make_staff
from welfare.app import create_app
from welfare.crypto.keyring import Keyring
from welfare.migrate import upgrade
from welfare.web import get_database

CANARY = {
    "name": "카나리아홍길순",
    "rrn": "851212-2918271",
    "dong": GASAN,
    "phone": "010-8642-9753",
    "address": "카나리아로 77번길 13",
    "notes": "카나리아메모",
}
NEEDLES = ["카나리아", "8512122918271", "851212-2918271", "2918271", "86429753", "+821086429753"]


@pytest.fixture
def committed_app(settings: Settings, keyring: Keyring, tmp_path: Path) -> Iterator[Flask]:
    """An app on its own fresh database whose writes really commit."""
    with fresh_database(tmp_path, "canary") as url:
        app = create_app(replace(settings, database_url=url), keyring=keyring)
        upgrade(get_database(app).engine)
        yield app
        get_database(app).dispose()


def raw_database_text(app: Flask, url: str) -> bytes:
    engine = get_database(app).engine
    if engine.dialect.name == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        # The main file and its write-ahead log together hold every committed byte.
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    dump = b""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table in inspect(engine).get_table_names():
            # A query, not the table: a partitioned table (access records, contacts) cannot be
            # copied directly; its partitions are listed and copied too.
            with cursor.copy(f'COPY (SELECT * FROM "{table}") TO STDOUT') as copy:
                for block in copy:
                    dump += bytes(block)
    finally:
        raw.close()
    return dump


def test_canary_values_never_reach_the_raw_database_logs_or_errors(
    committed_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = committed_app
    counselor = log_in(app, make_staff(app, "counselor", (GASAN,)))
    created = counselor.post("/api/v1/residents", json=CANARY)
    assert created.status_code == 201
    resident_id = created.get_json()["id"]
    bodies: list[str] = []
    for response in (
        counselor.post("/api/v1/residents", json=CANARY),  # 409
        counselor.post("/api/v1/residents", json={**CANARY, "rrn": "851232-2918270"}),  # 422
        counselor.patch(
            f"/api/v1/residents/{resident_id}",
            json={"name": CANARY["name"]},
            headers={"If-Match": '"v9"'},
        ),  # 412
        counselor.post("/api/v1/residents/search", json={"name": CANARY["name"]}),
        counselor.post("/api/v1/residents/search", json={"phone": CANARY["phone"]}),
        log_in(app, make_staff(app, "counselor", ("1154561000",))).get(
            f"/api/v1/residents/{resident_id}"
        ),  # 404
        counselor.post(
            "/api/v1/ongi/enrollments", json={"resident_id": resident_id, "risk_level": "high"}
        ),
        counselor.post(
            "/api/v1/ongi/enrollments", json={"resident_id": resident_id, "risk_level": "high"}
        ),  # 409
        counselor.post(
            "/api/v1/contacts",
            json={
                "resident_id": resident_id,
                "channel": "visit",
                "outcome": "reached",
                "occurred_at": "2026-01-01T09:00:00+09:00",
                "note": "카나리아 방문 메모",
                "client_ref": "canary-contact-1",
            },
        ),
        counselor.post(
            "/api/v1/contacts",
            json={
                "resident_id": resident_id,
                "channel": "visit",
                "outcome": "reached",
                "occurred_at": "2999-01-01T09:00:00+09:00",
                "note": "카나리아 미래",
            },
        ),  # 422
        counselor.get(f"/api/v1/residents/{resident_id}/timeline"),
        counselor.post(f"/api/v1/residents/{resident_id}/reveal-rrn", json={"reason": "확인"}),
        *kimchi_round(app, counselor, resident_id),
    ):
        bodies.append(response.get_data(as_text=True) if response.status_code >= 400 else "")
    # The district plan's other services seal what they hold too: a referral sheet carrying the
    # name and phone, a dispatch address, a visit's health observation.
    now = datetime.now(UTC)
    referred = counselor.post(
        f"/api/v1/residents/{resident_id}/external-referrals",
        json={
            "partner": "welfare_foundation",
            "reason": "카나리아 의뢰 사유",
            "consent": {
                "given_by": "카나리아보호자",
                "given_at": now.isoformat(),
                "scope": "contact",
            },
        },
    )
    assert referred.status_code == 201, referred.get_json()
    assert referred.get_json()["sheet"]["name"] == CANARY["name"]
    dispatched = counselor.post(
        "/api/v1/dispatches",
        json={
            "dong": GASAN,
            "urgency": "urgent",
            "requester_kind": "dong_center",
            "summary": "카나리아 출동 요청",
            "address": "카나리아로 99",
        },
    )
    assert dispatched.status_code == 201, dispatched.get_json()
    enrolled = counselor.post(
        "/api/v1/hygiene/enrollments",
        json={
            "resident_id": resident_id,
            "provider": "hygiene_care_provider",
            "services": ["bathing"],
            "rrule": "FREQ=WEEKLY",
            "dtstart": (now - timedelta(hours=1)).isoformat(),
        },
    )
    assert enrolled.status_code == 201, enrolled.get_json()
    visit = counselor.get("/api/v1/hygiene/visits").get_json()["items"][0]
    observed = counselor.post(
        f"/api/v1/hygiene/visits/{visit['id']}/record",
        json={
            "outcome": "done",
            "met": True,
            "health_concern": True,
            "observation": "카나리아 부종",
        },
    )
    assert observed.status_code == 200, observed.get_json()
    with get_database(app).engine.connect() as conn:
        audit_text = str(conn.execute(text("SELECT * FROM audit_events")).all())
    raw = raw_database_text(app, get_database(app).url)
    logs = caplog.text + str([r.__dict__ for r in caplog.records])
    for needle in NEEDLES:
        assert needle.encode() not in raw, needle
        assert needle not in logs, needle
        assert needle not in audit_text, needle
        assert all(needle not in body for body in bodies), needle
    assert resident_id in audit_text  # the access records name the resident by id only


def kimchi_round(app: Flask, counselor: FlaskClient, resident_id: str) -> list[Any]:
    """A kimchi box for the canary: allocated, on a volunteer's route, its sheet read and
    printed, an attempt with an observation and a concern, retried, and refused input."""
    supervisor = log_in(app, make_staff(app, "supervisor", (GASAN,)))
    today = datetime.now(UTC).date()
    campaign = supervisor.post(
        "/api/v1/kimchi/campaigns",
        json={
            "name": "김장 나눔",
            "starts_on": (today - timedelta(days=1)).isoformat(),
            "ends_on": (today + timedelta(days=5)).isoformat(),
            "box_count": 5,
        },
    ).get_json()
    allocations = f"/api/v1/kimchi/campaigns/{campaign['id']}/allocations"
    allocation = counselor.post(
        allocations, json={"resident_id": resident_id, "agency": "가산동 주민센터"}
    ).get_json()
    route = counselor.post(
        f"/api/v1/kimchi/campaigns/{campaign['id']}/routes",
        json={
            "name": "1회차",
            "delivery_on": today.isoformat(),
            "allocation_ids": [allocation["id"]],
            "volunteer_name": "카나리아봉사자",
        },
    ).get_json()
    attempt = {
        "outcome": "handed_over",
        "recipient_relation": "self",
        "occurred_at": datetime.now(UTC).isoformat(),
        "observation": "카나리아 관찰: 거동이 불편해 보임",
        "concern": True,
        "client_ref": "canary-attempt-1",
    }
    attempts = f"/api/v1/kimchi/allocations/{allocation['id']}/attempts"
    return [
        counselor.post(allocations, json={"resident_id": resident_id, "agency": "복지관"}),  # 409
        counselor.get(f"/api/v1/kimchi/routes/{route['id']}/sheet"),
        counselor.get(f"/api/v1/kimchi/routes/{route['id']}/sheet.csv"),
        counselor.post(attempts, json=attempt),
        counselor.post(attempts, json=attempt),  # the first attempt again
        counselor.post(attempts, json={**attempt, "concern": False}),  # 422: ref reused
        counselor.post(attempts, json={**attempt, "client_ref": "canary-attempt-2"}),  # 409
        counselor.get(attempts),
    ]


def test_mobility_canaries_never_reach_the_raw_database_logs_or_errors(
    committed_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """Evidence notes, addresses, a no-show's reason and a driver's name are sealed."""

    caplog.set_level(logging.DEBUG)
    app = committed_app
    counselor = log_in(app, make_staff(app, "counselor", (GASAN,)))
    supervisor = log_in(app, make_staff(app, "supervisor", (GASAN,)))
    resident_id = counselor.post("/api/v1/residents", json=CANARY).get_json()["id"]
    seoul = ZoneInfo("Asia/Seoul")
    today = datetime.now(seoul).date()
    start = datetime.combine(today + timedelta(days=1), time(10), tzinfo=seoul)
    ride = {
        "resident_id": resident_id,
        "pickup_address": "카나리아로 1 승차",
        "pickup_dong": GASAN,
        "dropoff_address": "카나리아병원 하차",
        "dropoff_dong": GASAN,
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(minutes=30)).isoformat(),
    }
    responses = [
        counselor.post(
            "/api/v1/mobility/eligibility",
            json={
                "resident_id": resident_id,
                "basis": "temporary",
                "valid_from": today.isoformat(),
                "valid_until": (today + timedelta(days=60)).isoformat(),
                "evidence": "카나리아 소견서",
            },
        ),
        counselor.post("/api/v1/mobility/rides", json=ride),
        counselor.post("/api/v1/mobility/rides", json=ride),  # 409 overlapping
        counselor.post("/api/v1/mobility/rides", json={**ride, "pickup_dong": "x"}),  # 422
        supervisor.post("/api/v1/mobility/drivers", json={"name": "카나리아기사"}),
        counselor.post(
            "/api/v1/mobility/recurring-rides",
            json={
                "resident_id": resident_id,
                "rrule": "FREQ=WEEKLY;BYDAY=MO",
                "pickup_time": "14:00",
                "starts_on": (today + timedelta(days=2)).isoformat(),
                "pickup_address": "카나리아로 반복",
                "pickup_dong": GASAN,
                "dropoff_address": "카나리아 투석",
                "dropoff_dong": GASAN,
            },
        ),
        supervisor.get("/api/v1/mobility/drivers"),
        counselor.get(f"/api/v1/residents/{resident_id}/timeline"),
    ]
    ride_id = responses[1].get_json()["id"]
    vehicle = supervisor.post(
        "/api/v1/mobility/vehicles",
        json={"plate": "서울00가0000", "seats": 4, "wheelchair_spaces": 1},
    ).get_json()["id"]
    driver = responses[4].get_json()["id"]
    assigned = supervisor.post(
        f"/api/v1/mobility/rides/{ride_id}/assign",
        json={"vehicle_id": vehicle, "driver_id": driver, "pickup_at": start.isoformat()},
    )
    assert assigned.status_code == 200, assigned.get_json()
    responses.append(
        counselor.post(
            f"/api/v1/mobility/rides/{ride_id}/outcome",
            json={
                "outcome": "cancelled",
                "occurred_at": datetime.now(UTC).isoformat(),
                "reason": "카나리아 사유",
            },
        )
    )
    assert [r.status_code for r in responses] == [201, 201, 409, 422, 201, 201, 200, 200, 200]
    bodies = [r.get_data(as_text=True) for r in responses if r.status_code >= 400]
    with get_database(app).engine.connect() as conn:
        audit_text = str(conn.execute(text("SELECT * FROM audit_events")).all())
    raw = raw_database_text(app, get_database(app).url)
    logs = caplog.text + str([r.__dict__ for r in caplog.records])
    for needle in NEEDLES:
        assert needle.encode() not in raw, needle
        assert needle not in logs, needle
        assert needle not in audit_text, needle
        assert all(needle not in body for body in bodies), needle
