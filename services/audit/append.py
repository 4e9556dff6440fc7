"""Appending to the access chain (접속기록) and to the access-rights chain, in the caller's
transaction: one sealed record each, and nothing shared touched.

A record is sealed at append (an HMAC under the audit key over every field but its chain
position) and written unlinked; the `audit_link` job (services/audit/link.py) gives it its
place in the keyed chain within seconds. Writers therefore never wait for each other: there is
no lock and no shared row on the request path. docs/security-model.md has the threat model.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from welfare.crypto.chain import canonical_json, seal_mac
from welfare.database import session_keyring
from welfare.errors import InvalidInput
from welfare.models import (
    AccessRightChange,
    Actor,
    AuditAction,
    AuditCategory,
    AuditEvent,
    AuditOutcome,
    RightChange,
    Role,
)
from welfare.models.audit import ChainedRecord

R = TypeVar("R", bound=ChainedRecord)

MAX_REASON_LENGTH = 1000
LAST_APPENDED_AT = "welfare.audit.last_appended_at"  # in Session.info
# Keys that never belong in a before/after state: secrets are not access rights.
SECRET_STATE_KEYS = frozenset({"password", "password_hash", "secret", "token", "totp_secret"})


def record_access(
    session: Session,
    *,
    actor: Actor,
    action: AuditAction | str,
    resident_ids: Sequence[uuid.UUID | str] = (),
    outcome: AuditOutcome | str = AuditOutcome.OK,
    reason: str | None = None,
    category: AuditCategory | str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one access record to the access chain, in the caller's transaction.

    `resident_ids` are the pseudonymous ids touched (for a search: those returned, never the
    terms). `category` defaults to `security` for authentication and integrity actions and to
    `access` otherwise. A reveal or an export that succeeded needs a reason. When the actor came
    with an API token, the record names it (`token_id`, covered by the link hash).

    The record is sealed and inserted unlinked; it takes no lock and touches no shared row,
    so concurrent writers never wait for each other (the linking job chains it).
    """
    try:
        action = AuditAction(action)
        outcome = AuditOutcome(outcome)
        category = (
            AuditCategory(category)
            if category is not None
            else (AuditCategory.SECURITY if action.is_security else AuditCategory.ACCESS)
        )
    except ValueError as exc:
        raise InvalidInput({"audit": [str(exc)]}) from None
    reason = (reason.strip() or None) if reason is not None else None
    if action.needs_reason and outcome is AuditOutcome.OK and reason is None:
        raise InvalidInput({"reason": [f"a reason is required for {action.value}"]})
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput({"reason": [f"at most {MAX_REASON_LENGTH} characters"]})
    values: dict[str, Any] = {
        "at": at,
        "staff_id": actor.staff_id,
        "actor_role": Role(actor.role).value,
        "action": action.value,
        "resident_ids": _resident_id_list(resident_ids),
        "outcome": outcome.value,
        "ip": _bounded(actor.ip, 45, "ip"),
        "request_id": _bounded(actor.request_id, 64, "request_id"),
        "reason": reason,
        "category": category.value,
        "token_id": actor.token_id,
    }
    return _append(session, AuditEvent, values)


def record_right_change(
    session: Session,
    *,
    actor: Actor,
    target_staff_id: uuid.UUID,
    change: RightChange | str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    at: datetime | None = None,
) -> AccessRightChange:
    """Append one grant, change or revocation of access rights to its own chain.

    `before`/`after` describe the rights (role, dongs, status, token ids), never secrets; sets
    are stored as sorted lists so the record reads back exactly as it was hashed. The record
    names the actor's API token when there was one.
    """
    try:
        change = RightChange(change)
    except ValueError as exc:
        raise InvalidInput({"change": [str(exc)]}) from None
    values: dict[str, Any] = {
        "at": at,
        "actor_staff_id": actor.staff_id,
        "actor_role": Role(actor.role).value,
        "target_staff_id": target_staff_id,
        "change": change.value,
        "before": _rights_state(before, "before"),
        "after": _rights_state(after, "after"),
        "ip": _bounded(actor.ip, 45, "ip"),
        "request_id": _bounded(actor.request_id, 64, "request_id"),
        "token_id": actor.token_id,
    }
    return _append(session, AccessRightChange, values)


def _append(session: Session, model: type[R], values: dict[str, Any]) -> R:
    key = session_keyring(session).audit_key
    values.update(id=uuid.uuid4(), at=values["at"] or append_instant(session))
    values[model.SEAL_FIELD] = seal_mac(key, canonical_json(model.seal_fields(values)))
    record = model(**values)
    session.add(record)
    session.flush()
    return record


def append_instant(session: Session) -> datetime:
    """When a record is appended: the database's wall clock at this statement (PostgreSQL's
    `clock_timestamp()`, not the transaction's start; SQLite's host clock, to the microsecond),
    never earlier than the session's previous record, so the order of `at` is the order of
    appending and the list and the linking job follow it."""
    if session.get_bind().dialect.name == "postgresql":
        instant: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
        instant = instant.astimezone(UTC)
    else:
        instant = datetime.now(UTC)
    last = session.info.get(LAST_APPENDED_AT)
    if isinstance(last, datetime) and instant <= last:
        instant = last + timedelta(microseconds=1)
    session.info[LAST_APPENDED_AT] = instant
    return instant


def _resident_id_list(resident_ids: Sequence[uuid.UUID | str]) -> list[str]:
    if isinstance(resident_ids, str | bytes):
        raise InvalidInput({"resident_ids": ["a list of resident ids, not one string"]})
    try:
        # A UUID already prints in the canonical form; anything else is parsed to it (a bulk
        # import names a thousand residents a record).
        return sorted(
            {str(r) if type(r) is uuid.UUID else str(uuid.UUID(str(r))) for r in resident_ids}
        )
    except ValueError:
        raise InvalidInput({"resident_ids": ["resident ids must be UUIDs"]}) from None


def _bounded(value: str | None, length: int, name: str) -> str | None:
    if value is not None and len(value) > length:
        raise InvalidInput({name: [f"at most {length} characters"]})
    return value


def _rights_state(state: Mapping[str, Any], name: str) -> dict[str, Any]:
    secret = SECRET_STATE_KEYS.intersection(k.lower() for k in state)
    if secret:
        raise InvalidInput({name: [f"secrets do not belong in access records: {sorted(secret)}"]})
    try:
        plain = json.loads(canonical_json(dict(state)))
    except (TypeError, ValueError) as exc:
        raise InvalidInput({name: [str(exc)]}) from None
    return cast(dict[str, Any], plain)
