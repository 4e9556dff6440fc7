"""API tokens: admins issue them to gateways only; a person issues their own after
re-authenticating; tokens expire, name their issuer, and every access record names the token."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from services import audit
from tests.support.casework import register
from tests.support.clock import Clock
from tests.support.staff import PASSWORD, issue_cli_token, log_in, make_staff
from welfare.models import AccessRightChange, ApiToken, AuditEvent, Staff
from welfare.web import get_database, get_settings

OWN_TOKENS = "/api/v1/auth/tokens"
ME = "/api/v1/auth/me"


def bearer(app: Flask, token: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def records(app: Flask, **where: Any) -> list[AuditEvent]:
    with get_database(app).new_session() as s:
        conditions = [getattr(AuditEvent, name) == value for name, value in where.items()]
        return list(
            s.scalars(select(AuditEvent).where(*conditions).order_by(AuditEvent.at, AuditEvent.id))
        )


def token_row(app: Flask, token_id: str | uuid.UUID) -> ApiToken:
    with get_database(app).new_session() as s:
        row = s.get(ApiToken, uuid.UUID(str(token_id)))
        assert row is not None
        return row


def test_an_admin_cannot_mint_a_token_to_act_as_a_counselor(login_as: Any, app: Flask) -> None:
    admin = login_as("admin", dongs=())
    counselor = make_staff(app, "counselor")
    before = len(records(app, action="access_denied"))
    minted = admin.post(f"/api/v1/staff/{counselor.id}/tokens", json={"label": "x"})
    assert minted.status_code == 403
    assert minted.get_json()["code"] == "token_for_person"
    assert "token" not in minted.get_json()
    with get_database(app).new_session() as s:
        assert s.scalars(select(ApiToken).where(ApiToken.staff_id == counselor.id)).all() == []
    denied = records(app, action="access_denied")[before:]
    assert [(d.staff_id, d.reason, d.category) for d in denied] == [
        (admin.staff.id, "token_for_person", "security")
    ]


def test_admins_still_issue_tokens_to_gateways_and_the_token_names_its_issuer(
    login_as: Any, app: Flask
) -> None:
    admin = login_as("admin", dongs=())
    gateway = make_staff(app, "gateway")
    issued = admin.post(f"/api/v1/staff/{gateway.id}/tokens", json={"label": "smart plugs"})
    assert issued.status_code == 201
    body = issued.get_json()
    assert (body["issued_by"], body["issued_via"]) == (str(admin.staff.id), "admin")
    created = datetime.fromisoformat(body["created_at"])
    assert datetime.fromisoformat(body["expires_at"]) - created == timedelta(days=90)
    listed = admin.get(f"/api/v1/staff/{gateway.id}/tokens").get_json()["items"]
    assert [(t["issued_by"], t["issued_via"]) for t in listed] == [(str(admin.staff.id), "admin")]
    with get_database(app).new_session() as s:
        change = s.scalars(
            select(AccessRightChange).where(
                AccessRightChange.target_staff_id == gateway.id,
                AccessRightChange.change == "token_issued",
            )
        ).one()
    assert change.actor_staff_id == admin.staff.id
    assert change.after["token_id"] == body["id"]
    assert change.after["issued_via"] == "admin"


def test_a_token_of_the_operator_cli_names_no_staff_issuer(app: Flask) -> None:
    _token, row = issue_cli_token(app, make_staff(app, "gateway"))
    assert (row.issued_by, row.issued_via) == (None, "cli")


def test_a_person_issues_a_token_to_themself_only_after_re_authenticating(app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = log_in(app, member)
    assert client.post(OWN_TOKENS, json={"label": "my script"}).status_code == 422
    wrong = client.post(OWN_TOKENS, json={"password": "not the password!", "label": "x"})
    assert wrong.status_code == 422
    assert wrong.get_json()["code"] == "reauthentication_failed"
    assert [e.action for e in records(app, staff_id=member.id, action="reauth_failed")] == [
        "reauth_failed"
    ]
    issued = client.post(OWN_TOKENS, json={"password": PASSWORD, "label": "my script"})
    assert issued.status_code == 201, issued.get_json()
    body = issued.get_json()
    assert (body["issued_by"], body["issued_via"]) == (str(member.id), "self")
    assert bearer(app, body["token"]).get(ME).get_json()["staff"]["id"] == str(member.id)
    listed = client.get(OWN_TOKENS).get_json()["items"]
    assert [t["id"] for t in listed] == [body["id"]]
    assert all("token" not in t for t in listed)


def test_with_a_second_factor_a_person_needs_a_current_code_for_a_token(app: Flask) -> None:
    clock = Clock().install(app)
    member = make_staff(app, "supervisor")
    client = log_in(app, member)
    uri = client.post("/api/v1/auth/totp", json={"password": PASSWORD}).get_json()
    totp = pyotp.parse_uri(uri["provisioning_uri"])
    assert (
        client.post("/api/v1/auth/totp/confirm", json={"code": totp.at(clock.now)}).status_code
        == 204
    )
    clock.advance(seconds=30)
    assert client.post(OWN_TOKENS, json={"password": PASSWORD}).status_code == 422
    issued = client.post(OWN_TOKENS, json={"password": PASSWORD, "otp": totp.at(clock.now)})
    assert issued.status_code == 201


def test_a_token_expires_and_then_answers_like_an_invalid_one(app: Flask) -> None:
    clock = Clock().install(app)
    member = make_staff(app, "counselor")
    token = log_in(app, member).post(OWN_TOKENS, json={"password": PASSWORD}).get_json()["token"]
    client = bearer(app, token)
    clock.advance(days=89, hours=23)
    assert client.get(ME).status_code == 200
    clock.advance(hours=1)
    expired = client.get(ME)
    invalid = bearer(app, token + "x").get(ME)
    assert expired.status_code == invalid.status_code == 401
    assert expired.get_json()["code"] == invalid.get_json()["code"]


def test_the_token_lifetime_is_a_setting(app: Flask) -> None:
    settings = get_settings(app)
    app.extensions["welfare.settings"] = dataclasses.replace(
        settings, api_token_lifetime=timedelta(days=7)
    )
    member = make_staff(app, "counselor")
    body = log_in(app, member).post(OWN_TOKENS, json={"password": PASSWORD}).get_json()
    lifetime = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
        body["created_at"]
    )
    assert lifetime == timedelta(days=7)


def test_a_persons_token_not_issued_by_themself_or_the_operator_is_refused(app: Flask) -> None:
    """Tokens an admin minted for a person before issuers were recorded (`legacy`), and a
    gateway's token whose account was later made a person's, never act as that person."""
    member = make_staff(app, "counselor")
    token, row = issue_cli_token(app, member)
    client = bearer(app, token)
    assert client.get(ME).status_code == 200
    for via in ("legacy", "admin"):
        with get_database(app).new_session() as s:
            s.execute(update(ApiToken).where(ApiToken.id == row.id).values(issued_via=via))
            s.commit()
        assert client.get(ME).status_code == 401, via


def test_a_gateway_token_stops_working_when_an_admin_makes_the_account_a_person(
    login_as: Any, app: Flask
) -> None:
    admin = login_as("admin", dongs=())
    gateway = make_staff(app, "gateway")
    token = admin.post(f"/api/v1/staff/{gateway.id}/tokens", json={}).get_json()["token"]
    client = bearer(app, token)
    assert client.get(ME).status_code == 403  # known, but a gateway reads nothing
    etag = admin.get(f"/api/v1/staff/{gateway.id}").headers["ETag"]
    made_person = admin.patch(
        f"/api/v1/staff/{gateway.id}", json={"role": "counselor"}, headers={"If-Match": etag}
    )
    assert made_person.status_code == 200
    assert client.get(ME).status_code == 401


def test_every_access_record_made_with_a_token_names_the_token(app: Flask) -> None:
    member = make_staff(app, "counselor")
    session_client = log_in(app, member)
    issued = session_client.post(OWN_TOKENS, json={"password": PASSWORD}).get_json()
    script = bearer(app, issued["token"])
    resident = register(script)
    assert script.get(f"/api/v1/residents/{resident['id']}").status_code == 200
    assert session_client.get(f"/api/v1/residents/{resident['id']}").status_code == 200
    made = records(app, staff_id=member.id)
    by_token = [e for e in made if e.token_id is not None]
    assert {e.action for e in by_token} == {"create", "read"}
    assert {e.token_id for e in by_token} == {uuid.UUID(issued["id"])}
    assert [e.token_id for e in made if e.action == "read"] == [uuid.UUID(issued["id"]), None]
    with get_database(app).new_session() as s:
        assert audit.verify_chain(s, "access").ok
    supervisor = log_in(app, make_staff(app, "supervisor"))
    listed = supervisor.get(f"/api/v1/audit/events?token_id={issued['id']}").get_json()["items"]
    assert {e["action"] for e in listed} == {"create", "read"}
    assert {e["token_id"] for e in listed} == {issued["id"]}


def test_a_right_change_made_with_a_token_names_the_token(app: Flask) -> None:
    admin = make_staff(app, "admin", dongs=())
    issued = log_in(app, admin).post(OWN_TOKENS, json={"password": PASSWORD}).get_json()
    script = bearer(app, issued["token"])
    created = script.post("/api/v1/staff", json={"username": "relay.gw", "role": "gateway"})
    assert created.status_code == 201  # a bearer request needs no CSRF header
    with get_database(app).new_session() as s:
        change = s.scalars(
            select(AccessRightChange).where(
                AccessRightChange.target_staff_id == uuid.UUID(created.get_json()["id"])
            )
        ).one()
        assert audit.verify_chain(s, "access_rights").ok
    assert change.token_id == uuid.UUID(issued["id"])


def test_a_person_revokes_their_own_token(app: Flask) -> None:
    member = make_staff(app, "outreach")
    client = log_in(app, member)
    issued = client.post(OWN_TOKENS, json={"password": PASSWORD}).get_json()
    assert client.delete(f"{OWN_TOKENS}/{issued['id']}").status_code == 204
    assert bearer(app, issued["token"]).get(ME).status_code == 401
    assert token_row(app, issued["id"]).revoked_at is not None


def test_a_deactivated_members_own_tokens_are_revoked(login_as: Any, app: Flask) -> None:
    admin = login_as("admin", dongs=())
    member = make_staff(app, "counselor")
    token = log_in(app, member).post(OWN_TOKENS, json={"password": PASSWORD}).get_json()["token"]
    assert admin.post(f"/api/v1/staff/{member.id}/deactivate").status_code == 200
    assert bearer(app, token).get(ME).status_code == 401
    with get_database(app).new_session() as s:
        assert s.get(Staff, member.id).is_active is False  # type: ignore[union-attr]  # made above


def test_a_gateway_cannot_issue_itself_a_token(login_as: Any) -> None:
    gateway = login_as("gateway")
    assert gateway.post(OWN_TOKENS, json={"password": PASSWORD}).status_code == 403


def test_issued_tokens_expire_even_when_issued_long_ago(app: Flask) -> None:
    member = make_staff(app, "gateway")
    token, _row = issue_cli_token(app, member, now=datetime.now(UTC) - timedelta(days=91))
    assert bearer(app, token).get(ME).status_code == 401
