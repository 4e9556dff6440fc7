"""`welfare staff create` and `welfare tokens create`."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from tests.support.staff import GASAN, make_staff
from welfare.models import AccessRightChange, ApiToken
from welfare.web import get_database


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
