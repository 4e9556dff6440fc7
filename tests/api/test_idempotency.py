"""Idempotency that tells the truth: the same key and body answer the first result, the same key
with another body is refused, and keys belong to whoever sent them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.casework import register
from tests.support.staff import DOKSAN1, GASAN
from welfare.database import Database
from welfare.models import AuditEvent, Contact

AT = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()


def contact(client: Any, resident_id: str, **overrides: Any) -> Any:
    body = {
        "resident_id": resident_id,
        "channel": "phone",
        "outcome": "reached",
        "occurred_at": AT,
        "client_ref": "phone-app-0001",
        "note": "안부 통화",
        **overrides,
    }
    return client.post("/api/v1/contacts", json=body)


def count(db: Database) -> int:
    with db.new_session() as s:
        return int(s.scalar(select(func.count()).select_from(Contact)) or 0)


def test_the_same_key_and_body_answers_the_first_contact_and_records_the_read(
    login_as: Any, db: Database
) -> None:
    client = login_as("outreach")
    rid = register(login_as("counselor"))["id"]
    first = contact(client, rid)
    again = contact(client, rid)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert count(db) == 1
    with db.new_session() as s:
        last = s.scalars(
            select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        ).first()
    assert last is not None and (last.action, last.resident_ids) == ("read", [rid])


@pytest.mark.parametrize(
    "other",
    [{"outcome": "no_answer"}, {"channel": "visit"}, {"note": "다른 메모"}, {"occurred_at": None}],
)
def test_the_same_key_with_another_body_is_refused_and_writes_nothing(
    login_as: Any, db: Database, other: dict[str, Any]
) -> None:
    client = login_as("outreach")
    rid = register(login_as("counselor"))["id"]
    assert contact(client, rid).status_code == 201
    if other.get("occurred_at", "") is None:
        other = {"occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
    refused = contact(client, rid, **other)
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "idempotency_key_reused"
    assert "client_ref" in refused.get_json()["errors"]
    assert count(db) == 1


def test_the_same_key_for_another_resident_is_refused(login_as: Any) -> None:
    counselor = login_as("counselor")
    client = login_as("outreach")
    first, second = register(counselor)["id"], register(counselor)["id"]
    assert contact(client, first).status_code == 201
    assert contact(client, second).get_json()["code"] == "idempotency_key_reused"


def test_keys_belong_to_whoever_sent_them(login_as: Any, db: Database) -> None:
    gasan = login_as("outreach", (GASAN,))
    doksan = login_as("outreach", (DOKSAN1,))
    mine = register(login_as("counselor", (GASAN,)))["id"]
    theirs = register(login_as("counselor", (DOKSAN1,)), dong=DOKSAN1)["id"]
    assert contact(gasan, mine).status_code == 201
    # Another team's phone app happens to use the same ref for its own resident: no 404.
    assert contact(doksan, theirs).status_code == 201
    assert count(db) == 2


def test_a_gateway_event_id_reused_for_another_event_is_reported(login_as: Any, app: Any) -> None:
    counselor = login_as("counselor")
    gateway = login_as("gateway")
    rid = register(counselor)["id"]
    source = counselor.post(
        "/api/v1/signals/sources",
        json={"resident_id": rid, "kind": "sensor_activity", "source_ref": "plug-42"},
    )
    assert source.status_code == 201

    def send(occurred: str) -> str:
        event = {
            "event_id": "evt-1",
            "kind": "sensor_activity",
            "source_ref": "plug-42",
            "occurred_at": occurred,
        }
        response = gateway.post("/api/v1/signals", json={"events": [event]})
        assert response.status_code == 200, response.get_json()
        return str(response.get_json()["results"][0]["status"])

    assert send(AT) == "accepted"
    assert send(AT) == "duplicate"
    later = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert send(later) == "key_reused"
