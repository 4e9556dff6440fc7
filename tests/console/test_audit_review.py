"""The access-record review page: the month's totals and the records, in the reviewer's scope,
exactly as the API's review (supervisors: their dongs with reasons; admins: all, no reasons)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.support.casework import register
from tests.support.console import console_login, post_form
from tests.support.staff import DOKSAN1


def test_a_supervisor_reviews_the_month_and_sees_a_reveal_with_its_reason(
    app: Flask, login_as: Any
) -> None:
    counselor = login_as("counselor")
    resident = register(counselor)["id"]
    console = console_login(app, counselor.staff)
    assert (
        post_form(console, f"/residents/{resident}/reveal", {"reason": "급여 확인용"}).status_code
        == 200
    )
    supervisor = console_login(app, login_as("supervisor").staff)
    page = supervisor.get("/audit")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "주민번호 열람" in body and "급여 확인용" in body
    assert page.headers["Cache-Control"] == "no-store"


def test_admins_see_the_records_without_reasons(app: Flask, login_as: Any) -> None:
    counselor = login_as("counselor")
    resident = register(counselor)["id"]
    console = console_login(app, counselor.staff)
    post_form(console, f"/residents/{resident}/reveal", {"reason": "급여 확인용"})
    admin = console_login(app, login_as("admin", dongs=()).staff)
    body = admin.get("/audit").get_data(as_text=True)
    assert "주민번호 열람" in body and "급여 확인용" not in body


def test_another_dongs_supervisor_does_not_see_the_reason(app: Flask, login_as: Any) -> None:
    counselor = login_as("counselor")
    resident = register(counselor)["id"]
    post_form(
        console_login(app, counselor.staff),
        f"/residents/{resident}/reveal",
        {"reason": "급여 확인용"},
    )
    other = console_login(app, login_as("supervisor", dongs=(DOKSAN1,)).staff)
    assert "급여 확인용" not in other.get("/audit").get_data(as_text=True)


def test_a_bad_month_is_a_422_page_and_counselors_are_refused(app: Flask, login_as: Any) -> None:
    supervisor = console_login(app, login_as("supervisor").staff)
    assert supervisor.get("/audit?month=2026-13").status_code == 422
    assert supervisor.get("/audit?month=2026-10").status_code == 200
    assert console_login(app, login_as("counselor").staff).get("/audit").status_code == 403
