"""Helpers that create staff and log them in through the real API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient

from config.settings import DEFAULT_API_TOKEN_LIFETIME
from services import staff as staff_service
from services import tokens
from welfare.crypto.passwords import make_hasher
from welfare.models import ApiToken, Staff
from welfare.web import get_database

PASSWORD = "correct horse battery staple"
GASAN = "1154551000"
DOKSAN1 = "1154561000"
SIHEUNG1 = "1154567000"
_counter = iter(range(1, 1_000_000))


def make_staff(
    app: Flask,
    role: str = "counselor",
    dongs: Sequence[str] = (GASAN,),
    *,
    username: str | None = None,
    password: str | None = PASSWORD,
    display_name: str = "",
) -> Staff:
    with get_database(app).new_session() as session:
        return staff_service.create_staff(
            session,
            actor=None,
            username=username or f"{role}{next(_counter)}",
            role=role,
            dongs=list(dongs),
            display_name=display_name,
            password=None if role == "gateway" else password,
            hasher=make_hasher("fast"),
            now=datetime.now(UTC),
        )


def log_in(app: Flask, member: Staff, password: str = PASSWORD) -> FlaskClient:
    """A test client holding a session cookie that sends the CSRF header on every request."""
    client = app.test_client()
    response = client.post(
        "/api/v1/auth/login", json={"username": member.username, "password": password}
    )
    assert response.status_code == 200, response.get_json()
    client.environ_base["HTTP_X_CSRF_TOKEN"] = response.get_json()["csrf_token"]
    return client


def issue_cli_token(app: Flask, member: Staff, now: datetime | None = None) -> tuple[str, ApiToken]:
    """A token as the operator's `welfare tokens create` issues it (for any account)."""
    with get_database(app).new_session() as session:
        return tokens.issue_token(
            session,
            actor=None,
            staff_id=member.id,
            label="test",
            now=now or datetime.now(UTC),
            lifetime=DEFAULT_API_TOKEN_LIFETIME,
        )


def token_client(app: Flask, member: Staff) -> FlaskClient:
    token, _row = issue_cli_token(app, member)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client
