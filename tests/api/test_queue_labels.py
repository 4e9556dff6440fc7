"""Queues carry who each item is about: the resident's name and masked details, decrypted in one
batch per page, under one access record for the page; a damaged name never fails the page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Uuid, bindparam, event, select, text

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from tests.support.casework import care_request, open_case, register, unique_rrn
from tests.support.clock import Clock
from tests.support.staff import GASAN
from welfare.database import Database
from welfare.models import AuditEvent
from welfare.web import get_database

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
NAMES = ["김하나", "이두리", "박세나", "최네모", "정다섯", "한여섯", "오일곱", "유여덟"]


@pytest.fixture
def clock(app: Flask) -> Clock:
    return Clock(NOW).install(app)


@pytest.fixture
def counselor(login_as: Any, clock: Clock) -> Any:
    return login_as("counselor")


def lapsed(app: Flask, client: Any, names: list[str]) -> list[str]:
    """Residents enrolled in Ongi a day ago at high risk, raised as lapses by a tick."""
    ids = []
    for i, name in enumerate(names):
        rid = register(client, name=name, phone=f"010-2000-{1000 + i}")["id"]
        response = client.post(
            "/api/v1/ongi/enrollments",
            json={
                "resident_id": rid,
                "risk_level": "high",
                "enrolled_at": (NOW - timedelta(hours=25 + i)).isoformat(),
            },
        )
        assert response.status_code == 201
        ids.append(rid)
    result = run_job(get_database(app), Job("followups", run_followups), as_of=NOW)
    assert result.status == "succeeded"
    return ids


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def access_records(db: Database, action: str) -> list[AuditEvent]:
    with db.new_session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_follow_up_queue_items_carry_the_residents_name_and_masked_phone(
    app: Flask, counselor: Any
) -> None:
    ids = lapsed(app, counselor, NAMES[:2])
    items = counselor.get("/api/v1/followups").get_json()["items"]
    by_resident = {i["resident_id"]: i["resident"] for i in items}
    assert set(by_resident) == set(ids)
    first = by_resident[ids[0]]
    assert first["id"] == ids[0]
    assert first["name"] == NAMES[0]
    assert first["phone_masked"] == "010-****-1000"
    assert first["dong"] == GASAN and first["unreadable"] is False
    assert isinstance(first["birth_year"], int) and first["sex"] in ("male", "female")
    assert "rrn" not in str(first) and "rrn_masked" not in first
    detail = counselor.get(f"/api/v1/followups/{items[0]['id']}").get_json()
    assert detail["resident"]["name"] == by_resident[items[0]["resident_id"]]["name"]


def test_a_page_of_names_is_one_access_record_and_a_constant_number_of_queries(
    app: Flask, counselor: Any, db: Database
) -> None:
    lapsed(app, counselor, NAMES[:1])
    with statements(db) as one:
        assert len(counselor.get("/api/v1/followups").get_json()["items"]) == 1
    lapsed(app, counselor, NAMES[1:])
    before = len(access_records(db, "search"))
    with statements(db) as many:
        items = counselor.get("/api/v1/followups").get_json()["items"]
    assert len(items) == len(NAMES)
    assert all(i["resident"]["name"] in NAMES for i in items)
    # Batched: eight residents cost the same statements as one (no query per row).
    assert len(many) == len(one)
    searches = access_records(db, "search")
    assert len(searches) == before + 1
    assert sorted(searches[-1].resident_ids) == sorted(i["resident_id"] for i in items)


def corrupt_name(db: Database, *, source: str, target: str) -> None:
    """Raw SQL, as an attacker with database access would: one resident's name ciphertext copied
    onto another, so it fails authentication there."""
    statement = text(
        "UPDATE residents SET name_enc = (SELECT r.name_enc FROM residents r WHERE r.id = :source)"
        " WHERE id = :target"
    ).bindparams(bindparam("source", type_=Uuid()), bindparam("target", type_=Uuid()))
    with db.new_session() as s:
        s.execute(statement, {"source": uuid.UUID(source), "target": uuid.UUID(target)})
        s.commit()


def test_one_damaged_name_is_marked_and_recorded_and_the_rest_of_the_page_is_served(
    app: Flask, counselor: Any, db: Database
) -> None:
    ids = lapsed(app, counselor, NAMES[:3])
    corrupt_name(db, source=ids[0], target=ids[1])
    response = counselor.get("/api/v1/followups")
    assert response.status_code == 200
    labels = {i["resident_id"]: i["resident"] for i in response.get_json()["items"]}
    assert labels[ids[1]]["unreadable"] is True and labels[ids[1]]["name"] is None
    assert labels[ids[1]]["phone_masked"] == "010-****-1001"  # the phone still reads
    assert [labels[ids[0]]["name"], labels[ids[2]]["name"]] == [NAMES[0], NAMES[2]]
    failures = access_records(db, "decrypt_failed")
    assert [f.resident_ids for f in failures] == [[ids[1]]]


def test_case_queue_and_care_handover_carry_resident_labels(counselor: Any) -> None:
    person = register(counselor, name="안나래", rrn=unique_rrn(), phone="010-7777-1234")
    assert open_case(counselor, person["id"], "ongi").status_code == 201
    cases = counselor.get("/api/v1/cases").get_json()["items"]
    assert [(c["resident_id"], c["resident"]["name"]) for c in cases] == [(person["id"], "안나래")]
    assert cases[0]["resident"]["phone_masked"] == "010-****-1234"
    linked = care_request(counselor, resident_id=person["id"])
    walk_in = care_request(counselor)
    assert linked.status_code == walk_in.status_code == 201
    handover = counselor.get("/api/v1/care-requests/handover").get_json()["items"]
    labels = {h["id"]: h["resident"] for h in handover}
    assert labels[linked.get_json()["id"]]["name"] == "안나래"
    assert labels[walk_in.get_json()["id"]] is None  # nobody registered yet
    detail = counselor.get(f"/api/v1/care-requests/{linked.get_json()['id']}").get_json()
    assert detail["resident"]["name"] == "안나래"


def test_overdue_means_past_due_and_escalation_due_is_its_own_filter(
    app: Flask, counselor: Any, clock: Clock, login_as: Any
) -> None:
    lapsed(app, counselor, NAMES[:2])  # due an hour or two before NOW; next rung hours ahead
    client = counselor

    def queue(**filters: str) -> list[Any]:
        response = client.get("/api/v1/followups", query_string=filters)
        assert response.status_code == 200, response.get_json()
        return list(response.get_json()["items"])

    assert len(queue(overdue="true")) == 2
    assert queue(overdue="false") == []
    assert queue(escalation_due="true") == []
    assert len(queue(escalation_due="false")) == 2
    first_rung = min(i["next_escalation_at"] for i in queue())
    clock.advance(seconds=(datetime.fromisoformat(first_rung) - NOW).total_seconds() + 1)
    client = login_as("counselor")  # hours later: the first session has timed out
    assert len(queue(escalation_due="true")) >= 1


@pytest.mark.parametrize(
    ("name", "value"), [("program", "bogus"), ("reason", "bogus"), ("state", "done")]
)
def test_an_unknown_filter_value_is_a_422(counselor: Any, name: str, value: str) -> None:
    response = counselor.get("/api/v1/followups", query_string={name: value})
    assert response.status_code == 422
    assert name in response.get_json()["errors"]
