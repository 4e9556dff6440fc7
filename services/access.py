"""The one scoping mechanism: load records of the caller's dongs only, and leave access records.

Every use case that touches resident data goes through here, so no route can forget a scope
check or an access record. Scope is a SQL predicate (never a filter after loading); a record
outside the caller's scope is indistinguishable from a missing one (404), and the attempt is
recorded as `access_denied`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from services import audit
from welfare.errors import NotFound
from welfare.models import Actor, Role

# Roles that work with resident data. Admins manage the system and see no case content;
# gateways only post signals.
RESIDENT_DATA_ROLES = frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR})
NOTE_READERS = frozenset({Role.COUNSELOR, Role.SUPERVISOR})  # SECURITY.md 14


class Scoped(Protocol):
    id: Any
    dong_code: Any


T = TypeVar("T", bound=Scoped)


def may_read_notes(actor: Actor) -> bool:
    return actor.role in NOTE_READERS or actor.is_system


def dong_scope(
    actor: Actor, column: InstrumentedAttribute[Any] | ColumnElement[Any]
) -> ColumnElement[bool]:
    """The SQL predicate that limits a query to the caller's dongs."""
    if actor.is_system:
        return true()
    if actor.role not in RESIDENT_DATA_ROLES or not actor.dongs:
        return false()
    return column.in_(sorted(actor.dongs))


def in_scope(actor: Actor, dong_code: str | None) -> bool:
    if actor.is_system:
        return True
    return actor.role in RESIDENT_DATA_ROLES and dong_code in actor.dongs


def load_scoped(
    session: Session,
    model: type[T],
    record_id: uuid.UUID,
    *,
    actor: Actor,
    resident_id_of: Any = None,
    for_update: bool = False,
    also_visible: ColumnElement[bool] | None = None,
) -> T:
    """Load one record of the caller's dongs, or record the denial and raise NotFound."""
    visible = dong_scope(actor, model.dong_code)
    if also_visible is not None:
        visible = or_(visible, also_visible)
    stmt = select(model).where(model.id == record_id, visible)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.scalar(stmt)
    if found is not None:
        return found
    hidden = session.scalar(select(model).where(model.id == record_id))
    if hidden is not None:
        resident_ids = [resident_id_of(hidden)] if resident_id_of else []
        deny(session, actor=actor, resident_ids=[r for r in resident_ids if r is not None])
    raise NotFound


def deny(session: Session, *, actor: Actor, resident_ids: Sequence[uuid.UUID] = ()) -> None:
    """Record an out-of-scope attempt; committed at once so the denial survives the 404."""
    audit.record_access(
        session,
        actor=actor,
        action="access_denied",
        resident_ids=list(resident_ids),
        outcome="denied",
    )
    session.commit()


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    resident_ids: Iterable[uuid.UUID],
    reason: str | None = None,
    outcome: str = "ok",
) -> None:
    """One access record for one use case (read, search, create, update, export, reveal...)."""
    audit.record_access(
        session,
        actor=actor,
        action=action,
        resident_ids=list(resident_ids),
        outcome=outcome,
        reason=reason,
    )
