"""Cases: one open case per program, workflows as data, sealed notes, closure, referrals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import IntegrityError

from tests.support.casework import consent, open_case, register
from tests.support.staff import DOKSAN1, GASAN
from welfare.models import AuditEvent, Case
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


def case_in(client: Any, program: str = "care_center") -> dict[str, Any]:
    resident = register(client)
    response = open_case(client, resident["id"], program)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def move(client: Any, case: dict[str, Any], to: str) -> Any:
    return client.post(f"/api/v1/cases/{case['id']}/transitions", json={"to": to})


def test_opening_a_case_answers_it_in_its_programs_first_status(login_as: Any) -> None:
    client = login_as("counselor")
    resident = register(client)
    response = open_case(client, resident["id"], "care_center", assignee_id=str(client.staff.id))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/cases/{body['id']}"
    assert response.headers["ETag"] == '"v1"'
    assert body["resident_id"] == resident["id"]
    assert (body["program"], body["status"], body["priority"]) == (
        "care_center",
        "intake",
        "normal",
    )
    assert body["assignee_id"] == str(client.staff.id)
    assert body["opened_at"] and body["closed_at"] is None
    assert body["next_statuses"] == ["active", "assessment"]


def test_a_second_open_case_in_the_same_program_is_refused(login_as: Any) -> None:
    client = login_as("counselor")
    resident = register(client)
    first = open_case(client, resident["id"], "ongi").get_json()
    again = open_case(client, resident["id"], "ongi")
    assert again.status_code == 409
    assert again.get_json()["code"] == "case_already_open"
    assert again.get_json()["existing_id"] == first["id"]
    assert open_case(client, resident["id"], "kimchi").status_code == 201


def test_a_closed_case_makes_room_for_a_new_one_in_its_program(login_as: Any) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    case = case_in(counselor)
    counselor.post(f"/api/v1/cases/{case['id']}/closure-request", json={})
    supervisor.post(f"/api/v1/cases/{case['id']}/closure-decision", json={"approve": True})
    assert open_case(counselor, case["resident_id"], "care_center").status_code == 201


def test_a_case_for_an_unknown_program_or_resident_is_refused(login_as: Any) -> None:
    client = login_as("counselor")
    resident = register(client)
    assert open_case(client, resident["id"], "bowling").status_code == 422
    missing = open_case(client, "00000000-0000-4000-8000-000000000001")
    assert missing.status_code == 404


def test_an_assignee_must_work_in_the_cases_dong(login_as: Any) -> None:
    client = login_as("counselor")
    other = login_as("counselor", dongs=(DOKSAN1,))
    resident = register(client)
    refused = open_case(client, resident["id"], assignee_id=str(other.staff.id))
    assert refused.status_code == 422
    assert "assignee_id" in refused.get_json()["errors"]


def test_an_update_needs_the_current_etag(login_as: Any) -> None:
    client = login_as("counselor")
    created = open_case(client, register(client)["id"])
    url = created.headers["Location"]
    assert client.patch(url, json={"priority": "high"}).status_code == 428
    ok = client.patch(url, json={"priority": "high"}, headers={"If-Match": created.headers["ETag"]})
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["priority"] == "high"
    assert ok.headers["ETag"] == '"v2"'
    stale = client.patch(
        url, json={"priority": "low"}, headers={"If-Match": created.headers["ETag"]}
    )
    assert stale.status_code == 412
    assert client.get(url).get_json()["priority"] == "high"


def test_status_and_owner_fields_cannot_be_patched(login_as: Any) -> None:
    client = login_as("counselor")
    created = open_case(client, register(client)["id"])
    for field, value in (("status", "closed"), ("resident_id", created.get_json()["resident_id"])):
        response = client.patch(
            created.headers["Location"],
            json={field: value},
            headers={"If-Match": created.headers["ETag"]},
        )
        assert response.status_code == 422, field


def test_transitions_follow_the_programs_workflow(login_as: Any) -> None:
    client = login_as("counselor")
    care = case_in(client, "care_center")
    ongi = case_in(client, "ongi")
    assert move(client, care, "active").get_json()["status"] == "active"  # crisis: no assessment
    refused = move(client, ongi, "active")
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "transition_not_allowed"
    assert refused.get_json()["allowed"] == ["assessment"]
    assert move(client, ongi, "assessment").status_code == 200
    assert move(client, ongi, "active").status_code == 200


def test_closing_is_never_a_plain_transition(login_as: Any) -> None:
    client = login_as("counselor")
    case = case_in(client)
    for to in ("closed", "closure_requested"):
        response = move(client, case, to)
        assert response.status_code == 409
        assert response.get_json()["code"] == "closure_protocol_required"


def test_a_stale_if_match_on_a_transition_is_refused(login_as: Any) -> None:
    client = login_as("counselor")
    case = case_in(client)
    assert move(client, case, "assessment").status_code == 200
    stale = client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"to": "active"},
        headers={"If-Match": '"v1"'},
    )
    assert stale.status_code == 412


def test_notes_are_sealed_and_carry_their_author_and_time(
    login_as: Any, connection: Connection
) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    case = case_in(counselor)
    url = f"/api/v1/cases/{case['id']}/notes"
    written = counselor.post(url, json={"body": "투석 일정 때문에 오전 방문 불가"})
    assert written.status_code == 201, written.get_json()
    notes = supervisor.get(url).get_json()["items"]
    assert [(n["body"], n["author_id"], n["kind"]) for n in notes] == [
        ("투석 일정 때문에 오전 방문 불가", str(counselor.staff.id), "note")
    ]
    assert notes[0]["written_at"]
    raw = connection.execute(text("SELECT body_enc FROM case_notes")).scalars().all()
    assert raw and all("투석".encode() not in bytes(blob) for blob in raw)


def test_outreach_workers_cannot_read_or_write_notes(login_as: Any) -> None:
    counselor = login_as("counselor")
    outreach = login_as("outreach")
    case = case_in(counselor)
    counselor.post(f"/api/v1/cases/{case['id']}/notes", json={"body": "우울감 호소"})
    assert outreach.get(f"/api/v1/cases/{case['id']}/notes").status_code == 403
    assert outreach.post(f"/api/v1/cases/{case['id']}/notes", json={"body": "x"}).status_code == 403
    seen = outreach.get(f"/api/v1/cases/{case['id']}")
    assert seen.status_code == 200
    assert "우울감" not in seen.get_data(as_text=True)


def test_admins_see_no_case_content(login_as: Any) -> None:
    case = case_in(login_as("counselor"))
    admin = login_as("admin")
    for path in ("", "/notes", "/referrals"):
        assert admin.get(f"/api/v1/cases/{case['id']}{path}").status_code == 403


def test_closure_is_requested_by_a_counselor_and_approved_by_a_supervisor(
    login_as: Any, app: Flask
) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    case = case_in(counselor)
    url = f"/api/v1/cases/{case['id']}"
    asked = counselor.post(url + "/closure-request", json={"note": "자녀와 동거 시작"})
    assert asked.status_code == 200, asked.get_json()
    assert asked.get_json()["status"] == "closure_requested"
    assert asked.get_json()["closure_requested_by"] == str(counselor.staff.id)
    assert asked.get_json()["next_statuses"] == []
    assert move(counselor, case, "active").get_json()["code"] == "closure_pending"
    assert counselor.post(url + "/closure-decision", json={"approve": True}).status_code == 403
    approved = supervisor.post(url + "/closure-decision", json={"approve": True, "note": "확인"})
    assert approved.status_code == 200, approved.get_json()
    body = approved.get_json()
    assert (body["status"], body["closed_by"]) == ("closed", str(supervisor.staff.id))
    assert body["closed_at"]
    kinds = [n["kind"] for n in supervisor.get(url + "/notes").get_json()["items"]]
    assert kinds == ["closure_request", "closure_decision"]
    assert counselor.post(url + "/notes", json={"body": "늦은 메모"}).status_code == 409


def test_a_supervisor_can_send_a_closure_back_to_work(login_as: Any) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    case = case_in(counselor, "mobility")
    url = f"/api/v1/cases/{case['id']}"
    counselor.post(url + "/closure-request", json={})
    sent_back = supervisor.post(
        url + "/closure-decision", json={"approve": False, "note": "정기 투석 이동 계속 필요"}
    )
    assert sent_back.status_code == 200
    body = sent_back.get_json()
    assert (body["status"], body["closed_at"], body["closure_requested_at"]) == (
        "active",
        None,
        None,
    )
    again = supervisor.post(url + "/closure-decision", json={"approve": True})
    assert again.get_json()["code"] == "closure_not_requested"


def test_a_supervisor_does_not_approve_their_own_closure_request(login_as: Any) -> None:
    supervisor = login_as("supervisor")
    case = case_in(supervisor)
    url = f"/api/v1/cases/{case['id']}"
    supervisor.post(url + "/closure-request", json={})
    own = supervisor.post(url + "/closure-decision", json={"approve": True})
    assert own.status_code == 409
    assert own.get_json()["code"] == "own_closure_request"
    other = login_as("supervisor").post(url + "/closure-decision", json={"approve": True})
    assert other.status_code == 200


def test_a_referral_without_consent_is_refused(login_as: Any) -> None:
    client = login_as("counselor")
    case = case_in(client)
    url = f"/api/v1/cases/{case['id']}/referrals"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for payload in (
        {"program": "mobility", "reason": "투석 이동"},
        {"program": "mobility", "reason": "투석 이동", "consent": None},
        {"program": "mobility", "reason": "투석 이동", "consent": {}},
        {"program": "mobility", "reason": "투석 이동", "consent": consent(given_by="")},
        {"program": "mobility", "reason": "투석 이동", "consent": consent(given_at=future)},
    ):
        response = client.post(url, json=payload)
        assert response.status_code == 422, payload
        assert "consent" in str(response.get_json()["errors"]), payload
    resident_cases = client.get(f"/api/v1/residents/{case['resident_id']}/cases").get_json()
    assert [c["program"] for c in resident_cases["items"]] == ["care_center"]


def test_a_referral_with_consent_opens_an_intake_case_in_the_target_programs_queue(
    login_as: Any,
) -> None:
    counselor = login_as("counselor")
    case = case_in(counselor)
    move(counselor, case, "active")
    referred = counselor.post(
        f"/api/v1/cases/{case['id']}/referrals",
        json={"program": "mobility", "reason": "주 3회 투석 이동 필요", "consent": consent()},
    )
    assert referred.status_code == 201, referred.get_json()
    body = referred.get_json()
    assert referred.headers["Location"] == f"/api/v1/cases/{body['id']}"
    assert (body["program"], body["status"]) == ("mobility", "intake")
    assert body["referred_from_case_id"] == case["id"]
    assert body["assignee_id"] is None
    referral = body["referral"]
    assert (referral["from_program"], referral["to_program"]) == ("care_center", "mobility")
    assert referral["consent"]["given_by"] == "본인"
    assert referral["consent"]["scope"].startswith("이동지원센터")
    mobility_staff = login_as("counselor")
    queue = mobility_staff.get("/api/v1/cases?program=mobility&status=intake").get_json()
    assert [c["id"] for c in queue["items"]] == [body["id"]]
    listed = counselor.get(f"/api/v1/cases/{case['id']}/referrals").get_json()["items"]
    assert [r["to_case_id"] for r in listed] == [body["id"]]
    assert counselor.get(f"/api/v1/cases/{case['id']}").get_json()["status"] == "active"


def test_a_referral_into_a_program_with_an_open_case_is_a_conflict(login_as: Any) -> None:
    client = login_as("counselor")
    case = case_in(client)
    open_case(client, case["resident_id"], "kimchi")
    response = client.post(
        f"/api/v1/cases/{case['id']}/referrals",
        json={"program": "kimchi", "reason": "김장철 지원", "consent": consent()},
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "case_already_open"
    same = client.post(
        f"/api/v1/cases/{case['id']}/referrals",
        json={"program": "care_center", "reason": "x", "consent": consent()},
    )
    assert same.status_code == 422


def test_the_resident_page_shows_every_program_open_first(login_as: Any) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    resident = register(counselor)
    ids = {
        p: open_case(counselor, resident["id"], p).get_json()["id"]
        for p in ("care_center", "ongi", "kimchi")
    }
    counselor.post(f"/api/v1/cases/{ids['kimchi']}/closure-request", json={})
    supervisor.post(f"/api/v1/cases/{ids['kimchi']}/closure-decision", json={"approve": True})
    items = login_as("outreach").get(f"/api/v1/residents/{resident['id']}/cases").get_json()
    assert {c["program"] for c in items["items"]} == {"care_center", "ongi", "kimchi"}
    assert items["items"][-1]["program"] == "kimchi"  # closed cases come last


def test_the_queue_pages_through_the_callers_dongs_only(login_as: Any) -> None:
    client = login_as("counselor", dongs=(GASAN, DOKSAN1))
    mine = {case_in(client)["id"] for _ in range(3)}
    mine.add(open_case(client, register(client, dong=DOKSAN1)["id"]).get_json()["id"])
    outsider = login_as("counselor", dongs=(DOKSAN1,))
    first = client.get("/api/v1/cases?program=care_center&limit=2").get_json()
    seen = [c["id"] for c in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"/api/v1/cases?program=care_center&limit=2&cursor={cursor}")
        seen += [c["id"] for c in page.get_json()["items"]]
        cursor = page.get_json()["next_cursor"]
    assert sorted(seen) == sorted(mine)
    assert len(outsider.get("/api/v1/cases").get_json()["items"]) == 1


def test_out_of_scope_staff_get_404_for_cases_notes_and_referrals(
    login_as: Any, app: Flask
) -> None:
    counselor = login_as("counselor")
    case = case_in(counselor)
    counselor.post(f"/api/v1/cases/{case['id']}/notes", json={"body": "비밀 메모"})
    outsider = login_as("counselor", dongs=(DOKSAN1,))
    url = f"/api/v1/cases/{case['id']}"
    responses = [
        outsider.get(url),
        outsider.get(url + "/notes"),
        outsider.post(url + "/notes", json={"body": "x"}),
        outsider.get(url + "/referrals"),
        outsider.post(
            url + "/referrals", json={"program": "ongi", "reason": "x", "consent": consent()}
        ),
        outsider.get(f"/api/v1/residents/{case['resident_id']}/cases"),
    ]
    assert [r.status_code for r in responses] == [404] * len(responses)
    assert all("비밀" not in r.get_data(as_text=True) for r in responses)
    denied = events(app, "access_denied")
    assert len(denied) == len(responses)
    assert {str(rid) for e in denied for rid in e.resident_ids} == {case["resident_id"]}


def test_every_case_read_leaves_an_access_record(login_as: Any, app: Flask) -> None:
    counselor = login_as("counselor")
    case = case_in(counselor)
    reader = login_as("supervisor")
    reader.get(f"/api/v1/cases/{case['id']}")
    reader.get(f"/api/v1/cases/{case['id']}/notes")
    reads = [e for e in events(app, "read") if e.staff_id == reader.staff.id]
    assert [e.resident_ids for e in reads] == [[case["resident_id"]]] * 2


def test_the_database_itself_refuses_a_second_open_case(login_as: Any, app: Flask) -> None:
    client = login_as("counselor")
    case = case_in(client)
    with get_database(app).new_session() as s:
        s.add(
            Case(
                id=uuid.uuid4(),
                resident_id=uuid.UUID(case["resident_id"]),
                dong_code=GASAN,
                program="care_center",
                status="intake",
                opened_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
        with pytest.raises(IntegrityError):
            s.flush()
