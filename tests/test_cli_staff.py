"""`welfare staff create`, `welfare staff totp` and `welfare tokens create`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from services import second_factor
from tests.support.staff import GASAN, PASSWORD, make_staff
from welfare.models import AccessRightChange, ApiToken, Staff
from welfare.web import get_database

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_staff_create_reads_the_password_from_stdin_and_prints_the_id(
    runner: FlaskCliRunner, app: Flask
) -> None:
    result = runner.invoke(
        args=[
            "staff",
            "create",
            "jung.counselor",
            "--role",
            "counselor",
            "--dong",
            GASAN,
            "--name",
            "정하나",
            "--password-stdin",
        ],
        input="a long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    uuid.UUID(result.output.strip())
    login = app.test_client().post(
        "/api/v1/auth/login",
        json={"username": "jung.counselor", "password": "a long enough passphrase"},
    )
    assert login.status_code == 200


def test_staff_create_explains_a_bad_password(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["staff", "create", "bad.pw", "--role", "counselor", "--password-stdin"],
        input="short\n",
    )
    assert result.exit_code == 1
    assert "password" in result.output


def test_tokens_create_prints_a_token_once(runner: FlaskCliRunner, app: Flask) -> None:
    assert runner.invoke(args=["staff", "create", "sensor.gw", "--role", "gateway"]).exit_code == 0
    result = runner.invoke(args=["tokens", "create", "sensor.gw", "--label", "smart plugs"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("gwf_")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    assert client.get("/api/v1/auth/me").status_code == 403  # gateways read nothing, but are known


def test_tokens_create_for_an_unknown_user_fails_clearly(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["tokens", "create", "ghost"])
    assert result.exit_code == 1
    assert "no such staff" in result.output


def test_staff_totp_prints_the_uri_once_and_enrols_after_a_matching_code(
    runner: FlaskCliRunner, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A supervisor enrols before their first production login (which needs a code)."""
    member = make_staff(app, "supervisor", username="first.supervisor")
    monkeypatch.setattr(second_factor, "new_secret", lambda: SECRET)
    totp = pyotp.TOTP(SECRET)
    result = runner.invoke(
        args=["staff", "totp", "first.supervisor"],
        input=f"000000\n{totp.now()}\n",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == totp.provisioning_uri(
        name="first.supervisor", issuer_name="Geumcheon Welfare"
    )
    assert lines[1] == f"secret: {SECRET}"
    assert result.stdout.count(SECRET) == 2  # in the URI and on its own line, once each
    assert "wrong code" in result.stderr
    with get_database(app).new_session() as s:
        enrolled = s.get(Staff, member.id)
        assert enrolled is not None
        assert enrolled.totp_enabled
        change = s.scalars(
            select(AccessRightChange).where(
                AccessRightChange.target_staff_id == member.id,
                AccessRightChange.change == "totp_enrolled",
            )
        ).one()
    assert (change.actor_staff_id, change.actor_role, change.request_id) == (None, "system", "cli")
    assert (change.before, change.after) == ({"totp_enabled": False}, {"totp_enabled": True})
    client = app.test_client()
    login = {"username": "first.supervisor", "password": PASSWORD}
    assert client.post("/api/v1/auth/login", json=login).status_code == 401
    next_code = totp.at(datetime.now(UTC) + timedelta(seconds=30))
    ok = client.post("/api/v1/auth/login", json={**login, "otp": next_code})
    assert ok.status_code == 200


def test_staff_totp_changes_nothing_when_no_code_matches(
    runner: FlaskCliRunner, app: Flask
) -> None:
    member = make_staff(app, "admin", dongs=(), username="typo.admin")
    result = runner.invoke(args=["staff", "totp", "typo.admin"], input="000000\n111111\n222222\n")
    assert result.exit_code == 1
    assert "nothing enrolled" in result.stderr
    with get_database(app).new_session() as s:
        unchanged = s.get(Staff, member.id)
        assert unchanged is not None
        assert (unchanged.totp_enabled, unchanged.totp_secret) == (False, None)
        assert not s.scalars(
            select(AccessRightChange).where(
                AccessRightChange.target_staff_id == member.id,
                AccessRightChange.change == "totp_enrolled",
            )
        ).all()


def test_staff_totp_refuses_a_gateway_and_an_unknown_user(
    runner: FlaskCliRunner, app: Flask
) -> None:
    make_staff(app, "gateway", username="relay.gw")
    assert runner.invoke(args=["staff", "totp", "relay.gw"], input="1\n").exit_code == 2
    unknown = runner.invoke(args=["staff", "totp", "ghost"], input="1\n")
    assert unknown.exit_code == 1
    assert "no such staff" in unknown.output


def test_tokens_create_records_the_cli_as_issuer_and_sets_an_expiry(
    runner: FlaskCliRunner, app: Flask
) -> None:
    member = make_staff(app, "gateway", username="plugs.gw")
    result = runner.invoke(args=["tokens", "create", "plugs.gw"])
    assert result.exit_code == 0, result.output
    with get_database(app).new_session() as s:
        token = s.scalars(select(ApiToken).where(ApiToken.staff_id == member.id)).one()
        change = s.scalars(
            select(AccessRightChange).where(
                AccessRightChange.target_staff_id == member.id,
                AccessRightChange.change == "token_issued",
            )
        ).one()
    assert (token.issued_by, token.issued_via) == (None, "cli")
    assert token.expires_at - token.created_at == timedelta(days=90)
    assert (change.actor_role, change.request_id) == ("system", "cli")


def test_reset_password_sets_a_new_one_ends_sessions_lifts_a_lock_and_is_recorded(
    runner: FlaskCliRunner, app: Flask
) -> None:
    from tests.support.staff import log_in

    member = make_staff(app, "counselor", (GASAN,))
    old_session = log_in(app, member)
    for _ in range(5):  # locked out by failed logins
        app.test_client().post(
            "/api/v1/auth/login", json={"username": member.username, "password": "wrong-" * 3}
        )
    new = "a brand new passphrase for monday"
    result = runner.invoke(
        args=["staff", "reset-password", member.username, "--password-stdin"], input=new + "\n"
    )
    assert result.exit_code == 0, result.output
    assert new not in result.output
    assert old_session.get("/api/v1/auth/me").status_code == 401  # sessions ended
    fresh = app.test_client()
    ok = fresh.post("/api/v1/auth/login", json={"username": member.username, "password": new})
    assert ok.status_code == 200  # the lock was lifted, the new password works
    with get_database(app).new_session() as s:
        changes = s.scalars(
            select(AccessRightChange.change).where(AccessRightChange.target_staff_id == member.id)
        ).all()
    assert "password_reset" in changes


def test_reset_password_without_stdin_prints_a_generated_one_once(
    runner: FlaskCliRunner, app: Flask
) -> None:
    member = make_staff(app, "outreach", (GASAN,))
    result = runner.invoke(args=["staff", "reset-password", member.username])
    assert result.exit_code == 0, result.output
    password = result.output.split("new password (shown once):")[1].strip()
    login = app.test_client().post(
        "/api/v1/auth/login", json={"username": member.username, "password": password}
    )
    assert login.status_code == 200


def test_reset_password_refuses_a_weak_one_and_an_unknown_user(
    runner: FlaskCliRunner, app: Flask
) -> None:
    member = make_staff(app, "counselor", (GASAN,))
    weak = runner.invoke(
        args=["staff", "reset-password", member.username, "--password-stdin"], input="short\n"
    )
    assert weak.exit_code == 1 and "password" in weak.output
    unknown = runner.invoke(args=["staff", "reset-password", "nobody.here"])
    assert unknown.exit_code == 1


def test_unlock_lifts_a_lockout(runner: FlaskCliRunner, app: Flask) -> None:
    member = make_staff(app, "counselor", (GASAN,))
    for _ in range(5):
        app.test_client().post(
            "/api/v1/auth/login", json={"username": member.username, "password": "wrong-" * 3}
        )
    assert (
        app.test_client()
        .post("/api/v1/auth/login", json={"username": member.username, "password": PASSWORD})
        .status_code
        == 401
    )
    result = runner.invoke(args=["staff", "unlock", member.username])
    assert result.exit_code == 0, result.output
    assert (
        app.test_client()
        .post("/api/v1/auth/login", json={"username": member.username, "password": PASSWORD})
        .status_code
        == 200
    )
