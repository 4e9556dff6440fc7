"""The second factor: a session cookie alone never enrols, replaces or removes it; an admin
resets someone else's; every change is in both chains."""

from __future__ import annotations

import uuid
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from services import audit, second_factor
from tests.support.clock import Clock
from tests.support.staff import PASSWORD, log_in, make_staff
from welfare.crypto.passwords import make_hasher
from welfare.errors import RuleViolation
from welfare.models import AccessRightChange, AuditEvent, Staff
from welfare.web import get_database

LOGIN = "/api/v1/auth/login"
TOTP = "/api/v1/auth/totp"


def enrol(client: FlaskClient, clock: Clock, **reauth: Any) -> pyotp.TOTP:
    begun = client.post(TOTP, json={"password": PASSWORD, **reauth})
    assert begun.status_code == 200, begun.get_json()
    totp = pyotp.parse_uri(begun.get_json()["provisioning_uri"])
    confirmed = client.post(f"{TOTP}/confirm", json={"code": totp.at(clock.now)})
    assert confirmed.status_code == 204
    clock.advance(seconds=30)
    return totp


def login(app: Flask, member: Staff, otp: str | None = None) -> int:
    body = {"username": member.username, "password": PASSWORD, "otp": otp}
    return app.test_client().post(LOGIN, json=body).status_code


def security_actions(app: Flask, staff_id: uuid.UUID) -> list[str]:
    with get_database(app).new_session() as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.staff_id == staff_id, AuditEvent.category == "security")
                .order_by(AuditEvent.at, AuditEvent.id)
            )
        )


def right_changes(app: Flask, target: uuid.UUID) -> list[AccessRightChange]:
    with get_database(app).new_session() as s:
        return list(
            s.scalars(
                select(AccessRightChange)
                .where(AccessRightChange.target_staff_id == target)
                .order_by(AccessRightChange.at, AccessRightChange.id)
            )
        )


def test_a_session_cookie_alone_cannot_reset_the_second_factor(app: Flask) -> None:
    """The reported attack: with only a stolen session, re-enrol so the next login needs no
    code (or a code from the attacker's app)."""
    clock = Clock().install(app)
    member = make_staff(app, "supervisor")
    client = log_in(app, member)
    totp = enrol(client, clock)
    for body in ({}, {"password": "not the password!"}, {"password": PASSWORD}):
        attempt = client.post(TOTP, json=body)
        assert attempt.status_code == 422, body
        assert "provisioning_uri" not in attempt.get_json()
    assert login(app, member) == 401
    assert login(app, member, totp.at(clock.now)) == 200
    assert security_actions(app, member.id).count("reauth_failed") == 2


def test_replacing_the_factor_needs_a_current_code_and_keeps_the_old_one_until_confirmed(
    app: Flask,
) -> None:
    clock = Clock().install(app)
    member = make_staff(app, "counselor")
    client = log_in(app, member)
    old = enrol(client, clock)
    begun = client.post(TOTP, json={"password": PASSWORD, "otp": old.at(clock.now)})
    assert begun.status_code == 200
    new = pyotp.parse_uri(begun.get_json()["provisioning_uri"])
    assert new.secret != old.secret
    clock.advance(seconds=30)
    assert login(app, member) == 401  # begun, not confirmed: the old factor still holds
    assert login(app, member, old.at(clock.now)) == 200
    clock.advance(seconds=30)
    assert client.post(f"{TOTP}/confirm", json={"code": old.at(clock.now)}).status_code == 422
    assert client.post(f"{TOTP}/confirm", json={"code": new.at(clock.now)}).status_code == 204
    clock.advance(seconds=30)
    assert login(app, member, old.at(clock.now)) == 401
    assert login(app, member, new.at(clock.now)) == 200


def test_the_first_enrolment_needs_the_password(app: Flask) -> None:
    member = make_staff(app, "outreach")
    client = log_in(app, member)
    assert client.post(TOTP, json={}).status_code == 422
    assert client.post(TOTP, json={"password": "not the password!"}).status_code == 422
    assert client.post(TOTP, json={"password": PASSWORD}).status_code == 200


def test_removing_the_factor_needs_the_password_and_a_current_code(app: Flask) -> None:
    clock = Clock().install(app)
    member = make_staff(app, "counselor")
    client = log_in(app, member)
    totp = enrol(client, clock)
    assert client.post(f"{TOTP}/remove", json={"password": PASSWORD}).status_code == 422
    wrong = client.post(f"{TOTP}/remove", json={"password": "nope nope nope", "otp": "000000"})
    assert wrong.status_code == 422
    removed = client.post(f"{TOTP}/remove", json={"password": PASSWORD, "otp": totp.at(clock.now)})
    assert removed.status_code == 204
    assert login(app, member) == 200
    again = client.post(f"{TOTP}/remove", json={"password": PASSWORD})
    assert again.status_code == 409
    assert again.get_json()["code"] == "no_second_factor"


def test_every_enrolment_and_removal_is_in_both_chains(app: Flask) -> None:
    clock = Clock().install(app)
    member = make_staff(app, "counselor")
    client = log_in(app, member)
    totp = enrol(client, clock)
    replaced = client.post(TOTP, json={"password": PASSWORD, "otp": totp.at(clock.now)})
    new = pyotp.parse_uri(replaced.get_json()["provisioning_uri"])
    client.post(f"{TOTP}/confirm", json={"code": new.at(clock.now)})
    clock.advance(seconds=30)
    client.post(f"{TOTP}/remove", json={"password": PASSWORD, "otp": new.at(clock.now)})
    actions = [a for a in security_actions(app, member.id) if a.startswith("totp")]
    assert actions == ["totp_enrolled", "totp_enrolled", "totp_removed"]
    changes = [c for c in right_changes(app, member.id) if c.change.startswith("totp")]
    assert [(c.change, c.before, c.after) for c in changes] == [
        ("totp_enrolled", {"totp_enabled": False}, {"totp_enabled": True}),
        ("totp_enrolled", {"totp_enabled": True}, {"totp_enabled": True}),
        ("totp_removed", {"totp_enabled": True}, {"totp_enabled": False}),
    ]
    assert {c.actor_staff_id for c in changes} == {member.id}
    with get_database(app).new_session() as s:
        assert audit.verify_chain(s, "access").ok
        assert audit.verify_chain(s, "access_rights").ok


def test_an_admin_resets_someone_elses_factor_as_a_recorded_right_change(
    login_as: Any, app: Flask
) -> None:
    clock = Clock().install(app)
    admin = login_as("admin", dongs=())
    member = make_staff(app, "counselor")
    enrol(log_in(app, member), clock)
    assert login(app, member) == 401
    reset = admin.post(f"/api/v1/staff/{member.id}/totp/reset")
    assert reset.status_code == 200
    assert reset.get_json()["totp_enabled"] is False
    assert login(app, member) == 200
    change = right_changes(app, member.id)[-1]
    assert (change.change, change.actor_staff_id, change.before, change.after) == (
        "totp_reset",
        admin.staff.id,
        {"totp_enabled": True},
        {"totp_enabled": False},
    )
    assert "totp_removed" in security_actions(app, admin.staff.id)
    nothing_left = admin.post(f"/api/v1/staff/{member.id}/totp/reset")
    assert nothing_left.status_code == 409


def test_a_privileged_role_cannot_drop_its_required_factor(session: Session) -> None:
    member = Staff(
        id=uuid.uuid4(),
        username=f"sup{uuid.uuid4().hex[:6]}",
        role="supervisor",
        password_hash=make_hasher("fast").hash(PASSWORD),
        totp_enabled=True,
        failed_logins=0,
        created_at=Clock().now,
        updated_at=Clock().now,
    )
    session.add(member)
    session.flush()
    with pytest.raises(RuleViolation, match="second factor"):
        second_factor.remove(
            session,
            actor=member.actor(),
            password=PASSWORD,
            otp="123456",
            now=Clock().now,
            hasher=make_hasher("fast"),
            factor_required=True,
        )
    assert member.totp_enabled is True
