"""The resident registry API: register, read, update, search, reveal, list, erase."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from services import audit
from services.residents import registration
from tests.support.casework import with_check_digit
from tests.support.staff import DOKSAN1, GASAN
from welfare.models import AuditEvent
from welfare.web import get_database

RRN = "900101-1234568"
RESIDENT = {
    "name": "김영희",
    "rrn": RRN,
    "dong": GASAN,
    "phone": "010-2345-6789",
    "address": "서울특별시 금천구 가산로 1",
    "household_type": "single",
    "notes": "당뇨 관리 필요",
}


def register(client: Any, **overrides: Any) -> Any:
    return client.post("/api/v1/residents", json={**RESIDENT, **overrides})


def events(app: Flask, action: str) -> list[AuditEvent]:
    with get_database(app).new_session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action)
                .order_by(AuditEvent.at, AuditEvent.id)
            )
        )


def test_registering_a_resident_answers_the_masked_body(login_as: Any) -> None:
    response = register(login_as("counselor"))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/residents/{body['id']}"
    assert response.headers["ETag"] == '"v1"'
    assert body["rrn_masked"] == "900101-1******"
    assert body["birth_date"] == "1990-01-01"
    assert body["sex"] == "male"
    assert body["phone"] == "010-2345-6789"
    assert body["name"] == "김영희"
    assert body["status"] == "active"
    assert "1234561" not in response.get_data(as_text=True)


def test_the_same_rrn_in_another_spelling_is_a_conflict(login_as: Any) -> None:
    client = login_as("counselor")
    first = register(client).get_json()
    again = register(client, rrn="９００１０１１２３４５６８", name="다른이름")
    assert again.status_code == 409
    assert again.get_json()["code"] == "resident_exists"
    assert again.get_json()["existing_id"] == first["id"]


def test_a_conflict_outside_scope_does_not_reveal_the_existing_id(login_as: Any) -> None:
    register(login_as("counselor", dongs=(GASAN,)))
    other = login_as("counselor", dongs=(DOKSAN1,))
    again = register(other, dong=DOKSAN1)
    assert again.status_code == 409
    assert "existing_id" not in again.get_json()


def test_a_duplicate_registration_is_recorded_though_the_request_fails(
    login_as: Any, app: Flask
) -> None:
    """The 409 stays (deduplication needs it), and it tells the caller the person is registered
    somewhere: the attempt is an access record naming the existing resident, committed although
    the request is refused. That resident's dong sees whom; the caller's dong sees only that."""
    existing = register(login_as("counselor", dongs=(GASAN,))).get_json()["id"]
    same_dong = login_as("counselor", dongs=(GASAN,))
    other_dong = login_as("counselor", dongs=(DOKSAN1,))
    assert register(same_dong).status_code == 409
    assert register(other_dong, dong=DOKSAN1).status_code == 409
    conflicts = [e for e in events(app, "create") if e.outcome == "conflict"]
    assert [(e.staff_id, e.resident_ids, e.reason) for e in conflicts] == [
        (same_dong.staff.id, [existing], None),
        (other_dong.staff.id, [existing], None),
    ]
    with get_database(app).new_session() as s:
        assert audit.verify_chain(s, "access").ok

    gasan = login_as("supervisor", dongs=(GASAN,))
    seen = gasan.get(f"/api/v1/audit/events?resident_id={existing}&action=create").get_json()
    assert [(i["staff_id"], i["outcome"]) for i in seen["items"][:2]] == [
        (str(other_dong.staff.id), "conflict"),
        (str(same_dong.staff.id), "conflict"),
    ]
    doksan = login_as("supervisor", dongs=(DOKSAN1,))
    own = doksan.get(f"/api/v1/audit/events?staff_id={other_dong.staff.id}").get_json()["items"]
    (attempt,) = [i for i in own if i["outcome"] == "conflict"]
    assert (attempt["action"], attempt["resident_ids"], attempt["resident_ids_withheld"]) == (
        "create",
        [],
        1,
    )


def test_a_duplicate_that_lost_a_race_is_recorded_too(
    login_as: Any, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two registrations of one person at once: the unique index refuses the second insert,
    and its 409 is recorded exactly like the one the check before the insert gives."""
    existing = register(login_as("counselor")).get_json()["id"]
    check = registration._refuse_duplicate
    calls: list[int] = []

    def not_yet_visible(*args: Any) -> None:
        calls.append(1)
        if len(calls) > 1:  # after the unique index fired and the insert was rolled back
            check(*args)

    monkeypatch.setattr(registration, "_refuse_duplicate", not_yet_visible)
    late = login_as("counselor")
    assert register(late).status_code == 409
    assert len(calls) == 2
    conflicts = [e for e in events(app, "create") if e.outcome == "conflict"]
    assert [(e.staff_id, e.resident_ids) for e in conflicts] == [(late.staff.id, [existing])]


def test_invalid_rrn_phone_and_dong_get_field_errors(login_as: Any) -> None:
    response = register(
        login_as("counselor"), rrn="900230-1234563", phone="099-1", dong="1111111111"
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert {"rrn", "phone", "dong"} <= set(errors)
    assert "900230" not in response.get_data(as_text=True)


def test_a_dong_outside_scope_cannot_be_registered(login_as: Any) -> None:
    response = register(login_as("counselor", dongs=(GASAN,)), dong=DOKSAN1)
    assert response.status_code == 422
    assert "scope" in response.get_json()["errors"]["dong"][0]


def test_out_of_scope_reads_are_404_and_recorded_as_denied(login_as: Any, app: Flask) -> None:
    resident = register(login_as("counselor")).get_json()
    other = login_as("counselor", dongs=(DOKSAN1,))
    assert other.get(f"/api/v1/residents/{resident['id']}").status_code == 404
    denied = events(app, "access_denied")
    assert [e.resident_ids for e in denied] == [[resident["id"]]]
    assert denied[0].outcome == "denied"


def test_every_read_leaves_an_access_record(login_as: Any, app: Flask) -> None:
    client = login_as("outreach")
    creator = login_as("counselor")
    resident = register(creator).get_json()
    assert client.get(f"/api/v1/residents/{resident['id']}").status_code == 200
    reads = events(app, "read")
    assert [(e.staff_id, e.resident_ids) for e in reads] == [(client.staff.id, [resident["id"]])]


def test_outreach_workers_do_not_see_notes(login_as: Any) -> None:
    resident = register(login_as("counselor")).get_json()
    assert resident["notes"] == "당뇨 관리 필요"
    seen = login_as("outreach").get(f"/api/v1/residents/{resident['id']}").get_json()
    assert "notes" not in seen
    assert seen["phone"] == "010-2345-6789"


def test_admins_and_gateways_see_no_residents(login_as: Any) -> None:
    resident = register(login_as("counselor")).get_json()
    for role in ("admin", "gateway"):
        assert (
            login_as(role, dongs=(GASAN,)).get(f"/api/v1/residents/{resident['id']}").status_code
            == 403
        )


def test_an_update_needs_the_current_etag(login_as: Any) -> None:
    client = login_as("counselor")
    created = register(client)
    url = created.headers["Location"]
    assert client.patch(url, json={"address": "새 주소"}).status_code == 428
    ok = client.patch(
        url,
        json={"address": "새 주소", "phone": "+82 10 9999 8888"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["phone"] == "010-9999-8888"
    stale = client.patch(
        url, json={"address": "덮어쓰기"}, headers={"If-Match": created.headers["ETag"]}
    )
    assert stale.status_code == 412
    assert client.get(url).get_json()["address"] == "새 주소"


def test_search_by_rrn_phone_or_name_finds_only_residents_in_scope(
    login_as: Any, app: Flask
) -> None:
    client = login_as("counselor")
    resident = register(client).get_json()
    register(client, rrn="850505-2345674", name="박철수", phone="010-1111-2222")
    for query in (
        {"rrn": "9001011234568"},
        {"phone": "+82 10-2345-6789"},
        {"name": unicodedata.normalize("NFD", " 김영희 ")},
    ):
        found = client.post("/api/v1/residents/search", json=query)
        assert found.status_code == 200
        assert [r["id"] for r in found.get_json()["items"]] == [resident["id"]], query
    outsider = login_as("counselor", dongs=(DOKSAN1,))
    assert outsider.post("/api/v1/residents/search", json={"rrn": RRN}).get_json()["items"] == []
    searches = events(app, "search")
    assert searches[0].resident_ids == [resident["id"]]
    assert "김영희" not in str([e.__dict__ for e in searches])


def test_search_needs_exactly_one_criterion(login_as: Any) -> None:
    client = login_as("counselor")
    assert client.post("/api/v1/residents/search", json={}).status_code == 422
    assert (
        client.post("/api/v1/residents/search", json={"rrn": RRN, "name": "x"}).status_code == 422
    )


def test_revealing_the_rrn_needs_a_reason_and_is_recorded(login_as: Any, app: Flask) -> None:
    client = login_as("counselor")
    resident = register(client).get_json()
    url = f"/api/v1/residents/{resident['id']}/reveal-rrn"
    assert client.post(url, json={}).status_code == 422
    revealed = client.post(url, json={"reason": "기초생활수급 신청 서류 확인"})
    assert revealed.get_json() == {"rrn": RRN}
    (event,) = events(app, "reveal")
    assert event.reason == "기초생활수급 신청 서류 확인"
    assert event.resident_ids == [resident["id"]]


def test_listing_pages_through_the_callers_dong(login_as: Any) -> None:
    client = login_as("counselor", dongs=(GASAN, DOKSAN1))
    ids = {
        register(
            client, rrn=with_check_digit(f"9001{i:02d}123456"), dong=GASAN if i % 2 else DOKSAN1
        ).get_json()["id"]
        for i in range(1, 6)
    }
    first = client.get("/api/v1/residents?limit=2").get_json()
    seen = [r["id"] for r in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"/api/v1/residents?limit=2&cursor={cursor}").get_json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(ids)
    gasan = client.get(f"/api/v1/residents?dong={GASAN}").get_json()["items"]
    assert {r["dong"] for r in gasan} == {GASAN}
    assert len(gasan) == 3


def test_erasure_makes_the_resident_gone_and_unfindable(login_as: Any, app: Flask) -> None:
    counselor = login_as("counselor")
    resident = register(counselor).get_json()
    url = f"/api/v1/residents/{resident['id']}"
    assert counselor.post(url + "/erasure", json={"reason": "정보주체 요청"}).status_code == 403
    supervisor = login_as("supervisor")
    erased = supervisor.post(url + "/erasure", json={"reason": "정보주체 파기 요청"})
    assert erased.status_code == 200
    assert supervisor.get(url).status_code == 410
    assert supervisor.post("/api/v1/residents/search", json={"rrn": RRN}).get_json()["items"] == []
    assert (
        supervisor.post("/api/v1/residents/search", json={"name": "김영희"}).get_json()["items"]
        == []
    )
    with get_database(app).new_session() as s:
        result = audit.verify_chain(s, "access")
    assert result.ok, result
    again = register(counselor)
    assert again.status_code == 201  # the indexes are gone, so the person may register anew
