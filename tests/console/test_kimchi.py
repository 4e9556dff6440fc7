"""Kimchi in the console: the campaigns of my dongs, a campaign's summary by dong and agency with
its routes, a route's stops, the printable route sheet (an audited read, as the API's), and a
delivery attempt recorded from a phone form whose retried submission creates nothing twice."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from tests.support.console import assert_no_personal_data_in_urls, console_login, post_form
from tests.support.kimchi import allocated, campaign, resident, today
from tests.support.staff import DOKSAN1
from welfare.models import AuditEvent, DeliveryAttempt
from welfare.web import get_database

ADDRESS = "서울 금천구 가산로 9, 301호"


def _setup(login_as: Any) -> tuple[Any, Any, dict[str, Any], str, dict[str, Any], dict[str, Any]]:
    supervisor, counselor, outreach = (
        login_as("supervisor"),
        login_as("counselor"),
        login_as("outreach"),
    )
    c = campaign(supervisor)
    rid = resident(counselor, ADDRESS)
    counselor.patch(
        f"/api/v1/residents/{rid}", json={"phone": "010-2345-6789"}, headers={"If-Match": '"v1"'}
    )
    a = allocated(counselor, c["id"], rid, agency="가산 복지관")
    made = counselor.post(
        f"/api/v1/kimchi/campaigns/{c['id']}/routes",
        json={
            "name": "가산 1회차",
            "delivery_on": today(),
            "allocation_ids": [a["id"]],
            "deliverer_staff_id": str(outreach.staff.id),
        },
    )
    assert made.status_code == 201, made.get_json()
    return counselor, outreach, c, rid, a, made.get_json()


def _events(app: Flask, staff_id: uuid.UUID) -> list[tuple[str, list[str]]]:
    with get_database(app).new_session() as s:
        return [
            (e.action, [str(r) for r in e.resident_ids or []])
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.staff_id == staff_id, AuditEvent.action != "login")
                .order_by(AuditEvent.at, AuditEvent.seq)
            )
        ]


def test_campaigns_summary_routes_and_the_sheet_of_my_dongs(app: Flask, login_as: Any) -> None:
    _counselor, outreach, c, rid, a, made = _setup(login_as)
    client = console_login(app, outreach.staff)

    listing = client.get("/kimchi")
    assert listing.status_code == 200
    assert f"/kimchi/campaigns/{c['id']}" in listing.get_data(as_text=True)

    summary = client.get(f"/kimchi/campaigns/{c['id']}")
    assert summary.status_code == 200
    body = summary.get_data(as_text=True)
    assert re.search(r'<th scope="row">가산동</th><td>1</td><td>0</td><td>0</td><td>1</td>', body)
    assert re.search(r'<th scope="row">가산 복지관</th><td>1</td>', body)
    assert f"/kimchi/routes/{made['id']}" in body

    page = client.get(f"/kimchi/routes/{made['id']}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "이순자" in body and "010-****-6789" in body and ADDRESS not in body
    assert f"/kimchi/allocations/{a['id']}" in body and f"/kimchi/routes/{made['id']}/sheet" in body

    before = len(_events(app, outreach.staff.id))
    sheet = client.get(f"/kimchi/routes/{made['id']}/sheet")
    assert sheet.status_code == 200
    assert sheet.headers["Cache-Control"] == "no-store"
    body = sheet.get_data(as_text=True)
    assert "이순자" in body and ADDRESS in body and "010-2345-6789" in body
    assert _events(app, outreach.staff.id)[before:] == [("read", [rid])]  # as the API's sheet
    for response in (listing, summary, page, sheet):
        assert_no_personal_data_in_urls(response, "이순자", "가산로", "2345")


def test_a_route_page_is_a_recorded_read_of_its_stops(app: Flask, login_as: Any) -> None:
    _counselor, outreach, _c, rid, _a, made = _setup(login_as)
    client = console_login(app, outreach.staff)
    before = len(_events(app, outreach.staff.id))
    assert client.get(f"/kimchi/routes/{made['id']}").status_code == 200
    assert _events(app, outreach.staff.id)[before:] == [("read", [rid])]


def test_other_dongs_campaigns_routes_and_allocations_are_404_pages(
    app: Flask, login_as: Any
) -> None:
    _counselor, _outreach, c, _rid, a, made = _setup(login_as)
    theirs = console_login(app, login_as("counselor", dongs=(DOKSAN1,)).staff)
    assert f"/kimchi/campaigns/{c['id']}" not in theirs.get("/kimchi").get_data(as_text=True)
    for path in (
        f"/kimchi/campaigns/{c['id']}",
        f"/kimchi/routes/{made['id']}",
        f"/kimchi/routes/{made['id']}/sheet",
        f"/kimchi/allocations/{a['id']}",
    ):
        response = theirs.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html" and "찾을 수 없습니다" in response.get_data(
            as_text=True
        )
        assert "이순자" not in response.get_data(as_text=True)
    refused = post_form(
        theirs,
        f"/kimchi/allocations/{a['id']}/attempts",
        {"outcome": "absent"},
        page="/kimchi",
    )
    assert refused.status_code == 404


def test_an_attempt_from_the_phone_form_is_recorded_once(app: Flask, login_as: Any) -> None:
    counselor, outreach, _c, rid, a, made = _setup(login_as)
    client = console_login(app, outreach.staff)
    path = f"/kimchi/allocations/{a['id']}"
    form = client.get(path)
    assert form.status_code == 200
    body = form.get_data(as_text=True)
    assert body.count('name="outcome"') == 6
    fields = dict(
        re.findall(r'name="(client_ref|rendered_at|version|csrf_token)" value="([^"]*)"', body)
    )
    assert_no_personal_data_in_urls(form, "이순자", "2345")

    assert client.post(f"{path}/attempts", data={"outcome": "absent"}).status_code == 403
    data = {**fields, "outcome": "absent", "occurred_at": "", "observation": "문이 잠김"}
    first = client.post(f"{path}/attempts", data=data)
    assert first.status_code == 303, first.get_data(as_text=True)
    assert first.headers["Location"].startswith(path) and "msg=saved" in first.headers["Location"]
    again = client.post(f"{path}/attempts", data=data)  # the phone retried the same submission
    assert again.status_code == 303, again.get_data(as_text=True)
    with get_database(app).new_session() as s:
        count = s.scalar(
            select(func.count()).where(DeliveryAttempt.allocation_id == uuid.UUID(a["id"]))
        )
    assert count == 1
    assert counselor.get(f"/api/v1/kimchi/allocations/{a['id']}").get_json()["status"] == "failed"
    shown = client.get(path).get_data(as_text=True)
    assert "부재 (다시 방문)" in shown and "문이 잠김" in shown
    assert counselor.get(f"/api/v1/kimchi/routes/{made['id']}").get_json()["status"] == "done"
    route_page = client.get(f"/kimchi/routes/{made['id']}").get_data(as_text=True)
    assert "다시 시도" in route_page and "결과 기록</a>" not in route_page  # failed: try again
    assert ("create", [rid]) in _events(app, outreach.staff.id)


def test_a_handover_needs_who_received_it_and_a_concern_needs_a_note(
    app: Flask, login_as: Any
) -> None:
    counselor, outreach, _c, _rid, a, _made = _setup(login_as)
    client = console_login(app, outreach.staff)
    path = f"/kimchi/allocations/{a['id']}"
    missing = post_form(client, f"{path}/attempts", {"outcome": "handed_over"}, page=path)
    assert missing.status_code == 422 and "recipient_relation" in missing.get_data(as_text=True)
    vague = post_form(
        client, f"{path}/attempts", {"outcome": "absent", "concern": "yes"}, page=path
    )
    assert vague.status_code == 422 and "observation" in vague.get_data(as_text=True)
    handed = post_form(
        client,
        f"{path}/attempts",
        {"outcome": "handed_over", "recipient_relation": "self"},
        page=path,
    )
    assert handed.status_code == 303, handed.get_data(as_text=True)
    assert counselor.get(f"/api/v1/kimchi/allocations/{a['id']}").get_json()["status"] == (
        "delivered"
    )
    assert 'name="outcome"' not in client.get(path).get_data(as_text=True)  # nothing left to do
