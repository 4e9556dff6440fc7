"""Cases in the console: open from the resident's page, notes, moves along the workflow,
referral with consent, closure requested by a counselor and decided by a supervisor."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.support.casework import open_case, register
from tests.support.console import (
    assert_no_personal_data_in_urls,
    console_as,
    console_login,
    post_form,
)
from tests.support.staff import DOKSAN1, GASAN, make_staff


def test_a_case_from_opening_to_approved_closure(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    resident = register(api, name="한사례")["id"]
    client = console_login(app, api.staff)
    opened = post_form(
        client,
        "/cases",
        {"resident_id": resident, "program": "ongi"},
        page=f"/residents/{resident}",
    )
    assert opened.status_code == 303
    case_path = opened.headers["Location"].split("?")[0]
    case_id = case_path.rsplit("/", 1)[1]
    page = client.get(case_path)
    assert page.status_code == 200
    assert "접수" in page.get_data(as_text=True)
    assert_no_personal_data_in_urls(page, "한사례")

    noted = post_form(
        client, f"{case_path}/notes", {"body": "첫 상담: 식사 거르심"}, page=case_path
    )
    assert noted.status_code == 303
    assert "첫 상담: 식사 거르심" in client.get(case_path).get_data(as_text=True)

    version = api.get(f"/api/v1/cases/{case_id}").headers["ETag"].strip('"v')
    moved = post_form(
        client, f"{case_path}/transition", {"to": "assessment", "version": version}, page=case_path
    )
    assert moved.status_code == 303
    stale = post_form(
        client, f"{case_path}/transition", {"to": "active", "version": version}, page=case_path
    )
    assert stale.status_code == 412
    assert api.get(f"/api/v1/cases/{case_id}").get_json()["status"] == "assessment"

    asked = post_form(client, f"{case_path}/closure-request", {"note": "안정됨"}, page=case_path)
    assert asked.status_code == 303
    assert api.get(f"/api/v1/cases/{case_id}").get_json()["status"] == "closure_requested"
    assert (
        post_form(
            client, f"{case_path}/closure-decision", {"approve": "true"}, page=case_path
        ).status_code
        == 403
    )

    supervisor = console_as(app, "supervisor")
    decided = post_form(
        supervisor, f"{case_path}/closure-decision", {"approve": "true"}, page=case_path
    )
    assert decided.status_code == 303
    assert api.get(f"/api/v1/cases/{case_id}").get_json()["closed_at"] is not None


def test_a_referral_needs_consent_and_opens_a_case_in_the_other_program(
    app: Flask, login_as: Any
) -> None:
    api = login_as("counselor")
    resident = register(api)["id"]
    case_id = open_case(api, resident, "care_center").get_json()["id"]
    client = console_login(app, api.staff)
    path = f"/cases/{case_id}/referrals"
    refused = post_form(client, path, {"program": "mobility", "reason": "병원 이동"})
    assert refused.status_code == 422
    referred = post_form(
        client,
        path,
        {
            "program": "mobility",
            "reason": "병원 이동",
            "consent_given_by": "본인",
            "consent_given_at": "2026-11-01T10:00",
            "consent_scope": "이동지원센터에 연락처 제공",
        },
    )
    assert referred.status_code == 303
    cases = api.get(f"/api/v1/residents/{resident}/cases").get_json()["items"]
    assert {c["program"] for c in cases} == {"care_center", "mobility"}
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "이동지원센터에 연락처 제공" in page


def test_case_forms_need_the_csrf_token(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    case_id = open_case(api, register(api)["id"]).get_json()["id"]
    client = console_login(app, api.staff)
    for action, data in (
        ("notes", {"body": "x"}),
        ("transition", {"to": "active"}),
        ("closure-request", {}),
    ):
        assert client.post(f"/cases/{case_id}/{action}", data=data).status_code == 403, action
    assert client.post("/cases", data={"program": "ongi"}).status_code == 403


def test_cases_list_and_scope(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    mine = open_case(api, register(api)["id"], "ongi").get_json()["id"]
    other_api = login_as("counselor", dongs=(DOKSAN1,))
    theirs = open_case(other_api, register(other_api, DOKSAN1)["id"]).get_json()["id"]
    client = console_login(app, api.staff)
    listing = client.get("/cases?program=ongi").get_data(as_text=True)
    assert f"/cases/{mine}" in listing and f"/cases/{theirs}" not in listing
    assert client.get(f"/cases/{theirs}").status_code == 404
    outreach = console_login(app, make_staff(app, "outreach", (GASAN,)))
    page = outreach.get(f"/cases/{mine}")
    assert page.status_code == 200
    assert "상담 기록" not in page.get_data(as_text=True)
