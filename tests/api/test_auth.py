"""Logging in and out: lockout, identical failures, server-side sessions, CSRF, timeouts."""

from __future__ import annotations

import logging
import uuid

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from services import auth
from tests.support.clock import Clock
from tests.support.staff import PASSWORD, log_in, make_staff
from welfare.crypto.sealed import open_sealed
from welfare.models import AuditEvent, Staff, StaffSession
from welfare.web import get_database, get_keyring

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


def wrong_login(client: FlaskClient, username: str) -> TestResponse:
    return client.post(LOGIN, json={"username": username, "password": "not the password!"})


def security_actions(app: Flask, staff_id: uuid.UUID) -> list[str]:
    with get_database(app).new_session() as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.staff_id == staff_id, AuditEvent.category == "security")
                .order_by(AuditEvent.at, AuditEvent.id)
            )
        )


def test_a_login_answers_the_staff_member_a_csrf_token_and_a_strict_cookie(app: Flask) -> None:
    member = make_staff(app, "counselor")
    response = app.test_client().post(
        LOGIN, json={"username": member.username, "password": PASSWORD}
    )
    body = response.get_json()
    assert response.status_code == 200
    assert body["staff"] == {
        "id": str(member.id),
        "username": member.username,
        "role": "counselor",
        "dongs": ["1154551000"],
    }
    assert len(body["csrf_token"]) >= 32
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie


def test_after_five_wrong_passwords_the_right_one_is_refused(app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = app.test_client()
    for _ in range(5):
        assert wrong_login(client, member.username).status_code == 401
    refused = client.post(LOGIN, json={"username": member.username, "password": PASSWORD})
    assert refused.status_code == 401


def test_a_locked_account_opens_again_after_thirty_minutes(app: Flask) -> None:
    clock = Clock().install(app)
    member = make_staff(app, "counselor")
    client = app.test_client()
    for _ in range(5):
        wrong_login(client, member.username)
    clock.advance(minutes=29)
    assert (
        client.post(LOGIN, json={"username": member.username, "password": PASSWORD}).status_code
        == 401
    )
    clock.advance(minutes=2)
    assert (
        client.post(LOGIN, json={"username": member.username, "password": PASSWORD}).status_code
        == 200
    )


def test_one_wrong_password_after_an_expired_lock_does_not_lock_again(app: Flask) -> None:
    clock = Clock().install(app)
    member = make_staff(app, "counselor")
    client = app.test_client()
    for _ in range(5):
        wrong_login(client, member.username)
    clock.advance(minutes=31)
    assert wrong_login(client, member.username).status_code == 401
    login = {"username": member.username, "password": PASSWORD}
    assert client.post(LOGIN, json=login).status_code == 200


def test_after_an_expired_lock_five_new_failures_lock_again_and_each_lock_is_recorded(
    app: Flask,
) -> None:
    clock = Clock().install(app)
    member = make_staff(app, "counselor")
    client = app.test_client()
    for _ in range(5):
        wrong_login(client, member.username)
    clock.advance(minutes=31)
    client = app.test_client()  # the guesser moves on to another address
    client.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    for _ in range(4):
        wrong_login(client, member.username)
    login = {"username": member.username, "password": PASSWORD}
    with get_database(app).new_session() as s:
        assert s.get(Staff, member.id).is_locked(clock.now) is False  # type: ignore[union-attr]  # made above
    wrong_login(client, member.username)
    assert client.post(LOGIN, json=login).status_code == 401
    assert security_actions(app, member.id).count("locked_out") == 2


def test_a_wrong_current_password_counts_toward_the_lockout(app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = log_in(app, member)
    for _ in range(5):
        changed = client.post(
            "/api/v1/auth/password",
            json={"current_password": "not the password!", "new_password": "a new passphrase 77"},
        )
        assert changed.status_code == 422
        assert "current_password" in changed.get_json()["errors"]
    login = {"username": member.username, "password": PASSWORD}
    assert app.test_client().post(LOGIN, json=login).status_code == 401
    actions = security_actions(app, member.id)
    assert actions.count("reauth_failed") == 5
    assert actions.count("locked_out") == 1
    # Locked: even the right current password is refused until the lock ends.
    right = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a new passphrase 77"},
    )
    assert right.status_code == 422


def test_another_account_from_the_same_address_still_logs_in(app: Flask) -> None:
    locked = make_staff(app, "counselor")
    other = make_staff(app, "outreach")
    client = app.test_client()
    for _ in range(5):
        wrong_login(client, locked.username)
    assert (
        client.post(LOGIN, json={"username": other.username, "password": PASSWORD}).status_code
        == 200
    )


def test_an_unknown_user_gets_the_same_status_and_body_as_a_wrong_password(app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = app.test_client()
    wrong = wrong_login(client, member.username)
    unknown = wrong_login(client, "nobody-here")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_data() == unknown.get_data()
    assert wrong.get_json()["code"] == "login_failed"


def test_the_address_limit_slows_guessing_across_accounts(app: Flask) -> None:
    members = [make_staff(app, "counselor") for _ in range(8)]
    client = app.test_client()
    statuses = [wrong_login(client, members[i % 8].username).status_code for i in range(31)]
    assert statuses[:30] == [401] * 30
    assert statuses[30] == 429
    assert wrong_login(client, "somebody-else").status_code == 429


def test_guessing_one_account_from_one_address_is_limited_before_the_others(app: Flask) -> None:
    target, colleague = make_staff(app, "counselor"), make_staff(app, "outreach")
    client = app.test_client()
    statuses = [wrong_login(client, target.username).status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    assert wrong_login(client, target.username.upper()).status_code == 429  # same account
    login = {"username": colleague.username, "password": PASSWORD}
    assert client.post(LOGIN, json=login).status_code == 200


def test_a_busy_office_address_is_never_refused_a_correct_login(app: Flask) -> None:
    """One NAT address for a whole dong center: colleagues' typos must not cost anyone else
    their login, and correct logins never count toward any limit."""
    office = [make_staff(app, "counselor") for _ in range(12)]
    client = app.test_client()
    statuses: list[int] = []
    for _morning_and_afternoon in range(2):
        for member in office:  # everyone mistypes once, then logs in
            statuses.append(wrong_login(client, member.username).status_code)
            login = {"username": member.username, "password": PASSWORD}
            statuses.append(client.post(LOGIN, json=login).status_code)
    assert statuses == [401, 200] * 24


def test_many_correct_logins_from_one_address_are_never_limited(app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = app.test_client()
    login = {"username": member.username, "password": PASSWORD}
    assert {client.post(LOGIN, json=login).status_code for _ in range(40)} == {200}


def test_the_limiter_keys_hold_no_username(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    member = make_staff(app, "counselor", username="limit.canary")
    client = app.test_client()
    for _ in range(11):
        wrong_login(client, member.username)
    assert any("exceeded" in r.getMessage() for r in caplog.records)
    assert all("limit.canary" not in f"{r.getMessage()} {r.__dict__}" for r in caplog.records)


def test_a_cookie_replayed_after_logout_gets_401(app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = log_in(app, member)
    stolen = client.get_cookie("welfare_session")
    assert stolen is not None
    assert client.post("/api/v1/auth/logout").status_code == 204
    replay = app.test_client()
    replay.set_cookie("welfare_session", stolen.value)
    assert replay.get(ME).status_code == 401


def test_login_issues_a_new_session_id_and_ends_the_one_presented(app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = log_in(app, member)
    first = client.get_cookie("welfare_session").value  # type: ignore[union-attr]  # set by the login
    again = client.post(LOGIN, json={"username": member.username, "password": PASSWORD})
    assert again.status_code == 200
    second = client.get_cookie("welfare_session").value  # type: ignore[union-attr]  # set by the login
    assert first != second
    replay = app.test_client()
    replay.set_cookie("welfare_session", first)
    assert replay.get(ME).status_code == 401


def test_a_password_change_ends_the_other_sessions(app: Flask) -> None:
    member = make_staff(app, "counselor")
    laptop, phone = log_in(app, member), log_in(app, member)
    changed = laptop.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a whole new passphrase 77"},
    )
    assert changed.status_code == 204
    assert laptop.get(ME).status_code == 200
    assert phone.get(ME).status_code == 401


def test_a_weak_new_password_is_refused_with_field_errors(app: Flask) -> None:
    member = make_staff(app, "counselor", username="kimsujin")
    client = log_in(app, member)
    for weak, code_word in [
        ("short", "12자"),
        ("password1234", "흔히"),
        ("kimsujin-2026!", "아이디"),
    ]:
        response = client.post(
            "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": weak}
        )
        assert response.status_code == 422
        assert code_word in response.get_json()["errors"]["new_password"][0]


def test_sessions_end_after_fifteen_idle_minutes(app: Flask) -> None:
    clock = Clock().install(app)
    client = log_in(app, make_staff(app, "counselor"))
    clock.advance(minutes=14)
    assert client.get(ME).status_code == 200
    clock.advance(minutes=14)
    assert client.get(ME).status_code == 200  # activity keeps the session alive
    clock.advance(minutes=15, seconds=1)
    assert client.get(ME).status_code == 401


def test_sessions_end_after_ten_hours_however_active(app: Flask) -> None:
    clock = Clock().install(app)
    client = log_in(app, make_staff(app, "counselor"))
    for _ in range(59):
        clock.advance(minutes=10)
        assert client.get(ME).status_code == 200
    clock.advance(minutes=10)  # 600 minutes after login
    assert client.get(ME).status_code == 401


def test_a_cookie_session_needs_the_csrf_header_for_unsafe_requests(app: Flask) -> None:
    client = log_in(app, make_staff(app, "counselor"))
    token = client.environ_base.pop("HTTP_X_CSRF_TOKEN")
    missing = client.post("/api/v1/auth/logout")
    assert missing.status_code == 403
    assert missing.get_json()["code"] == "csrf_failed"
    wrong = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    # Headers arrive as Latin-1 text; a non-ASCII one is just as wrong, not a server error.
    accented = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "é" * 43})
    assert accented.status_code == 403
    assert accented.get_json()["code"] == "csrf_failed"
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": token}).status_code == 204


def test_the_session_table_stores_only_token_hashes(app: Flask) -> None:
    client = log_in(app, make_staff(app, "counselor"))
    token = client.get_cookie("welfare_session").value  # type: ignore[union-attr]  # set by the login
    with get_database(app).new_session() as s:
        rows = s.scalars(select(StaffSession)).all()
    assert rows
    assert all(token.encode() not in row.token_hash for row in rows)
    assert any(row.token_hash == auth.token_digest(token) for row in rows)


def test_a_totp_code_is_needed_once_enrolled_and_works_only_once(app: Flask) -> None:
    clock = Clock().install(app)
    member = make_staff(app, "supervisor")
    client = log_in(app, member)
    uri = client.post("/api/v1/auth/totp", json={"password": PASSWORD}).get_json()[
        "provisioning_uri"
    ]
    totp = pyotp.parse_uri(uri)
    assert (
        client.post("/api/v1/auth/totp/confirm", json={"code": totp.at(clock.now)}).status_code
        == 204
    )
    clock.advance(seconds=30)
    fresh = app.test_client()
    without = fresh.post(LOGIN, json={"username": member.username, "password": PASSWORD})
    assert without.status_code == 401
    code = totp.at(clock.now)
    ok = fresh.post(LOGIN, json={"username": member.username, "password": PASSWORD, "otp": code})
    assert ok.status_code == 200
    replayed = app.test_client().post(
        LOGIN, json={"username": member.username, "password": PASSWORD, "otp": code}
    )
    assert replayed.status_code == 401


def test_a_totp_code_that_is_not_ascii_digits_is_just_wrong(app: Flask) -> None:
    clock = Clock().install(app)
    member = make_staff(app, "supervisor")
    client = log_in(app, member)
    begun = client.post("/api/v1/auth/totp", json={"password": PASSWORD})
    totp = pyotp.parse_uri(begun.get_json()["provisioning_uri"])
    arabic = totp.at(clock.now).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for code in ("é" * 6, arabic, "\x00" * 6):
        refused = client.post("/api/v1/auth/totp/confirm", json={"code": code})
        assert refused.status_code == 422, (code, refused.get_json())
    assert (
        client.post("/api/v1/auth/totp/confirm", json={"code": totp.at(clock.now)}).status_code
        == 204
    )
    clock.advance(seconds=30)
    for code in ("é" * 6, "١٢٣٤٥٦"):
        login = {"username": member.username, "password": PASSWORD, "otp": code}
        assert app.test_client().post(LOGIN, json=login).status_code == 401


def test_the_totp_seed_is_stored_sealed(app: Flask) -> None:
    member = make_staff(app, "admin", dongs=())
    client = log_in(app, member)
    uri = client.post("/api/v1/auth/totp", json={"password": PASSWORD}).get_json()[
        "provisioning_uri"
    ]
    secret = pyotp.parse_uri(uri).secret
    with get_database(app).new_session() as s:
        sealed = s.get(Staff, member.id).totp_pending_secret  # type: ignore[union-attr]  # just made
    assert sealed is not None
    assert secret.encode() not in sealed
    assert (
        open_sealed(get_keyring(app), sealed, purpose="staff-totp", owner=str(member.id))
        == secret.encode()
    )


@pytest.mark.parametrize("role", ["counselor", "outreach", "supervisor", "admin"])
def test_me_reports_the_logged_in_member(app: Flask, role: str) -> None:
    member = make_staff(app, role)
    body = log_in(app, member).get(ME).get_json()
    assert body["staff"]["username"] == member.username
    assert body["staff"]["role"] == role


def test_a_gateway_account_cannot_log_in_with_a_password(app: Flask) -> None:
    member = make_staff(app, "gateway")
    response = app.test_client().post(
        LOGIN, json={"username": member.username, "password": PASSWORD}
    )
    assert response.status_code == 401
