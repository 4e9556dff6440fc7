"""Staff administration: accounts, roles and dong scopes, deactivation, unlock, passwords.

Nobody changes their own role, dongs, active flag or lock (services.rights); granting a
privileged role is recorded as a grant of its own, naming both parties."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from services import audit, auth, rights, tokens
from services.conflicts import flush_or_conflict
from services.pagination import KeyKind, Keyset, Page, paginate
from services.reference import known_dong_codes
from welfare.crypto.passwords import PasswordPolicyError, check_password_policy
from welfare.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from welfare.models import Actor, Role, Staff

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,59}$")
STAFF_ROLES = frozenset(r for r in Role if r is not Role.SYSTEM)
SCOPED_ROLES = frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR, Role.GATEWAY})
BY_USERNAME = Keyset.of((Staff.username, KeyKind.TEXT))


def create_staff(
    session: Session,
    *,
    actor: Actor | None,
    username: str,
    role: str,
    dongs: Sequence[str] = (),
    display_name: str = "",
    password: str | None = None,
    hasher: PasswordHasher,
    now: datetime,
) -> Staff:
    """Create an account; gateways get no password (they use API tokens)."""
    username = auth.normalize_username(username)
    errors: dict[str, list[str]] = {}
    if not USERNAME.match(username):
        errors["username"] = ["영문 소문자·숫자·.-_ 3~60자 (3-60 lowercase letters, digits, . - _)"]
    parsed_role = _parse_role(role, errors)
    _check_dongs(session, dongs, errors)
    if parsed_role is not None and parsed_role is not Role.GATEWAY:
        if password is None:
            errors["password"] = ["비밀번호가 필요합니다 (password required)"]
        else:
            _check_policy(password, username, display_name, errors)
    if errors:
        raise InvalidInput(errors)
    _refuse_taken(session, username)
    staff = Staff(
        id=uuid.uuid4(),
        username=username,
        display_name=display_name.strip(),
        role=str(parsed_role),
        is_active=True,
        password_hash=hasher.hash(password)
        if password and parsed_role is not Role.GATEWAY
        else None,
        password_changed_at=now if password else None,
        failed_logins=0,
        created_at=now,
        updated_at=now,
    )
    staff.set_dongs(list(dongs))
    session.add(staff)
    # Another request may create the same username between the check and this insert.
    flush_or_conflict(session, lambda: _refuse_taken(session, username))
    rights.record(
        session,
        actor=actor,
        staff=staff,
        change="created",
        before={},
        after=rights.rights_of(staff),
    )
    if rights.is_privileged(parsed_role):
        rights.record(
            session,
            actor=actor,
            staff=staff,
            change="role_granted",
            before={},
            after=rights.rights_of(staff),
        )
    session.commit()
    return staff


def _refuse_taken(session: Session, username: str) -> None:
    if session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        raise Conflict("이미 사용 중인 아이디입니다 (username taken)", code="username_taken")


def get_staff(session: Session, staff_id: uuid.UUID) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound
    return staff


def get_staff_by_username(session: Session, username: str) -> Staff:
    staff = session.scalar(select(Staff).where(Staff.username == auth.normalize_username(username)))
    if staff is None:
        raise NotFound("해당 아이디가 없습니다 (no such staff member)")
    return staff


def list_staff(session: Session, *, cursor: str | None, limit: int) -> Page[Staff]:
    return paginate(session, select(Staff), BY_USERNAME, cursor=cursor, limit=limit)


def update_staff(
    session: Session,
    *,
    actor: Actor,
    staff_id: uuid.UUID,
    expected_version: int | None,
    now: datetime,
    role: str | None = None,
    dongs: Sequence[str] | None = None,
    display_name: str | None = None,
) -> Staff:
    """Change role, scope or name; a role or scope change ends the member's sessions.

    Nobody changes their own role or dongs (403, recorded); their own name they may.
    """
    staff = get_staff(session, staff_id)
    errors: dict[str, list[str]] = {}
    parsed_role = _parse_role(role, errors) if role is not None else None
    if dongs is not None:
        _check_dongs(session, dongs, errors)
    if errors:
        raise InvalidInput(errors)
    role_changes = parsed_role is not None and parsed_role != staff.role_enum
    dongs_change = dongs is not None and sorted(set(dongs)) != staff.dongs
    if role_changes or dongs_change:
        rights.refuse_own(session, actor=actor, target_id=staff.id, what="role_or_dongs")
    if expected_version is not None and staff.version != expected_version:
        raise PreconditionFailed
    before = rights.rights_of(staff)
    rights_changed = False
    if role_changes and parsed_role is not None:
        staff.role = str(parsed_role)
        rights_changed = True
    if dongs_change and dongs is not None:
        staff.set_dongs(list(dongs))
        rights_changed = True
    if display_name is not None:
        staff.display_name = display_name.strip()
    staff.updated_at = now
    if rights_changed:
        auth.end_sessions(session, staff_id=staff.id)
        session.flush()
        after = rights.rights_of(staff)
        if before["role"] == after["role"]:
            change = "dongs_changed"
        elif rights.is_privileged(after["role"]):
            change = "role_granted"  # explicit, so a review finds every grant of privilege
        else:
            change = "role_changed"
        rights.record(session, actor=actor, staff=staff, change=change, before=before, after=after)
    session.commit()
    return staff


def deactivate_staff(
    session: Session, *, actor: Actor, staff_id: uuid.UUID, now: datetime
) -> Staff:
    staff = get_staff(session, staff_id)
    rights.refuse_own(session, actor=actor, target_id=staff.id, what="active_flag")
    before = rights.rights_of(staff)
    staff.is_active = False
    staff.updated_at = now
    auth.end_sessions(session, staff_id=staff.id)
    tokens.revoke_all(session, staff_id=staff.id, now=now)
    rights.record(
        session,
        actor=actor,
        staff=staff,
        change="deactivated",
        before=before,
        after=rights.rights_of(staff),
    )
    session.commit()
    return staff


def unlock_staff(session: Session, *, actor: Actor, staff_id: uuid.UUID, now: datetime) -> Staff:
    """Lift a lockout; never one's own (that would let a stolen session keep guessing the
    password through re-authentication)."""
    staff = get_staff(session, staff_id)
    rights.refuse_own(session, actor=actor, target_id=staff.id, what="lock")
    staff.record_successful_login()
    staff.updated_at = now
    rights.record(session, actor=actor, staff=staff, change="unlocked", before={}, after={})
    session.commit()
    return staff


def reset_password(
    session: Session,
    *,
    actor: Actor,
    staff_id: uuid.UUID,
    new_password: str,
    hasher: PasswordHasher,
    now: datetime,
) -> Staff:
    """Set a forgotten password (the operator's CLI, or an admin for someone else): the policy
    applies, the lockout lifts, every session of the member ends, and the rights chain keeps it.
    Never one's own: one's own password changes with the current one (`change_password`)."""
    staff = get_staff(session, staff_id)
    rights.refuse_own(session, actor=actor, target_id=staff.id, what="password_reset")
    if staff.role_enum is Role.GATEWAY:
        raise InvalidInput(
            {"username": ["게이트웨이는 비밀번호가 없습니다 (gateways have no password)"]}
        )
    errors: dict[str, list[str]] = {}
    _check_policy(new_password, staff.username, staff.display_name, errors)
    if errors:
        raise InvalidInput(errors)
    staff.password_hash = hasher.hash(new_password)
    staff.password_changed_at = now
    staff.record_successful_login()  # a reset also lifts a lockout
    staff.updated_at = now
    auth.end_sessions(session, staff_id=staff.id)
    rights.record(session, actor=actor, staff=staff, change="password_reset", before={}, after={})
    session.commit()
    return staff


def change_password(
    session: Session,
    *,
    actor: Actor,
    current_password: str,
    new_password: str,
    keep_session_id: uuid.UUID | None,
    hasher: PasswordHasher,
    now: datetime,
) -> None:
    """Change one's own password; every other session of that member ends. A wrong current
    password is a login failure: it counts toward the lockout and is recorded."""
    if actor.staff_id is None:
        raise NotFound
    staff = get_staff(session, actor.staff_id)
    auth.reauthenticate(
        session,
        staff=staff,
        password=current_password,
        otp=None,
        now=now,
        hasher=hasher,
        ip=actor.ip,
        request_id=actor.request_id,
        field="current_password",
        second_factor=False,
    )
    errors: dict[str, list[str]] = {}
    _check_policy(new_password, staff.username, staff.display_name, errors, field="new_password")
    if errors:
        raise InvalidInput(errors)
    staff.password_hash = hasher.hash(new_password)
    staff.password_changed_at = now
    staff.updated_at = now
    auth.end_sessions(session, staff_id=staff.id, keep_session_id=keep_session_id)
    audit.record_access(session, actor=actor, action="password_changed")
    session.commit()


def _parse_role(role: str | None, errors: dict[str, list[str]]) -> Role | None:
    try:
        parsed = Role(role) if role is not None else None
    except ValueError:
        parsed = None
    if parsed is None or parsed not in STAFF_ROLES:
        errors["role"] = ["counselor, outreach, supervisor, admin, gateway 중 하나 (unknown role)"]
        return None
    return parsed


def _check_dongs(session: Session, dongs: Sequence[str], errors: dict[str, list[str]]) -> None:
    unknown = sorted(set(dongs) - known_dong_codes(session))
    if unknown:
        errors["dongs"] = [f"알 수 없는 행정동 코드 (unknown dong code): {', '.join(unknown)}"]


def _check_policy(
    password: str,
    username: str,
    display_name: str,
    errors: dict[str, list[str]],
    field: str = "password",
) -> None:
    try:
        check_password_policy(password, username=username, display_name=display_name)
    except PasswordPolicyError as exc:
        errors[field] = [exc.message]
