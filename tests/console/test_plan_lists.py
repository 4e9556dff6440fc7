"""The dispatch, hygiene-enrollment, hygiene-visit and referral lists name each row's resident
as the home queue does (services/residents/labels.py: display name and masked phone, decrypted
in one batch), with the list's one access record naming them all and no second one; a damaged
name marks its row and the rest of the page is served; the API's lists are unchanged."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import Uuid, bindparam, select, text

from tests.support.casework import register
from tests.support.console import assert_no_personal_data_in_urls, console_login
from tests.support.plan import dispatch_request, external_referral, hygiene_enrollment
from welfare.models import AuditEvent, FollowUp
from welfare.web import get_database


def _records(app: Flask, staff_id: uuid.UUID) -> list[tuple[str, set[str]]]:
    with get_database(app).new_session() as s:
        return [
            (e.action, {str(r) for r in e.resident_ids or []})
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.staff_id == staff_id, AuditEvent.action != "login")
                .order_by(AuditEvent.at, AuditEvent.seq)
            )
        ]


def test_the_lists_name_their_residents_with_one_record_per_page(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    first = str(register(api, name="목록순", phone="010-2468-1357")["id"])
    second = str(register(api, name="목록희")["id"])
    gone = str(register(api, name="파기될분")["id"])
    dispatch_request(api, resident_id=first)
    dispatch_request(api, address="서울 금천구 가산로 5")  # nobody registered yet
    dispatch_request(api, resident_id=gone)
    hygiene_enrollment(api, second)
    external_referral(api, first)
    supervisor = login_as("supervisor")
    erased = supervisor.post(f"/api/v1/residents/{gone}/erasure", json={"reason": "파기 요청"})
    assert erased.status_code in (200, 204)

    client = console_login(app, api.staff)
    for path, named, ids in (
        ("/dispatches", ["목록순"], {first, gone}),
        ("/hygiene", ["목록희"], {second}),
        ("/hygiene/visits", ["목록희"], {second}),
        ("/referrals", ["목록순"], {first}),
    ):
        before = len(_records(app, api.staff.id))
        page = client.get(path)
        assert page.status_code == 200, path
        body = page.get_data(as_text=True)
        assert all(name in body for name in named), path
        # One record for the page, naming everyone on it: the labels add none of their own.
        assert _records(app, api.staff.id)[before:] == [("search", ids)], path
        assert_no_personal_data_in_urls(page, "목록순", "목록희", "2468")
    dispatches = client.get("/dispatches?state=requested").get_data(as_text=True)
    assert "010-****-1357" in dispatches  # masked, as the queue shows it
    assert "2468" not in dispatches and "미등록 (주소로 출동)" in dispatches
    cancelled = client.get("/dispatches?state=cancelled").get_data(as_text=True)
    assert "파기된 기록" in cancelled and "None" not in cancelled
    # An erased resident's emptied name is not damage: nothing is reported unreadable.
    with get_database(app).new_session() as s:
        assert s.scalars(select(FollowUp).where(FollowUp.reason == "data_unreadable")).all() == []

    # The API's lists keep their shape: no label in them.
    for path in (
        "/api/v1/dispatches",
        "/api/v1/hygiene/enrollments",
        "/api/v1/hygiene/visits",
        "/api/v1/external-referrals",
    ):
        items = api.get(path).get_json()["items"]
        assert items and all("resident" not in item for item in items), path


def test_another_dongs_lists_name_nobody_of_mine(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    rid = str(register(api, name="남의동")["id"])
    dispatch_request(api, resident_id=rid)
    hygiene_enrollment(api, rid)
    external_referral(api, rid)
    theirs = console_login(app, login_as("counselor", dongs=("1154561000",)).staff)
    for path in ("/dispatches", "/hygiene", "/hygiene/visits", "/referrals"):
        body = theirs.get(path).get_data(as_text=True)
        assert "남의동" not in body and rid not in body, path


def test_a_damaged_name_marks_its_enrollment_row_and_the_rest_of_the_page_is_served(
    app: Flask, login_as: Any
) -> None:
    api = login_as("counselor")
    ids = [str(register(api, name=n)["id"]) for n in ("온전한분", "손상된분", "멀쩡한분")]
    enrollments = [hygiene_enrollment(api, rid)["id"] for rid in ids]
    # Raw SQL, as a bad restore would: one resident's name ciphertext copied onto another,
    # where it fails authentication.
    statement = text(
        "UPDATE residents SET name_enc = (SELECT r.name_enc FROM residents r WHERE r.id = :s)"
        " WHERE id = :t"
    ).bindparams(bindparam("s", type_=Uuid()), bindparam("t", type_=Uuid()))
    with get_database(app).new_session() as s:
        s.execute(statement, {"s": uuid.UUID(ids[0]), "t": uuid.UUID(ids[1])})
        s.commit()

    client = console_login(app, api.staff)
    before = len(_records(app, api.staff.id))
    page = client.get("/hygiene")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "온전한분" in body and "멀쩡한분" in body and "손상된분" not in body
    rows = {e: body.split(f"/hygiene/enrollments/{e}")[1].split("</li>")[0] for e in enrollments}
    assert "읽을 수 없음" in rows[enrollments[1]]
    assert "읽을 수 없음" not in rows[enrollments[0]] + rows[enrollments[2]]
    # The page's one search record, and the damage recorded as such (not as a read of it).
    after = _records(app, api.staff.id)[before:]
    assert ("search", set(ids)) in after
    assert [a for a, _ in after if a not in ("search", "decrypt_failed")] == []
    with get_database(app).new_session() as s:
        alarms = s.scalars(select(FollowUp).where(FollowUp.reason == "data_unreadable")).all()
        assert [str(f.resident_id) for f in alarms] == [ids[1]]
