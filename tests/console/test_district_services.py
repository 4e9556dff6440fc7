"""The district plan's other services in the console: counselor dispatch (list, request form,
assign, on the way, on site, done), hygiene enrollments and visits (record done, missed,
refused), partner referrals (the sheet sent, recorded as an export; answer; complete) and
gateway incidents (supervisors and admins). Scoped and recorded as the API; forms need CSRF."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from tests.support.casework import register
from tests.support.console import assert_no_personal_data_in_urls, console_login, post_form
from tests.support.plan import (
    dispatch_request,
    external_referral,
    first_visit,
    gateway_incident,
    hygiene_enrollment,
    on_duty,
)
from tests.support.staff import DOKSAN1, GASAN
from welfare.models import AuditEvent, Dispatch
from welfare.web import get_database

ADDRESS = "서울 금천구 가산로 77, 203호"


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


def _hidden(response: Any) -> dict[str, str]:
    pattern = r'name="(client_ref|version|csrf_token)" value="([^"]*)"'
    return dict(re.findall(pattern, response.get_data(as_text=True)))


def test_a_dispatch_from_the_request_form_to_done(app: Flask, login_as: Any) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    on_duty(supervisor, counselor.staff.id)
    rid = str(register(counselor, name="하출동")["id"])
    client = console_login(app, counselor.staff)

    form = client.get(f"/dispatches/new?resident_id={rid}")
    assert form.status_code == 200 and "하출동" in form.get_data(as_text=True)  # whom it is for
    elsewhere = console_login(app, login_as("counselor", dongs=(DOKSAN1,)).staff)
    refused = elsewhere.get(f"/dispatches/new?resident_id={rid}")  # another dong's resident
    assert refused.status_code == 404 and "하출동" not in refused.get_data(as_text=True)
    data = {
        **_hidden(form),
        "resident_id": rid,
        "dong": GASAN,
        "urgency": "urgent",
        "requester_kind": "dong_center",
        "summary": "이웃이 인기척이 없다고 신고",
    }
    assert client.post("/dispatches/new", data={**data, "csrf_token": ""}).status_code == 403
    made = client.post("/dispatches/new", data=data)
    assert made.status_code == 303, made.get_data(as_text=True)
    again = client.post("/dispatches/new", data=data)  # the phone sent it twice
    assert again.headers["Location"] == made.headers["Location"]
    with get_database(app).new_session() as s:
        assert s.scalar(select(func.count()).select_from(Dispatch)) == 1
    path = made.headers["Location"].split("?")[0]

    listing = client.get("/dispatches")
    assert listing.status_code == 200 and path in listing.get_data(as_text=True)
    page = client.get(path)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "이웃이 인기척이 없다고 신고" in body and f"/residents/{rid}" in body
    assert ("read", [rid]) in _events(app, counselor.staff.id)

    for action, fields, expected in (
        ("assign", {"staff_id": ""}, "assigned"),
        ("move", {"to": "en_route"}, "en_route"),
        ("move", {"to": "on_site"}, "on_site"),
        ("done", {"outcome": "no_need", "note": "건강하심"}, "done"),
    ):
        current = client.get(path)
        response = client.post(
            f"{path}/{action}", data={**_hidden(current), **fields, "next": path}
        )
        assert response.status_code == 303, (action, response.get_data(as_text=True))
        view = counselor.get(f"/api/v1{path}").get_json()
        assert view["state"] == expected, action
    assert view["assignee_id"] == str(counselor.staff.id) and view["outcome"] == "no_need"
    assert view["contact_id"]  # the person was met: an Ongi contact
    for response in (form, listing, page):
        assert_no_personal_data_in_urls(response, "하출동", "가산로")


def test_a_stale_dispatch_form_is_refused_not_applied(app: Flask, login_as: Any) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    on_duty(supervisor, counselor.staff.id)
    made = dispatch_request(counselor, address=ADDRESS)
    client = console_login(app, counselor.staff)
    path = f"/dispatches/{made['id']}"
    stale = _hidden(client.get(path))
    assert client.post(f"{path}/assign", data={**stale, "staff_id": ""}).status_code == 303
    refused = client.post(f"{path}/assign", data={**stale, "staff_id": ""})
    assert refused.status_code == 412 and refused.mimetype == "text/html"


def test_hygiene_visits_are_recorded_from_the_console(app: Flask, login_as: Any) -> None:
    counselor = login_as("counselor")
    rid = str(register(counselor, name="위생순")["id"])
    enrollment = hygiene_enrollment(counselor, rid)
    visit = first_visit(counselor, enrollment["id"])
    outreach = console_login(app, login_as("outreach").staff)

    listing = outreach.get("/hygiene")
    assert listing.status_code == 200
    assert f"/hygiene/enrollments/{enrollment['id']}" in listing.get_data(as_text=True)
    assert "목욕, 건강 확인" in listing.get_data(as_text=True)  # the configured labels
    visits = outreach.get("/hygiene/visits")
    assert f"/hygiene/visits/{visit['id']}" in visits.get_data(as_text=True)
    assert outreach.get(f"/hygiene/enrollments/{enrollment['id']}").status_code == 200

    path = f"/hygiene/visits/{visit['id']}"
    page = outreach.get(path)
    assert page.status_code == 200 and 'name="outcome"' in page.get_data(as_text=True)
    assert ("read", [rid]) in _events(app, outreach.staff.id)
    assert outreach.post(f"{path}/record", data={"outcome": "done"}).status_code == 403
    vague = post_form(
        outreach, f"{path}/record", {"outcome": "done", "health_concern": "yes"}, page=path
    )
    assert vague.status_code == 422 and "observation" in vague.get_data(as_text=True)
    done = post_form(
        outreach,
        f"{path}/record",
        {
            "outcome": "done",
            "met": "yes",
            "observation": "혈압이 높아 보임",
            "health_concern": "yes",
        },
        page=path,
    )
    assert done.status_code == 303, done.get_data(as_text=True)
    view = counselor.get(f"/api/v1/hygiene/visits/{visit['id']}").get_json()
    assert (view["state"], view["met"], view["health_concern"]) == ("done", True, True)
    assert view["contact_id"]
    for response in (listing, visits, page):
        assert_no_personal_data_in_urls(response, "위생순")


def test_a_referral_shows_the_sheet_sent_as_an_export_and_records_the_answer(
    app: Flask, login_as: Any
) -> None:
    counselor = login_as("counselor")
    rid = str(register(counselor, name="의뢰희", phone="010-5555-7777")["id"])
    referral = external_referral(counselor, rid)
    client = console_login(app, counselor.staff)

    listing = client.get("/referrals")
    path = f"/referrals/{referral['id']}"
    assert listing.status_code == 200 and path in listing.get_data(as_text=True)
    assert "금천복지재단" in listing.get_data(as_text=True)
    before = len(_events(app, counselor.staff.id))
    page = client.get(path)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "보낸 의뢰서" in body and "의뢰희" in body and "긴급 생계비 지원 연계" in body
    assert "export" in [action for action, _ in _events(app, counselor.staff.id)[before:]]
    assert_no_personal_data_in_urls(page, "의뢰희", "5555")

    outreach = console_login(app, login_as("outreach").staff)
    shown = outreach.get(path)
    assert shown.status_code == 200 and "의뢰희" not in shown.get_data(as_text=True)
    assert 'name="answer"' not in shown.get_data(as_text=True)
    refused = post_form(outreach, f"{path}/answer", {"answer": "accepted"}, page=path)
    assert refused.status_code == 403

    answered = post_form(client, f"{path}/answer", {"answer": "accepted"}, page=path)
    assert answered.status_code == 303, answered.get_data(as_text=True)
    completed = post_form(client, f"{path}/complete", {"note": "지원 완료"}, page=path)
    assert completed.status_code == 303, completed.get_data(as_text=True)
    assert counselor.get(f"/api/v1/external-referrals/{referral['id']}").get_json()["state"] == (
        "completed"
    )


def test_gateway_incidents_are_for_supervisors_and_admins(app: Flask, login_as: Any) -> None:
    incident = gateway_incident(app, GASAN, name="가산 AI 회선")
    supervisor = console_login(app, login_as("supervisor").staff)
    listing = supervisor.get("/incidents")
    assert listing.status_code == 200
    body = listing.get_data(as_text=True)
    assert f"/incidents/{incident}" in body and "가산 AI 회선" in body and "12명" in body
    page = supervisor.get(f"/incidents/{incident}")
    assert page.status_code == 200 and "의존 주민</dt><dd>12명" in page.get_data(as_text=True)
    admin = console_login(app, login_as("admin").staff)
    assert f"/incidents/{incident}" in admin.get("/incidents").get_data(as_text=True)
    assert console_login(app, login_as("counselor").staff).get("/incidents").status_code == 403
    elsewhere = console_login(app, login_as("supervisor", dongs=(DOKSAN1,)).staff)
    assert f"/incidents/{incident}" not in elsewhere.get("/incidents").get_data(as_text=True)
    assert elsewhere.get(f"/incidents/{incident}").status_code == 404


def test_other_dongs_records_are_404_pages(app: Flask, login_as: Any) -> None:
    counselor = login_as("counselor")
    rid = str(register(counselor, name="범위밖")["id"])
    enrollment = hygiene_enrollment(counselor, rid)
    paths = (
        f"/dispatches/{dispatch_request(counselor, address=ADDRESS)['id']}",
        f"/hygiene/enrollments/{enrollment['id']}",
        f"/hygiene/visits/{first_visit(counselor, enrollment['id'])['id']}",
        f"/referrals/{external_referral(counselor, rid)['id']}",
    )
    theirs = console_login(app, login_as("supervisor", dongs=(DOKSAN1,)).staff)
    for listing in ("/dispatches", "/hygiene", "/hygiene/visits", "/referrals"):
        body = theirs.get(listing).get_data(as_text=True)
        assert all(p not in body for p in paths), listing
    for path in paths:
        response = theirs.get(path)
        assert response.status_code == 404, path
        assert "찾을 수 없습니다" in response.get_data(as_text=True)
        assert "범위밖" not in response.get_data(as_text=True)
        assert "가산로" not in response.get_data(as_text=True)


def test_each_role_sees_the_new_areas_it_may_use_in_the_menu(app: Flask, login_as: Any) -> None:
    menus = {}
    for role in ("counselor", "outreach", "supervisor", "admin"):
        page = console_login(app, login_as(role).staff).get(
            "/admin/staff" if role == "admin" else "/"
        )
        nav = page.get_data(as_text=True).split('<nav aria-label="주 메뉴">')[1].split("</nav>")[0]
        wide, phone = nav.split('<details class="menu-phone">')
        menus[role] = set(re.findall(r'href="(/[a-z]*)"', wide))
        # The phone's folded menu has the same links, in the same order.
        assert re.findall(r'href="(/[a-z]*)"', phone) == re.findall(r'href="(/[a-z]*)"', wide)
    for role in ("counselor", "outreach", "supervisor"):
        assert {"/kimchi", "/dispatches", "/hygiene", "/referrals"} <= menus[role], role
    assert "/incidents" in menus["supervisor"] and "/incidents" in menus["admin"]
    assert "/incidents" not in menus["counselor"] and "/dispatches" not in menus["admin"]
