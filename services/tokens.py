"""API tokens: gateways (machines) get theirs from an admin or the operator; a person holds one
only by issuing it to themself after re-authenticating. Tokens expire, name their issuer, and
only their hash is stored."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services import auth, rights
from welfare.errors import Forbidden, NotFound
from welfare.models import Actor, ApiToken, Role, Staff, TokenIssuer

TOKEN_PREFIX = "gwf_"  # noqa: S105 - a marker that tells a token apart, not a secret
# A person (not a gateway) is served only with a token they issued themself or the operator
# issued on the server; one an admin issued through the API never makes anyone act as a person.
PERSON_TOKEN_ISSUERS = frozenset({TokenIssuer.SELF, TokenIssuer.CLI})


class TokenForPersonRefused(Forbidden):
    code = "token_for_person"
    title = (
        "관리자는 게이트웨이 계정에만 API 토큰을 발급할 수 있습니다. 직원은 재인증 후 본인 "
        "토큰을 직접 발급합니다 (admins issue API tokens to gateway accounts only; a person "
        "issues their own after re-authenticating)"
    )


def issue_token(
    session: Session,
    *,
    actor: Actor | None,
    staff_id: uuid.UUID,
    label: str,
    now: datetime,
    lifetime: timedelta,
) -> tuple[str, ApiToken]:
    """Issue a token for an account: an admin may for a gateway account only; the operator
    (actor None: `welfare tokens create`, which needs the server) for any account."""
    member = _member(session, staff_id)
    if actor is not None:
        rights.refuse_own(session, actor=actor, target_id=member.id, what="token")
        if actor.role is not Role.ADMIN or member.role_enum is not Role.GATEWAY:
            rights.refuse(session, actor=actor, reason="token_for_person")
            raise TokenForPersonRefused
    via = TokenIssuer.CLI if actor is None else TokenIssuer.ADMIN
    return _issue(session, actor, member, via=via, label=label, now=now, lifetime=lifetime)


def issue_own_token(
    session: Session,
    *,
    actor: Actor,
    password: str,
    otp: str | None,
    label: str,
    now: datetime,
    lifetime: timedelta,
    hasher: PasswordHasher,
) -> tuple[str, ApiToken]:
    """A person's token for themself (a script of their own), after re-authenticating: their
    password, and a current code where a second factor is enrolled."""
    member = _member(session, actor.staff_id)
    if member.role_enum is Role.GATEWAY:  # a machine has no password to re-authenticate with
        raise TokenForPersonRefused
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
    return _issue(
        session, actor, member, via=TokenIssuer.SELF, label=label, now=now, lifetime=lifetime
    )


def _issue(
    session: Session,
    actor: Actor | None,
    member: Staff,
    *,
    via: TokenIssuer,
    label: str,
    now: datetime,
    lifetime: timedelta,
) -> tuple[str, ApiToken]:
    """Create the token; the plaintext is returned once and only its hash is stored."""
    secret = secrets.token_urlsafe(32)
    plaintext = TOKEN_PREFIX + secret
    row = ApiToken(
        id=uuid.uuid4(),
        staff_id=member.id,
        token_hash=auth.token_digest(plaintext),
        prefix=secret[:8],
        label=label,
        created_at=now,
        expires_at=now + lifetime,
        issued_by=actor.staff_id if actor is not None else None,
        issued_via=via.value,
    )
    session.add(row)
    session.flush()
    rights.record(
        session,
        actor=actor,
        staff=member,
        change="token_issued",
        before={},
        after={
            "token_id": str(row.id),
            "token_prefix": row.prefix,
            "issued_via": via.value,
            "expires_at": row.expires_at.isoformat(),
        },
    )
    session.commit()
    return plaintext, row


def resolve_token(session: Session, *, token: str, now: datetime) -> tuple[ApiToken, Staff] | None:
    """The live token and its account, or None (unknown, revoked, expired, a deactivated
    account, or a person's token that they did not issue themself)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == auth.token_digest(token)))
    if row is None or not row.is_live(now):
        return None
    staff = session.get(Staff, row.staff_id)
    if staff is None or not staff.is_active:
        return None
    if staff.role_enum is not Role.GATEWAY and row.issued_via not in PERSON_TOKEN_ISSUERS:
        return None  # e.g. a gateway's token whose account an admin later made a person's
    if row.last_used_at is None or now - row.last_used_at >= auth.TOUCH_INTERVAL:
        row.last_used_at = now
        session.commit()
    return row, staff


def list_tokens(session: Session, *, staff_id: uuid.UUID | None) -> list[ApiToken]:
    _member(session, staff_id)
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.staff_id == staff_id).order_by(ApiToken.created_at)
        )
    )


def revoke_token(
    session: Session, *, actor: Actor, staff_id: uuid.UUID, token_id: uuid.UUID, now: datetime
) -> None:
    """Revoke one token of `staff_id` at once (an admin's, or the owner's own)."""
    token = session.get(ApiToken, token_id)
    if token is None or token.staff_id != staff_id:
        raise NotFound
    if token.revoked_at is None:
        token.revoked_at = now
        rights.record(
            session,
            actor=actor,
            staff=_member(session, staff_id),
            change="token_revoked",
            before={"token_id": str(token.id), "token_prefix": token.prefix},
            after={},
        )
    session.commit()


def revoke_own_token(session: Session, *, actor: Actor, token_id: uuid.UUID, now: datetime) -> None:
    """Revoke one of the caller's own tokens; someone else's answers 404, recorded."""
    token = session.get(ApiToken, token_id)
    if token is not None and token.staff_id != actor.staff_id:
        rights.refuse(session, actor=actor, reason="not_own_token")
    if token is None or token.staff_id != actor.staff_id or actor.staff_id is None:
        raise NotFound
    revoke_token(session, actor=actor, staff_id=actor.staff_id, token_id=token_id, now=now)


def revoke_all(session: Session, *, staff_id: uuid.UUID, now: datetime) -> None:
    """Revoke every live token of an account, in the caller's transaction (deactivation)."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.staff_id == staff_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _member(session: Session, staff_id: uuid.UUID | None) -> Staff:
    member = session.get(Staff, staff_id) if staff_id is not None else None
    if member is None:
        raise NotFound
    return member
