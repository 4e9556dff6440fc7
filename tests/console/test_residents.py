"""Residents in the console: search by POST (the term never in a URL), register, the resident's
page with the masked RRN and the reveal with a reason, and a contact whose retried submission
creates nothing twice."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from tests.support.casework import register, unique_rrn
from tests.support.console import (
    assert_no_personal_data_in_urls,
    console_as,
    console_login,
    csrf_of,
    post_form,
)
from tests.support.staff import DOKSAN1, GASAN, log_in, make_staff


def _events(app: Flask, resident_id: str) -> list[dict[str, Any]]:
    supervisor = log_in(app, make_staff(app, "supervisor"))
    response = supervisor.get("/api/v1/audit/events", query_string={"resident_id": resident_id})
    assert response.status_code == 200
    return list(response.get_json()["items"])


def test_search_by_name_phone_and_rrn_is_a_post_and_finds_only_my_dongs(
    app: Flask, login_as: Any
) -> None:
    api = login_as("counselor")
    rrn = unique_rrn()
    resident = register(api, name="김검색", rrn=rrn, phone="010-4321-8765")["id"]
    register(login_as("counselor", dongs=(DOKSAN1,)), DOKSAN1, name="김검색")
    client = console_login(app, api.staff)
    page = client.get("/residents")
    assert page.status_code == 200
    assert 'method="post" action="/residents/search"' in page.get_data(as_text=True)
    for kind, term in (("name", "김검색"), ("phone", "01043218765"), ("rrn", rrn)):
        found = post_form(client, "/residents/search", {"kind": kind, "term": term})
        assert found.status_code == 200, kind
        body = found.get_data(as_text=True)
        assert len(re.findall(r'href="/residents/[0-9a-f-]{36}"', body)) == 1, kind
        assert f"/residents/{resident}" in body, kind
        assert_no_personal_data_in_urls(found, term, "김검색")
    assert client.get("/residents/search?name=김검색").status_code == 405


def test_a_search_without_the_csrf_token_is_refused(app: Flask) -> None:
    client = console_as(app)
    response = client.post("/residents/search", data={"kind": "name", "term": "김"})
    assert response.status_code == 403


def test_a_bad_rrn_search_is_a_korean_422(app: Flask) -> None:
    client = console_as(app)
    response = post_form(client, "/residents/search", {"kind": "rrn", "term": "123"})
    assert response.status_code == 422
    assert "입력을 확인하세요" in response.get_data(as_text=True)


def test_register_then_find_the_resident(app: Flask) -> None:
    client = console_as(app, "counselor")
    rrn = unique_rrn()
    form = client.get("/residents/new")
    assert form.status_code == 200
    response = post_form(
        client,
        "/residents/new",
        {"name": "박등록", "rrn": rrn, "dong": GASAN, "phone": "010-5555-1212"},
        page="/residents/new",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith("/residents/") and location.endswith("?msg=registered")
    assert_no_personal_data_in_urls(response, rrn, "박등록")
    page = client.get(location)
    assert "박등록" in page.get_data(as_text=True)
    assert rrn not in page.get_data(as_text=True)
    again = post_form(
        client,
        "/residents/new",
        {"name": "박등록", "rrn": rrn, "dong": GASAN},
        page="/residents/new",
    )
    assert again.status_code == 409


def test_a_registration_error_shows_the_form_again_with_korean_field_errors(app: Flask) -> None:
    client = console_as(app, "counselor")
    response = post_form(
        client,
        "/residents/new",
        {"name": "박틀림", "rrn": "900101-1234567", "dong": GASAN},
        page="/residents/new",
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'id="rrn-error"' in body and 'value="박틀림"' in body


def test_outreach_workers_cannot_register_or_reveal(app: Flask, login_as: Any) -> None:
    resident = register(login_as("counselor"))["id"]
    client = console_as(app, "outreach")
    assert client.get("/residents/new").status_code == 403
    refused = post_form(client, f"/residents/{resident}/reveal", {"reason": "확인 필요"})
    assert refused.status_code == 403


def test_the_resident_page_masks_the_rrn_and_reveals_it_with_a_reason(
    app: Flask, login_as: Any
) -> None:
    api = login_as("counselor")
    rrn = unique_rrn()
    resident = register(api, name="최열람", rrn=rrn)["id"]
    client = console_login(app, api.staff)
    page = client.get(f"/residents/{resident}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "최열람" in body and rrn[:6] in body and rrn not in body
    assert page.headers["Cache-Control"] == "no-store"
    assert_no_personal_data_in_urls(page, rrn, "최열람")
    without = post_form(client, f"/residents/{resident}/reveal", {}, page=f"/residents/{resident}")
    assert without.status_code == 422
    shown = post_form(
        client, f"/residents/{resident}/reveal", {"reason": "급여 신청 확인"}, page="/residents"
    )
    assert shown.status_code == 200
    assert rrn in shown.get_data(as_text=True)
    assert_no_personal_data_in_urls(shown, rrn)
    reveals = [e for e in _events(app, resident) if e["action"] == "reveal"]
    assert len(reveals) == 1 and reveals[0]["reason"] == "급여 신청 확인"


def test_the_resident_page_of_another_dong_is_a_404_page(app: Flask, login_as: Any) -> None:
    resident = register(login_as("counselor", dongs=(DOKSAN1,)), DOKSAN1)["id"]
    client = console_as(app, "counselor", (GASAN,))
    for path in (f"/residents/{resident}", f"/residents/{resident}/contact"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "찾을 수 없습니다" in response.get_data(as_text=True)


def test_a_contact_retried_with_the_same_form_is_logged_once(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    resident = register(api, name="정연락")["id"]
    client = console_login(app, api.staff)
    form = client.get(f"/residents/{resident}/contact")
    assert form.status_code == 200
    body = form.get_data(as_text=True)
    client_ref = body.split('name="client_ref" value="')[1].split('"')[0]
    rendered_at = body.split('name="rendered_at" value="')[1].split('"')[0]
    assert 'type="datetime-local"' in body
    data = {
        "csrf_token": csrf_of(client),
        "client_ref": client_ref,
        "rendered_at": rendered_at,
        "channel": "phone",
        "outcome": "reached",
        "occurred_at": "",
        "note": "잘 지내심",
    }
    first = client.post(f"/residents/{resident}/contact", data=data)
    second = client.post(f"/residents/{resident}/contact", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == f"/residents/{resident}?msg=contact_logged"
    contacts = api.get(f"/api/v1/residents/{resident}/contacts").get_json()["items"]
    assert len(contacts) == 1
    assert contacts[0]["channel"] == "phone" and contacts[0]["outcome"] == "reached"
    changed = client.post(f"/residents/{resident}/contact", data={**data, "outcome": "no_answer"})
    assert changed.status_code == 422
    assert len(api.get(f"/api/v1/residents/{resident}/contacts").get_json()["items"]) == 1
    timeline = client.get(f"/residents/{resident}").get_data(as_text=True)
    assert "잘 지내심" in timeline and "통화·만남" in timeline


def test_a_contact_time_is_seoul_wall_time(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    resident = register(api)["id"]
    client = console_login(app, api.staff)
    response = post_form(
        client,
        f"/residents/{resident}/contact",
        {"channel": "visit", "outcome": "not_home", "occurred_at": "2026-11-02T09:30"},
    )
    assert response.status_code == 303
    (contact,) = api.get(f"/api/v1/residents/{resident}/contacts").get_json()["items"]
    assert contact["occurred_at"].startswith("2026-11-02T00:30")


def test_a_contact_needs_the_csrf_token_and_a_known_channel(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    resident = register(api)["id"]
    client = console_login(app, api.staff)
    data = {"channel": "phone", "outcome": "reached"}
    assert client.post(f"/residents/{resident}/contact", data=data).status_code == 403
    bad = post_form(client, f"/residents/{resident}/contact", {**data, "channel": "pigeon"})
    assert bad.status_code == 422
    assert api.get(f"/api/v1/residents/{resident}/contacts").get_json()["items"] == []
