"""No password, token, session cookie or CSRF token ever appears in a log line."""

from __future__ import annotations

import logging
from typing import Any

import pyotp
import pytest
from flask import Flask

from tests.support.staff import log_in, make_staff

CANARY_PASSWORD = "canary-pw-Zx81-lantern-river"
CANARY_NEW_PASSWORD = "canary-new-Qm27-harbor-maple"


def all_log_text(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    records = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    captured = capsys.readouterr()
    return records + captured.err + captured.out


def test_credentials_never_reach_the_logs(
    app: Flask, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = make_staff(app, "admin", dongs=())
    admin_client = log_in(app, admin)
    created = admin_client.post(
        "/api/v1/staff",
        json={"username": "canary.user", "role": "counselor", "password": CANARY_PASSWORD},
    )
    assert created.status_code == 201
    member_id = created.get_json()["id"]
    client = app.test_client()
    client.post(
        "/api/v1/auth/login",
        json={"username": "canary.user", "password": "wrong-" + CANARY_PASSWORD},
    )
    client.post("/api/v1/auth/login", json={"username": "nobody", "password": CANARY_PASSWORD})
    ok = client.post(
        "/api/v1/auth/login", json={"username": "canary.user", "password": CANARY_PASSWORD}
    )
    csrf = ok.get_json()["csrf_token"]
    cookie = client.get_cookie("welfare_session").value  # type: ignore[union-attr]  # set by the login
    client.post(
        "/api/v1/auth/password",
        headers={"X-CSRF-Token": csrf},
        json={"current_password": CANARY_PASSWORD, "new_password": CANARY_NEW_PASSWORD},
    )
    client.post(
        "/api/v1/auth/password",
        headers={"X-CSRF-Token": csrf},
        json={"current_password": "bad " + CANARY_PASSWORD, "new_password": "short"},
    )
    token = client.post(
        "/api/v1/auth/tokens",
        headers={"X-CSRF-Token": csrf},
        json={"password": CANARY_NEW_PASSWORD, "label": "script"},
    ).get_json()["token"]
    bearer = app.test_client()
    bearer.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    bearer.get("/api/v1/auth/me")
    bearer.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}x"})
    uri = client.post(
        "/api/v1/auth/totp", headers={"X-CSRF-Token": csrf}, json={"password": CANARY_NEW_PASSWORD}
    ).get_json()["provisioning_uri"]
    totp_secret = pyotp.parse_uri(uri).secret
    client.post("/api/v1/auth/totp/confirm", headers={"X-CSRF-Token": csrf}, json={"code": "1"})
    admin_client.post(f"/api/v1/staff/{member_id}/tokens", json={})  # refused: a person

    text: Any = all_log_text(caplog, capsys)
    assert "request" in text  # the request log did run
    for secret in (CANARY_PASSWORD, CANARY_NEW_PASSWORD, token, cookie, csrf, totp_secret):
        assert secret not in text
    assert "canary.user" not in text  # the login limiter keys hold no username


def test_a_logged_exception_shows_its_type_and_frames_but_never_its_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from config.logging import configure_logging

    configure_logging("INFO")
    value = "-".join(["851212", "2918271"])  # data, as a library's error message might quote it
    try:
        raise ValueError(f"rrn {value} is not allowed")
    except ValueError:
        logging.getLogger("welfare.scheduler").exception("job failed")
    written = capsys.readouterr().err
    assert "job failed" in written and "ValueError (message withheld)" in written
    assert "test_no_secrets_in_logs.py" in written  # the frames are kept for debugging
    assert "851212" not in written and "2918271" not in written
