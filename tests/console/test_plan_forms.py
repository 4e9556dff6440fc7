"""The forms of the district plan's services that were API-only: enrolling a resident in hygiene
visits (from the resident's page and from the hygiene area, with the schedule chooser that builds
the RRULE) and ending an enrollment, sending an external referral with consent from the resident's
page (Hannae not before it opens; the sheet page an export as the API's), and the duty roster for
supervisors. Each is scoped and recorded as the API, refused without the CSRF token, and puts no
personal data in a URL; a resubmitted form creates nothing twice."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.support.casework import open_case, register
from tests.support.clock import Clock
from tests.support.console import (
    assert_no_personal_data_in_urls,
    console_login,
    post_form,
    unlabelled_controls,
)
from tests.support.staff import DOKSAN1, GASAN, make_staff
from welfare.console.hygiene import weekly_rule
from welfare.errors import InvalidInput
from welfare.models import AuditEvent, DutyShift, ExternalReferral, HygieneEnrollment
from welfare.web import get_database

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Seoul
NAME, PHONE = "위생등록", "010-4321-8765"


@pytest.fixture(autouse=True)
def clock(app: Flask) -> Clock:
    return Clock(NOW).install(app)


def _hidden(response: Any) -> dict[str, str]:
    pattern = r'name="(client_ref|version|csrf_token|resident_id)" value="([^"]*)"'
    return dict(re.findall(pattern, response.get_data(as_text=True)))


def _records(app: Flask, staff_id: uuid.UUID) -> list[tuple[str, list[str]]]:
    with get_database(app).new_session() as s:
        return [
            (e.action, [str(r) for r in e.resident_ids or []])
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.staff_id == staff_id, AuditEvent.action != "login")
                .order_by(AuditEvent.at, AuditEvent.seq)
            )
        ]


def _count(app: Flask, model: Any) -> int:
    with get_database(app).new_session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_the_schedule_chooser_builds_the_rule_it_says() -> None:
    monday = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
    assert weekly_rule(["TH", "MO"], 1, monday) == "FREQ=WEEKLY;BYDAY=MO,TH"
    assert weekly_rule([], 2, monday) == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"
    with pytest.raises(InvalidInput) as wrong_day:
        weekly_rule(["TU"], 1, monday)
    assert "월요일" in str(wrong_day.value.errors["weekdays"])
    for weekdays, every in ((["XX"], 1), (["MO"], 9)):
        with pytest.raises(InvalidInput):
            weekly_rule(weekdays, every, monday)


def test_a_counselor_enrolls_a_resident_from_their_page_and_ends_it(
    app: Flask, login_as: Any
) -> None:
    api = login_as("counselor")
    rid = str(register(api, name=NAME, phone=PHONE)["id"])
    client = console_login(app, api.staff)
    resident_page = client.get(f"/residents/{rid}")
    assert f"/hygiene/new?resident_id={rid}" in resident_page.get_data(as_text=True)

    before = len(_records(app, api.staff.id))
    form = client.get(f"/hygiene/new?resident_id={rid}")
    assert form.status_code == 200
    body = form.get_data(as_text=True)
    # Whom the form is for, shown and recorded as a read.
    assert NAME in body and ("read", [rid]) in _records(app, api.staff.id)[before:]
    providers = re.findall(r'<select id="provider".*?</select>', body, re.S)[0]
    assert "hygiene_care_provider" in providers and "welfare_foundation" not in providers
    assert all(f'value="{code}"' in body for code in ("bathing", "pest_control"))
    assert unlabelled_controls(form) == []
    data = {
        **_hidden(form),
        "provider": "hygiene_care_provider",
        "services": ["bathing", "health_check"],
        "weekdays": ["MO", "TH"],
        "every": "2",
        "dtstart": "2026-12-07T10:00",  # a Monday
    }
    assert client.post("/hygiene/new", data={**data, "csrf_token": ""}).status_code == 403
    wrong_day = client.post("/hygiene/new", data={**data, "weekdays": ["TU"]})
    assert wrong_day.status_code == 422 and "월요일" in wrong_day.get_data(as_text=True)
    made = client.post("/hygiene/new", data=data)
    assert made.status_code == 303, made.get_data(as_text=True)
    assert_no_personal_data_in_urls(made, NAME, PHONE)
    path = made.headers["Location"].split("?")[0]
    view = api.get(f"/api/v1{path}").get_json()
    assert view["rrule"] == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"
    assert view["dtstart"].startswith("2026-12-07T01:00")  # 10:00 in Seoul
    assert view["services"] == ["bathing", "health_check"]
    assert ("create", [rid]) in _records(app, api.staff.id)
    before = len(_records(app, api.staff.id))
    again = client.post("/hygiene/new", data=data)  # the form sent twice: the first answers
    assert again.status_code == 303 and again.headers["Location"] == made.headers["Location"]
    assert _records(app, api.staff.id)[before:] == [("read", [rid])]
    other = client.post("/hygiene/new", data={**data, "every": "1"})  # a second, different one
    assert other.status_code == 409 and "이미" in other.get_data(as_text=True)
    assert _count(app, HygieneEnrollment) == 1

    page = client.get(path)
    assert page.status_code == 200 and "방문 끝내기" in page.get_data(as_text=True)
    for response in (resident_page, form, page):
        assert_no_personal_data_in_urls(response, NAME, PHONE)
    stale = _hidden(page)
    unconfirmed = client.post(f"{path}/end", data={**stale, "next": path})
    assert unconfirmed.status_code == 422
    outreach = console_login(app, login_as("outreach").staff)
    assert "방문 끝내기" not in outreach.get(path).get_data(as_text=True)
    refused = post_form(outreach, f"{path}/end", {"confirm": "yes"}, page=path)
    assert refused.status_code == 403
    ended = client.post(f"{path}/end", data={**stale, "confirm": "yes", "next": path})
    assert ended.status_code == 303, ended.get_data(as_text=True)
    assert api.get(f"/api/v1{path}").get_json()["status"] == "ended"
    assert api.get("/api/v1/hygiene/visits").get_json()["items"] == []  # none had come yet
    late = client.post(f"{path}/end", data={**stale, "confirm": "yes", "next": path})
    assert late.status_code == 412  # the form was rendered before it ended


def test_the_hygiene_area_finds_the_resident_to_enroll_without_a_name_in_a_url(
    app: Flask, login_as: Any
) -> None:
    api = login_as("supervisor")
    rid = str(register(api, name=NAME, phone=PHONE)["id"])
    client = console_login(app, api.staff)
    area = client.get("/hygiene")
    assert "/hygiene/new" in area.get_data(as_text=True)
    start = client.get("/hygiene/new")
    assert start.status_code == 200 and 'action="/hygiene/new/find"' in start.get_data(as_text=True)
    assert client.post("/hygiene/new/find", data={"kind": "name", "term": NAME}).status_code == (
        403
    )
    found = post_form(client, "/hygiene/new/find", {"kind": "name", "term": NAME}, page="/hygiene")
    assert found.status_code == 200
    assert f"/hygiene/new?resident_id={rid}" in found.get_data(as_text=True)
    assert ("search", [rid]) in _records(app, api.staff.id)  # naming who, never the term
    assert_no_personal_data_in_urls(found, NAME, PHONE)
    # Outreach workers record visits; they do not enroll (as the API).
    outreach = console_login(app, login_as("outreach").staff)
    assert outreach.get("/hygiene/new").status_code == 403


def test_another_dongs_resident_cannot_be_enrolled_or_referred(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    rid = str(register(api, name=NAME)["id"])
    stranger = login_as("counselor", dongs=(DOKSAN1,)).staff
    theirs = console_login(app, stranger)
    # The enrollment form names whom it is for: another dong's resident is a 404 page.
    refused = theirs.get(f"/hygiene/new?resident_id={rid}")
    assert refused.status_code == 404 and NAME not in refused.get_data(as_text=True)
    assert ("access_denied", [rid]) in _records(app, stranger.id)
    form = theirs.get("/hygiene/new")  # the start of the form, for its token
    enrolled = theirs.post(
        "/hygiene/new",
        data={
            **_hidden(form),
            "resident_id": rid,
            "provider": "hygiene_care_provider",
            "services": ["bathing"],
            "dtstart": "2026-12-07T10:00",
        },
    )
    assert enrolled.status_code == 404 and NAME not in enrolled.get_data(as_text=True)
    # The referral form lists the resident's cases: another dong's resident is a 404 page.
    referral_form = theirs.get(f"/referrals/new?resident_id={rid}")
    assert referral_form.status_code == 404
    assert NAME not in referral_form.get_data(as_text=True)
    referred = theirs.post(
        "/referrals/new",
        data={
            **_hidden(form),
            "resident_id": rid,
            "client_ref": "another-dongs-ref",
            "partner": "welfare_foundation",
            "scope": "contact",
            "given_by": "본인",
            "given_at": "2026-12-01T09:00",
            "reason": "생계비",
        },
    )
    assert referred.status_code == 404 and NAME not in referred.get_data(as_text=True)
    assert _count(app, HygieneEnrollment) == 0 and _count(app, ExternalReferral) == 0


def test_a_referral_is_sent_from_the_resident_page_with_exactly_what_the_consent_allows(
    app: Flask, login_as: Any
) -> None:
    api = login_as("counselor")
    rid = str(register(api, name=NAME, phone=PHONE)["id"])
    client = console_login(app, api.staff)
    assert f"/referrals/new?resident_id={rid}" in client.get(f"/residents/{rid}").get_data(
        as_text=True
    )
    form = client.get(f"/referrals/new?resident_id={rid}")
    assert form.status_code == 200
    body = form.get_data(as_text=True)
    # Hannae is listed, not selectable before it opens, with the reason in Korean.
    assert re.search(r'value="hannae_health_branch" disabled', body)
    assert "한내보건지소는 2027-03-01부터 의뢰할 수 있습니다" in body
    assert re.search(r'value="welfare_foundation">', body)
    # Each consent scope lists the fields that leave under it.
    assert "보내는 항목: 이름, 전화번호, 의뢰 사유" in body
    assert "보내는 항목: 이름, 전화번호, 주소, 출생연도, 성별, 의뢰 사유" in body
    assert unlabelled_controls(form) == []
    data = {
        **_hidden(form),
        "partner": "welfare_foundation",
        "scope": "contact",
        "given_by": "본인",
        "given_at": "2026-12-01T09:30",
        "reason": "긴급 생계비 지원 연계",
    }
    assert client.post("/referrals/new", data={**data, "csrf_token": ""}).status_code == 403
    hannae = client.post("/referrals/new", data={**data, "partner": "hannae_health_branch"})
    assert hannae.status_code == 422
    assert "2027-03-01부터 의뢰할 수 있습니다" in hannae.get_data(as_text=True)
    before = len(_records(app, api.staff.id))
    sent = client.post("/referrals/new", data=data)
    assert sent.status_code == 303, sent.get_data(as_text=True)
    assert ("export", [rid]) in _records(app, api.staff.id)[before:]  # what left, recorded
    again = client.post("/referrals/new", data=data)  # the form sent twice
    assert again.headers["Location"] == sent.headers["Location"]
    assert _count(app, ExternalReferral) == 1
    assert_no_personal_data_in_urls(sent, NAME, PHONE, PHONE.replace("-", ""))

    before = len(_records(app, api.staff.id))
    sheet = client.get(sent.headers["Location"])
    assert sheet.status_code == 200
    shown = sheet.get_data(as_text=True)
    assert "의뢰서를 보냈습니다" in shown and "보낸 의뢰서" in shown
    assert NAME in shown and "긴급 생계비 지원 연계" in shown
    sheet_part = shown.split('id="sheet-title"')[1]
    assert "가산" not in sheet_part.split("</section>")[0]  # no address under this scope
    # Showing the sheet is an export, as the API's GET records it.
    assert ("export", [rid]) in _records(app, api.staff.id)[before:]
    referral_id = sent.headers["Location"].split("?")[0].rsplit("/", 1)[1]
    referral = api.get(f"/api/v1/external-referrals/{referral_id}").get_json()
    assert set(referral["sheet"]) == {"name", "phone", "reason"}
    assert referral["consent"]["given_at"].startswith("2026-12-01T00:30")  # Seoul 09:30
    for response in (form, sheet):
        assert_no_personal_data_in_urls(response, NAME, PHONE, PHONE.replace("-", ""))

    outreach = console_login(app, login_as("outreach").staff)
    assert outreach.get(f"/referrals/new?resident_id={rid}").status_code == 403


def test_a_referral_is_attached_to_one_of_the_residents_open_cases(
    app: Flask, login_as: Any
) -> None:
    api = login_as("counselor")
    rid = str(register(api, name=NAME, phone=PHONE)["id"])
    ongi = open_case(api, rid, "ongi").get_json()["id"]
    closed = open_case(api, rid, "kimchi").get_json()["id"]
    asked = api.post(f"/api/v1/cases/{closed}/closure-request", json={"note": "끝남"})
    assert asked.status_code == 200, asked.get_json()
    decided = login_as("supervisor").post(
        f"/api/v1/cases/{closed}/closure-decision", json={"approve": True}
    )
    assert decided.status_code == 200, decided.get_json()
    neighbour = str(register(api, name="이웃주민")["id"])
    neighbours_case = open_case(api, neighbour, "ongi").get_json()["id"]
    elsewhere = login_as("counselor", dongs=(DOKSAN1,))
    far = str(register(elsewhere, dong=DOKSAN1, name="먼동주민")["id"])
    far_case = open_case(elsewhere, far, "ongi").get_json()["id"]
    client = console_login(app, api.staff)

    before = len(_records(app, api.staff.id))
    form = client.get(f"/referrals/new?resident_id={rid}")
    assert form.status_code == 200
    body = form.get_data(as_text=True)
    # Only this resident's open cases are offered, labelled in Korean; none is chosen for them.
    picker = body.split('<select id="case_id" name="case_id"')[1].split("</select>")[0]
    assert re.findall(r'<option value="([^"]*)"', picker) == ["", ongi]
    assert "selected" not in picker and "온기 · 접수 · 2026-12-01 개시" in picker
    assert ("read", [rid]) in _records(app, api.staff.id)[before:]  # their cases were read
    assert unlabelled_controls(form) == []
    assert_no_personal_data_in_urls(form, NAME, PHONE, PHONE.replace("-", ""))
    data = {
        **_hidden(form),
        "partner": "welfare_foundation",
        "scope": "contact",
        "given_by": "본인",
        "given_at": "2026-12-01T09:30",
        "reason": "사례와 함께 연계",
    }
    assert (
        client.post("/referrals/new", data={**data, "case_id": ongi, "csrf_token": ""}).status_code
        == 403
    )
    for case_id, status, says in (
        (neighbours_case, 422, "이 주민의 사례가 아닙니다"),
        ("not-a-case", 422, "입력을 확인하세요"),
        (far_case, 404, "찾을 수 없습니다"),
    ):
        refused = client.post("/referrals/new", data={**data, "case_id": case_id})
        assert refused.status_code == status, (case_id, refused.status_code)
        assert refused.mimetype == "text/html" and says in refused.get_data(as_text=True)
        assert "먼동주민" not in refused.get_data(as_text=True)
    assert _count(app, ExternalReferral) == 0
    sent = client.post("/referrals/new", data={**data, "case_id": ongi})
    assert sent.status_code == 303, sent.get_data(as_text=True)
    referral_id = sent.headers["Location"].split("?")[0].rsplit("/", 1)[1]
    assert api.get(f"/api/v1/external-referrals/{referral_id}").get_json()["case_id"] == ongi
    page = client.get(sent.headers["Location"])
    assert f'href="/cases/{ongi}"' in page.get_data(as_text=True)  # the referral names its case

    # Another dong's resident is a 404 page; one without an open case: the form says so.
    assert client.get(f"/referrals/new?resident_id={far}").status_code == 404
    lonely = str(register(api, name="사례없음")["id"])
    empty = client.get(f"/referrals/new?resident_id={lonely}").get_data(as_text=True)
    assert "이 주민의 열린 사례가 없습니다" in empty
    assert re.findall(
        r'<option value="([^"]*)"', empty.split('id="case_id"')[1].split("</select>")[0]
    ) == [""]


def test_a_supervisor_keeps_the_duty_roster_of_their_dongs(app: Flask, login_as: Any) -> None:
    api = login_as("supervisor", (GASAN, DOKSAN1))
    counselor = make_staff(app, "counselor", (GASAN,), display_name="오늘당번")
    elsewhere = make_staff(app, "counselor", ("1154567000",), display_name="시흥당번")
    client = console_login(app, api.staff)
    page = client.get("/dispatches/roster")
    assert page.status_code == 200
    assert "오늘당번" in page.get_data(as_text=True)  # a counselor to choose
    assert unlabelled_controls(page) == []
    assert f'value="{elsewhere.id}"' not in page.get_data(as_text=True)
    data = {
        "dong": GASAN,
        "staff_id": str(counselor.id),
        "starts_at": "2026-12-01T09:00",
        "ends_at": "2026-12-01T18:00",
        "next": "/dispatches/roster",
    }
    assert client.post("/dispatches/roster", data=data).status_code == 403  # no CSRF token
    added = post_form(client, "/dispatches/roster", data, page="/dispatches/roster")
    assert added.status_code == 303, added.get_data(as_text=True)
    again = post_form(client, "/dispatches/roster", data, page="/dispatches/roster")
    assert again.status_code == 303  # the same shift sent twice: entered once
    assert _count(app, DutyShift) == 1
    clash = post_form(
        client,
        "/dispatches/roster",
        {**data, "ends_at": "2026-12-01T20:00"},
        page="/dispatches/roster",
    )
    assert clash.status_code == 409 and "이미" in clash.get_data(as_text=True)
    tomorrow = post_form(
        client,
        "/dispatches/roster",
        {**data, "starts_at": "2026-12-02T09:00", "ends_at": "2026-12-02T18:00"},
        page="/dispatches/roster",
    )
    assert tomorrow.status_code == 303
    foreign = post_form(
        client,
        "/dispatches/roster",
        {**data, "dong": "1154567000", "staff_id": str(elsewhere.id)},
        page="/dispatches/roster",
    )
    assert foreign.status_code in (403, 404, 422)
    with get_database(app).new_session() as s:
        s.add(
            DutyShift(
                id=uuid.uuid4(),
                dong_code=GASAN,
                staff_id=counselor.id,
                starts_at=NOW - timedelta(days=2),
                ends_at=NOW - timedelta(days=2) + timedelta(hours=8),
                created_at=NOW,
            )
        )
        s.commit()
    listed = client.get("/dispatches/roster").get_data(as_text=True)
    assert "2026-12-01 09:00" in listed and "2026-12-02 09:00" in listed
    assert "2026-11-29" not in listed  # done two days ago: not today's, not to come
    assert "지금 당번" in listed  # 10:00 is within today's shift
    assert_no_personal_data_in_urls(client.get("/dispatches/roster"))
    # The roster is the supervisors': counselors see who is on duty on a dispatch's page.
    assert console_login(app, counselor).get("/dispatches/roster").status_code == 403
    doksan = console_login(app, login_as("supervisor", (DOKSAN1,)).staff)
    assert "2026-12-01 09:00" not in doksan.get("/dispatches/roster").get_data(as_text=True)
    # The API answers the same shift sent again with the first, as the form does.
    repeat = api.post(
        "/api/v1/duty-shifts",
        json={
            "dong": GASAN,
            "staff_id": str(counselor.id),
            "starts_at": "2026-12-01T09:00:00+09:00",
            "ends_at": "2026-12-01T18:00:00+09:00",
        },
    )
    assert repeat.status_code == 200 and _count(app, DutyShift) == 3
