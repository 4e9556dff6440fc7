"""The 24-hour care center API: requests at any hour, sealed callers, scope by dong, handover."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, select, text

from tests.support.casework import care_request, register
from tests.support.staff import DOKSAN1, GASAN
from welfare.models import AuditEvent, DataKey
from welfare.web import get_database


def events(app: Flask, action: str) -> list[AuditEvent]:
    with get_database(app).new_session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action)
                .order_by(AuditEvent.at, AuditEvent.id)
            )
        )


def created(client: Any, **overrides: Any) -> dict[str, Any]:
    response = care_request(client, **overrides)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def at(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


def test_a_request_answers_its_deadline_and_state(login_as: Any) -> None:
    client = login_as("counselor")
    received_at = datetime.now(UTC) - timedelta(minutes=10)
    response = care_request(client, received_at=received_at.isoformat())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/care-requests/{body['id']}"
    assert response.headers["ETag"] == '"v1"'
    assert (body["urgency"], body["state"], body["resident_id"]) == ("emergency", "received", None)
    assert at(body["received_at"]) == received_at
    assert at(body["respond_by"]) == received_at + timedelta(hours=1)
    assert body["responded_at"] is None and body["is_overdue"] is False
    assert (body["caller_name"], body["caller_phone"]) == ("이웃 김씨", "010-3456-7890")
    assert [e["kind"] for e in body["events"]] == ["received"]


def test_bad_requests_get_field_errors(login_as: Any) -> None:
    client = login_as("counselor")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for overrides, field in (
        ({"urgency": "whenever"}, "urgency"),
        ({"care_type": "space_travel"}, "care_type"),
        ({"received_at": future}, "received_at"),
        ({"caller_phone": "12"}, "caller_phone"),
        ({"dong": "1111111111"}, "dong"),
        ({"dong": DOKSAN1}, "dong"),  # outside the caller's scope
        ({"state": "done"}, "state"),  # never client-writable
    ):
        response = care_request(client, **overrides)
        assert response.status_code == 422, overrides
        assert field in response.get_json()["errors"], overrides
        assert "김씨" not in response.get_data(as_text=True)


def test_caller_details_and_summary_are_sealed(login_as: Any, connection: Connection) -> None:
    created(login_as("counselor"), caller_name="카나리아제보자", summary="카나리아요청")
    rows = connection.execute(text("SELECT * FROM care_requests")).all()
    assert "카나리아".encode() not in repr(rows).encode()
    for row in rows:
        for value in row:
            if isinstance(value, bytes | memoryview):
                assert "카나리아".encode() not in bytes(value)


def test_outreach_workers_see_the_caller_but_not_the_summary(login_as: Any) -> None:
    request = created(login_as("counselor"))
    seen = login_as("outreach").get(f"/api/v1/care-requests/{request['id']}").get_json()
    assert seen["caller_phone"] == "010-3456-7890"
    assert seen["summary"] is None
    assert login_as("admin").get(f"/api/v1/care-requests/{request['id']}").status_code == 403


def test_a_request_without_a_resident_stays_in_the_scope_of_its_dong(
    login_as: Any, app: Flask
) -> None:
    request = created(login_as("counselor"))
    neighbour = login_as("outreach", dongs=(GASAN,))
    assert neighbour.get(f"/api/v1/care-requests/{request['id']}").status_code == 200
    outsider = login_as("counselor", dongs=(DOKSAN1,))
    url = f"/api/v1/care-requests/{request['id']}"
    responses = [
        outsider.get(url),
        outsider.post(url + "/respond", json={"note": "x"}),
        outsider.post(url + "/handover", json={"to_staff_id": str(outsider.staff.id)}),
        outsider.post(url + "/outcome", json={"outcome": "closed"}),
    ]
    assert [r.status_code for r in responses] == [404] * len(responses)
    assert all("김씨" not in r.get_data(as_text=True) for r in responses)
    assert len(events(app, "access_denied")) == len(responses)
    assert outsider.get("/api/v1/care-requests/handover").get_json()["items"] == []
    creates = [e for e in events(app, "create") if e.resident_ids == []]
    assert len(creates) == 1  # recorded, with nobody to name yet


def test_a_request_can_be_linked_to_its_resident_later(login_as: Any, app: Flask) -> None:
    counselor = login_as("counselor")
    request = created(counselor, summary="아이 혼자 집에 있음", urgency="urgent")
    resident = register(counselor)
    url = f"/api/v1/care-requests/{request['id']}"
    counselor.post(url + "/handover", json={"to_staff_id": str(counselor.staff.id), "note": "인계"})
    linked = counselor.post(url + "/link", json={"resident_id": resident["id"]})
    assert linked.status_code == 200, linked.get_json()
    body = linked.get_json()
    assert body["resident_id"] == resident["id"] and body["linked_at"]
    assert (body["summary"], body["caller_name"]) == ("아이 혼자 집에 있음", "이웃 김씨")
    assert [e["note"] for e in body["events"] if e["kind"] == "handover"] == ["인계"]
    with get_database(app).new_session() as s:
        own_key = s.get(DataKey, uuid.UUID(request["id"]))
        assert own_key is not None and own_key.is_destroyed  # merged into the resident's key
    again = counselor.post(url + "/link", json={"resident_id": resident["id"]})
    assert again.status_code == 409
    assert again.get_json()["code"] == "already_linked"
    updates = [e for e in events(app, "update") if e.resident_ids == [resident["id"]]]
    assert len(updates) == 1


def test_linking_to_a_resident_outside_scope_is_404(login_as: Any) -> None:
    counselor = login_as("counselor", dongs=(GASAN, DOKSAN1))
    request = created(counselor)
    elsewhere = register(login_as("counselor", dongs=(DOKSAN1,)), dong=DOKSAN1)
    gasan_only = login_as("counselor", dongs=(GASAN,))
    linked = gasan_only.post(
        f"/api/v1/care-requests/{request['id']}/link", json={"resident_id": elsewhere["id"]}
    )
    assert linked.status_code == 404


def test_a_request_for_a_registered_resident_is_sealed_with_their_key(
    login_as: Any, app: Flask
) -> None:
    counselor = login_as("counselor")
    resident = register(counselor)
    request = created(counselor, resident_id=resident["id"])
    assert request["resident_id"] == resident["id"]
    with get_database(app).new_session() as s:
        assert s.get(DataKey, uuid.UUID(request["id"])) is None
    creates = [e for e in events(app, "create") if e.resident_ids == [resident["id"]]]
    assert len(creates) == 2  # the registration and the request


def test_responding_moves_the_state_on_once(login_as: Any) -> None:
    counselor = login_as("counselor")
    request = created(counselor)
    url = f"/api/v1/care-requests/{request['id']}/respond"
    assert counselor.post(url, json={}).status_code == 422
    answered = counselor.post(url, json={"note": "119 연계 후 현장 확인"})
    assert answered.status_code == 200, answered.get_json()
    body = answered.get_json()
    assert body["state"] == "responded"
    assert body["responded_at"] and body["responded_by"] == str(counselor.staff.id)
    assert body["assignee_id"] == str(counselor.staff.id)
    assert body["events"][-1]["note"] == "119 연계 후 현장 확인"
    assert body["events"][-1]["detail"]["in_time"] is True
    again = counselor.post(url, json={"note": "다시"})
    assert again.status_code == 409
    assert again.get_json()["code"] == "already_responded"


def test_a_handover_goes_to_staff_of_the_requests_dong(login_as: Any) -> None:
    night = login_as("counselor")
    day = login_as("outreach")
    elsewhere = login_as("counselor", dongs=(DOKSAN1,))
    request = created(night)
    url = f"/api/v1/care-requests/{request['id']}/handover"
    refused = night.post(url, json={"to_staff_id": str(elsewhere.staff.id)})
    assert refused.status_code == 422
    handed = night.post(url, json={"to_staff_id": str(day.staff.id), "note": "오전 방문 필요"})
    assert handed.status_code == 200
    body = handed.get_json()
    assert body["assignee_id"] == str(day.staff.id)
    assert body["events"][-1]["detail"]["to_staff_id"] == str(day.staff.id)
    assert (
        day.get(f"/api/v1/care-requests/{request['id']}").get_json()["events"][-1]["note"] is None
    )


def test_an_outcome_closes_the_request_and_drops_it_from_the_handover_view(
    login_as: Any,
) -> None:
    counselor = login_as("counselor")
    request = created(counselor)
    url = f"/api/v1/care-requests/{request['id']}"
    assert counselor.post(url + "/outcome", json={"outcome": "lost"}).status_code == 422
    done = counselor.post(url + "/outcome", json={"outcome": "referred", "note": "노인복지관 연계"})
    assert done.status_code == 200
    assert (done.get_json()["state"], done.get_json()["outcome"]) == ("done", "referred")
    assert counselor.get("/api/v1/care-requests/handover").get_json()["items"] == []
    closed = counselor.post(url + "/respond", json={"note": "x"})
    assert closed.get_json()["code"] == "care_request_closed"


def test_the_handover_view_lists_open_requests_by_deadline(login_as: Any) -> None:
    client = login_as("counselor", dongs=(GASAN, DOKSAN1))
    now = datetime.now(UTC)
    normal = created(client, urgency="normal")
    late = created(client, urgency="emergency", received_at=(now - timedelta(hours=2)).isoformat())
    urgent = created(client, urgency="urgent", dong=DOKSAN1)
    answered = created(client, urgency="emergency")
    client.post(f"/api/v1/care-requests/{answered['id']}/respond", json={"note": "응대"})
    first = client.get("/api/v1/care-requests/handover?limit=2").get_json()
    ids = [r["id"] for r in first["items"]]
    second = client.get(f"/api/v1/care-requests/handover?cursor={first['next_cursor']}").get_json()
    ids += [r["id"] for r in second["items"]]
    assert ids == [late["id"], answered["id"], urgent["id"], normal["id"]]
    assert first["items"][0]["is_overdue"] is True
    gasan = client.get(f"/api/v1/care-requests/handover?dong={GASAN}").get_json()["items"]
    assert urgent["id"] not in [r["id"] for r in gasan]


def test_caller_canaries_reach_no_log_line_and_no_error_body(
    login_as: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = {"caller_name": "카나리아신고자", "caller_phone": "010-8642-1357"}
    counselor = login_as("counselor")
    request = created(counselor, summary="카나리아요약", **canary)
    outsider = login_as("counselor", dongs=(DOKSAN1,))
    bodies = [
        care_request(counselor, urgency="whenever", **canary).get_data(as_text=True),
        care_request(counselor, dong=DOKSAN1, **canary).get_data(as_text=True),
        outsider.get(f"/api/v1/care-requests/{request['id']}").get_data(as_text=True),
    ]
    counselor.post(f"/api/v1/care-requests/{request['id']}/respond", json={"note": "카나리아응대"})
    logs = caplog.text + str([r.__dict__ for r in caplog.records])
    for needle in ("카나리아", "86421357", "8642-1357"):
        assert needle not in logs, needle
        assert all(needle not in body for body in bodies), needle
