"""Logging in and out: password and TOTP checks, re-authentication, lockout, sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import pyotp
from argon2 import PasswordHasher
from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from services import audit, key_retirement
from welfare.crypto.passwords import verify_password
from welfare.crypto.sealed import SealError, open_sealed, seal
from welfare.database import session_keyring
from welfare.errors import DomainError, InvalidInput
from welfare.models import Actor, Role, Staff, StaffSession
from welfare.models.staff import SESSION_ABSOLUTE_TIMEOUT

TOUCH_INTERVAL = timedelta(seconds=30)  # how stale last_seen_at / last_used_at may get
TOTP_PURPOSE = "staff-totp"


class AuthenticationFailed(DomainError):
    """One answer for every failure, so nobody learns which usernames exist or are locked."""

    status = 401
    code = "login_failed"
    title = "아이디 또는 비밀번호가 올바르지 않습니다 (login failed)"


@dataclass(frozen=True, slots=True)
class LoginResult:
    staff: Staff
    session_token: str
    session: StaffSession


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def normalize_username(username: str) -> str:
    return username.strip().lower()


def login(
    session: Session,
    *,
    username: str,
    password: str,
    otp: str | None,
    ip: str | None,
    now: datetime,
    hasher: PasswordHasher,
    require_totp_for_privileged: bool = False,
    replaces_token: str | None = None,
    request_id: str | None = None,
) -> LoginResult:
    """Check credentials and open a new session (a fresh id: never reuse a pre-login one)."""
    staff = session.scalar(
        select(Staff).where(Staff.username == normalize_username(username)).with_for_update()
    )
    if staff is None or not staff.is_active or staff.role == Role.GATEWAY:
        verify_password(hasher, None, password)
        _security_event(session, staff, "login_failed", ip=ip, request_id=request_id, now=now)
        session.commit()
        raise AuthenticationFailed
    if staff.is_locked(now):
        verify_password(hasher, None, password)
        _security_event(session, staff, "login_failed", ip=ip, request_id=request_id, now=now)
        session.commit()
        raise AuthenticationFailed
    ok = verify_password(hasher, staff.password_hash, password)
    if ok and staff.totp_enabled:
        ok = otp is not None and use_totp_code(session, staff, otp, now)
    if (
        ok
        and require_totp_for_privileged
        and not staff.totp_enabled
        and staff.role in (Role.SUPERVISOR, Role.ADMIN)
    ):
        ok = False  # supervisors and admins need TOTP in production (docs/security-model.md)
    if not ok:
        _count_failure(session, staff, "login_failed", ip=ip, request_id=request_id, now=now)
        session.commit()
        raise AuthenticationFailed
    staff.record_successful_login()
    if staff.password_hash and hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = hasher.hash(password)
    if replaces_token:
        session.execute(
            delete(StaffSession).where(StaffSession.token_hash == token_digest(replaces_token))
        )
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        token_hash=token_digest(token),
        staff_id=staff.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_ABSOLUTE_TIMEOUT,
        ip=ip,
    )
    session.add(row)
    _security_event(session, staff, "login", ip=ip, request_id=request_id, now=now, outcome="ok")
    session.commit()
    return LoginResult(staff=staff, session_token=token, session=row)


class ReauthenticationFailed(InvalidInput):
    """A logged-in member's password (or current code) was wrong; it counts toward lockout."""

    code = "reauthentication_failed"

    def __init__(self, field: str = "password") -> None:
        super().__init__(
            {field: ["비밀번호 또는 인증 코드가 올바르지 않습니다 (wrong password or code)"]}
        )


def reauthenticate(
    session: Session,
    *,
    staff: Staff,
    password: str,
    otp: str | None,
    now: datetime,
    hasher: PasswordHasher,
    ip: str | None = None,
    request_id: str | None = None,
    field: str = "password",
    second_factor: bool = True,
) -> None:
    """Check that the member at the keyboard knows the password, and a current code where a
    second factor is enrolled, before a sensitive change to their own account (a token, the
    second factor, the password). A session cookie alone proves neither.

    A failure is a login failure: it counts toward the lockout, locks the account at the
    threshold and is recorded (`reauth_failed`); a locked account is refused without a check.
    The failure is committed before ReauthenticationFailed is raised, so it outlives the 422.
    `second_factor=False` checks the password alone (changing the password, which the second
    factor still guards at the next login).
    """
    # Locked like a login, so concurrent attempts count one by one and a code is spent once.
    session.refresh(staff, with_for_update=True)
    ok = not staff.is_locked(now) and verify_password(hasher, staff.password_hash, password)
    if ok and second_factor and staff.totp_enabled:
        ok = otp is not None and use_totp_code(session, staff, otp, now)
    if not ok:
        _count_failure(session, staff, "reauth_failed", ip=ip, request_id=request_id, now=now)
        session.commit()
        raise ReauthenticationFailed(field)


def _count_failure(
    session: Session,
    staff: Staff,
    action: str,
    *,
    ip: str | None,
    request_id: str | None,
    now: datetime,
) -> None:
    """One failed login or re-authentication: counted, recorded, and a lock recorded too."""
    if staff.is_locked(now):
        _security_event(session, staff, action, ip=ip, request_id=request_id, now=now)
        return
    locked = staff.record_failed_login(now)
    _security_event(session, staff, action, ip=ip, request_id=request_id, now=now)
    if locked:
        # Every lock is a security event of its own, so the monthly review lists it.
        _security_event(session, staff, "locked_out", ip=ip, request_id=request_id, now=now)


def _security_event(
    session: Session,
    staff: Staff | None,
    action: str,
    *,
    ip: str | None,
    request_id: str | None,
    now: datetime,
    outcome: str = "denied",
) -> None:
    """Authentication events go to the access-record chain (category security)."""
    actor = (
        staff.actor(ip=ip, request_id=request_id)
        if staff is not None
        else Actor(staff_id=None, role=Role.SYSTEM, ip=ip, request_id=request_id)
    )
    audit.record_access(session, actor=actor, action=action, outcome=outcome, at=now)


def resolve_session(
    session: Session, *, token: str, now: datetime
) -> tuple[StaffSession, Staff] | None:
    """The live session for a cookie token, or None (expired sessions are removed)."""
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == token_digest(token)))
    if row is None:
        return None
    staff = session.get(Staff, row.staff_id)
    if not row.is_live(now) or staff is None or not staff.is_active:
        session.delete(row)
        session.commit()
        return None
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        row.last_seen_at = now
        session.commit()
    return row, staff


def logout(session: Session, *, token: str, actor: Actor | None = None) -> None:
    session.execute(delete(StaffSession).where(StaffSession.token_hash == token_digest(token)))
    if actor is not None:
        audit.record_access(session, actor=actor, action="logout")
    session.commit()


def end_sessions(session: Session, *, staff_id: object, keep_session_id: object = None) -> int:
    """End a staff member's sessions server-side (a replayed cookie then gets 401)."""
    stmt = delete(StaffSession).where(StaffSession.staff_id == staff_id)
    if keep_session_id is not None:
        stmt = stmt.where(StaffSession.id != keep_session_id)
    # Session.execute is typed as Result; a DML statement gives a CursorResult with rowcount.
    return cast(CursorResult[Any], session.execute(stmt)).rowcount or 0


# -- TOTP -------------------------------------------------------------------------------------
def open_totp_secret(session: Session, staff: Staff, sealed: bytes) -> str | None:
    """The TOTP seed sealed for this member, or None when it does not open (moved or altered)."""
    try:
        return open_sealed(
            session_keyring(session), sealed, purpose=TOTP_PURPOSE, owner=str(staff.id)
        ).decode()
    except SealError:
        return None


def seal_totp_secret(session: Session, staff: Staff, secret: str) -> bytes:
    """`secret` sealed under a master key not retired meanwhile (services/key_retirement.py)."""
    keyring = key_retirement.wrapping_keyring(session)
    return seal(keyring, secret.encode(), purpose=TOTP_PURPOSE, owner=str(staff.id))


def totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second step (current or adjacent) whose code `code` is, or None."""
    code = code.strip()
    # Only ASCII digits can match, and compare_digest raises TypeError on non-ASCII text.
    if not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        moment = now + timedelta(seconds=30 * offset)
        if secrets.compare_digest(totp.at(moment), code):
            return int(totp.timecode(moment))
    return None


def use_totp_code(session: Session, staff: Staff, code: str, now: datetime) -> bool:
    """Accept a code of the enrolled seed from the current or adjacent step, each step once."""
    if staff.totp_secret is None:
        return False
    secret = open_totp_secret(session, staff, staff.totp_secret)
    step = totp_step(secret, code, now) if secret is not None else None
    if step is None:
        return False
    if staff.totp_last_step is not None and step <= staff.totp_last_step:
        return False  # replayed code
    staff.totp_last_step = step
    return True
