"""The second factor (TOTP): a member enrols, replaces or removes their own after
re-authenticating; an admin resets someone else's; the operator enrols one from the CLI. Each
change is recorded twice: a security access record and an access-right change."""

from __future__ import annotations

import uuid
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from services import audit, auth, rights
from welfare.errors import NotFound, RuleViolation
from welfare.models import Actor, AuditAction, Role, Staff

TOTP_ISSUER = "Geumcheon Welfare"


class SecondFactorRequired(RuleViolation):
    code = "second_factor_required"
    title = (
        "이 역할은 운영 환경에서 2단계 인증이 필수라 해제할 수 없습니다. 새 기기로 다시 "
        "등록하세요 (your role needs a second factor in production; enrol a new device instead)"
    )


class NoSecondFactor(RuleViolation):
    code = "no_second_factor"
    title = "등록된 2단계 인증이 없습니다 (no second factor enrolled)"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    return str(pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER))


def begin_enrolment(
    session: Session,
    *,
    actor: Actor,
    password: str,
    otp: str | None,
    now: datetime,
    hasher: PasswordHasher,
) -> str:
    """Start enrolling a (new) seed; returns its provisioning URI, shown once.

    Needs the password, and a current code of the enrolled factor when there is one. The new
    seed waits beside the current one until `confirm_enrolment` sees a code from it, so starting
    an enrolment never switches a factor off.
    """
    member = _member(session, actor.staff_id)
    auth.reauthenticate(
        session,
        staff=member,
        password=password,
        otp=otp,
        now=now,
        hasher=hasher,
        ip=actor.ip,
        request_id=actor.request_id,
    )
    secret = new_secret()
    member.totp_pending_secret = auth.seal_totp_secret(session, member, secret)
    session.commit()
    return provisioning_uri(secret, member.username)


def confirm_enrolment(session: Session, *, actor: Actor, code: str, now: datetime) -> bool:
    """Enable the seed begun by `begin_enrolment` once a code from it matches; False otherwise."""
    member = _member(session, actor.staff_id)
    pending = member.totp_pending_secret
    secret = auth.open_totp_secret(session, member, pending) if pending is not None else None
    step = auth.totp_step(secret, code, now) if secret is not None else None
    if pending is None or step is None:
        return False
    _enable(session, actor, member, sealed=pending, step=step)
    session.commit()
    return True


def enrol_by_operator(
    session: Session, *, staff_id: uuid.UUID, secret: str, code: str, now: datetime
) -> bool:
    """`welfare staff totp`: enrol `secret` (shown to the operator) once `code` from it matches,
    e.g. before a supervisor's or admin's first production login. Replaces any current one."""
    member = _member(session, staff_id)
    step = auth.totp_step(secret, code, now)
    if step is None:
        return False
    _enable(session, None, member, sealed=auth.seal_totp_secret(session, member, secret), step=step)
    session.commit()
    return True


def remove(
    session: Session,
    *,
    actor: Actor,
    password: str,
    otp: str | None,
    now: datetime,
    hasher: PasswordHasher,
    factor_required: bool,
) -> None:
    """Remove one's own second factor: needs the password and a current code. Refused where
    the role needs a factor (`factor_required`: supervisors and admins in production)."""
    member = _member(session, actor.staff_id)
    if not member.totp_enabled:
        raise NoSecondFactor
    if factor_required and member.role_enum in (Role.SUPERVISOR, Role.ADMIN):
        raise SecondFactorRequired
    auth.reauthenticate(
        session,
        staff=member,
        password=password,
        otp=otp,
        now=now,
        hasher=hasher,
        ip=actor.ip,
        request_id=actor.request_id,
    )
    _disable(session, actor, member, change="totp_removed")
    session.commit()


def reset(session: Session, *, actor: Actor, staff_id: uuid.UUID, now: datetime) -> Staff:
    """An admin removes someone else's second factor (a lost phone); never their own."""
    rights.refuse_own(session, actor=actor, target_id=staff_id, what="second_factor")
    member = _member(session, staff_id)
    if not member.totp_enabled and member.totp_pending_secret is None:
        raise NoSecondFactor
    _disable(session, actor, member, change="totp_reset")
    member.updated_at = now
    session.commit()
    return member


def _enable(
    session: Session, actor: Actor | None, member: Staff, *, sealed: bytes, step: int
) -> None:
    before = {"totp_enabled": member.totp_enabled}
    member.totp_secret = sealed
    member.totp_pending_secret = None
    member.totp_enabled = True
    member.totp_last_step = step  # the confirming code is spent
    session.flush()
    rights.record(
        session,
        actor=actor,
        staff=member,
        change="totp_enrolled",
        before=before,
        after={"totp_enabled": True},
    )
    audit.record_access(
        session, actor=actor or Actor.system("cli"), action=AuditAction.TOTP_ENROLLED
    )


def _disable(session: Session, actor: Actor, member: Staff, *, change: str) -> None:
    before = {"totp_enabled": member.totp_enabled}
    member.totp_secret = None
    member.totp_pending_secret = None
    member.totp_enabled = False
    member.totp_last_step = None
    session.flush()
    rights.record(
        session,
        actor=actor,
        staff=member,
        change=change,
        before=before,
        after={"totp_enabled": False},
    )
    audit.record_access(session, actor=actor, action=AuditAction.TOTP_REMOVED)


def _member(session: Session, staff_id: uuid.UUID | None) -> Staff:
    member = session.get(Staff, staff_id, with_for_update=True) if staff_id is not None else None
    if member is None:
        raise NotFound
    return member
