"""Logging in to the console: the login form's own CSRF check, the second factor, one Korean
message for every failure that says how the lockout works, logout, and redirects to login."""

from __future__ import annotations

from typing import Any

import pyotp
from flask import Flask

from tests.support.clock import Clock
from tests.support.console import console_login, csrf_in, csrf_of
from tests.support.staff import PASSWORD, log_in, make_staff


def test_the_login_page_is_korean_and_strict(client: Any) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert '<html lang="ko">' in body
    assert '<label for="username">아이디</label>' in body
    assert "<script>" not in body and "style=" not in body
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["Cache-Control"] == "no-store"


def test_a_login_reaches_home_and_the_session_works_for_the_api_too(app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = console_login(app, member)
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/auth/me").get_json()["staff"]["username"] == member.username


def test_a_login_without_its_csrf_value_is_refused(app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"username": member.username, "password": PASSWORD})
    assert response.status_code == 403
    assert client.get_cookie("welfare_session") is None


def test_a_wrong_password_says_how_lockout_works_and_the_same_for_unknown_users(
    app: Flask,
) -> None:
    member = make_staff(app, "counselor")
    client = app.test_client()
    token = csrf_in(client.get("/login"))
    wrong = client.post(
        "/login", data={"csrf_token": token, "username": member.username, "password": "nope"}
    )
    unknown = client.post(
        "/login", data={"csrf_token": token, "username": "nobody-here", "password": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    text = wrong.get_data(as_text=True)
    assert "5번 연속 틀리면 계정이 30분 동안 잠깁니다" in text
    assert text.replace(member.username, "X") == unknown.get_data(as_text=True).replace(
        "nobody-here", "X"
    )


def test_a_locked_account_cannot_log_in_even_with_the_right_password(app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = app.test_client()
    token = csrf_in(client.get("/login"))
    for _ in range(5):
        client.post(
            "/login", data={"csrf_token": token, "username": member.username, "password": "x"}
        )
    response = client.post(
        "/login", data={"csrf_token": token, "username": member.username, "password": PASSWORD}
    )
    assert response.status_code == 401
    assert "관리자에게 잠금 해제를 요청하세요" in response.get_data(as_text=True)


def test_the_second_factor_is_asked_for_and_checked(app: Flask) -> None:
    clock = Clock().install(app)
    member = make_staff(app, "supervisor")
    api = log_in(app, member)
    uri = api.post("/api/v1/auth/totp", json={"password": PASSWORD}).get_json()["provisioning_uri"]
    totp = pyotp.parse_uri(uri)
    confirmed = api.post("/api/v1/auth/totp/confirm", json={"code": totp.at(clock.now)})
    assert confirmed.status_code == 204
    clock.advance(seconds=30)
    client = app.test_client()
    token = csrf_in(client.get("/login"))
    without = client.post(
        "/login", data={"csrf_token": token, "username": member.username, "password": PASSWORD}
    )
    assert without.status_code == 401
    console_login(app, member, otp=totp.at(clock.now))


def test_anonymous_pages_redirect_to_login_with_the_page_to_come_back_to(client: Any) -> None:
    response = client.get("/?when=overdue")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")
    page = client.get(response.headers["Location"])
    assert 'name="next" value="/?when=overdue"' in page.get_data(as_text=True)


def test_next_never_leaves_the_site(app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = app.test_client()
    token = csrf_in(client.get("/login"))
    response = client.post(
        "/login",
        data={
            "csrf_token": token,
            "username": member.username,
            "password": PASSWORD,
            "next": "//evil.example/",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_idle_sessions_end_and_send_the_page_back_to_login(app: Flask) -> None:
    clock = Clock().install(app)
    client = console_login(app, make_staff(app, "counselor"))
    clock.advance(minutes=16)
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login")


def test_logout_ends_the_session_and_needs_the_csrf_token(app: Flask) -> None:
    client = console_login(app, make_staff(app, "counselor"))
    assert client.post("/logout").status_code == 403
    assert client.get("/").status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf_of(client)})
    assert response.status_code == 303
    assert client.get("/").status_code == 303


def test_admins_land_on_their_pages(app: Flask) -> None:
    member = make_staff(app, "admin")
    client = app.test_client()
    token = csrf_in(client.get("/login"))
    response = client.post(
        "/login", data={"csrf_token": token, "username": member.username, "password": PASSWORD}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/staff"
