"""The one scoping mechanism: load records of the caller's dongs only, and leave access records.

Every use case that touches resident data goes through here, so no route can forget a scope
check or an access record. Scope is a SQL predicate (never a filter after loading); a record
outside the caller's scope is indistinguishable from a missing one (404), and the attempt is
recorded as `access_denied`. The access records themselves are scoped here too
(`access_records_scope`): a supervisor reviews those of their dongs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from services import audit
from welfare.errors import InvalidInput, NotFound, PreconditionFailed
from welfare.models import Actor, AuditCategory, AuditEvent, Resident, Role, Staff, StaffDong

# Roles that work with resident data. Admins manage the system and see no case content;
# gateways only post signals.
RESIDENT_DATA_ROLES = frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR})
NOTE_READERS = frozenset({Role.COUNSELOR, Role.SUPERVISOR})  # docs/security-model.md, field rules


class Scoped(Protocol):
    id: Any
    dong_code: Any


class Versioned(Scoped, Protocol):
    version: Any


T = TypeVar("T", bound=Scoped)
V = TypeVar("V", bound=Versioned)


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


def gateway_scope(
    actor: Actor,
    dong_column: InstrumentedAttribute[Any] | ColumnElement[Any],
    gateway_column: InstrumentedAttribute[Any] | ColumnElement[Any],
) -> ColumnElement[bool]:
    """The SQL predicate that limits a gateway to the sources it may speak for: of its dongs,
    and either pinned to this gateway account or to no account (then every gateway of the dong
    may). A source pinned to another gateway is outside the scope even in a shared dong."""
    if actor.is_system:
        return true()
    if actor.role is not Role.GATEWAY or not actor.dongs or actor.staff_id is None:
        return false()
    return and_(
        dong_column.in_(sorted(actor.dongs)),
        or_(gateway_column.is_(None), gateway_column == actor.staff_id),
    )


def access_records_scope(session: Session, actor: Actor) -> ColumnElement[bool]:
    """The SQL predicate that limits access records (접속기록) to those the caller may review.

    - A supervisor reviews the records made by staff who work in one of their dongs now (any
      resident, so their own staff's attempts outside the dongs show too); the records naming a
      resident whose dong is one of theirs now (by whoever made them, so another dong's probes
      of their residents show too); and security events of no staff member (failed logins under
      unknown names: a time and an address, nobody's data).
    - Admins (and the system) review every record; the content about residents in them is
      withheld when shown (`services.access_records`).
    - Nobody else reviews any.
    Both sides follow current assignments: a resident who moves takes their history to the new
    dong; a staff member who moves takes theirs.
    """
    if actor.is_system or actor.role is Role.ADMIN:
        return true()
    if actor.role is not Role.SUPERVISOR or not actor.dongs:
        return false()
    staff_of_dongs = select(StaffDong.staff_id).where(dong_scope(actor, StaffDong.dong_code))
    residents_of_dongs = select(Resident.id).where(dong_scope(actor, Resident.dong_code))
    return or_(
        AuditEvent.staff_id.in_(staff_of_dongs),
        audit.mentions_any_resident(session, residents_of_dongs),
        and_(
            AuditEvent.staff_id.is_(None),
            AuditEvent.category == AuditCategory.SECURITY.value,
        ),
    )


def residents_in_scope(
    session: Session, actor: Actor, resident_ids: Iterable[uuid.UUID | str]
) -> set[str]:
    """Which of these residents are of the caller's dongs (all of them for the system)."""
    wanted = {uuid.UUID(str(r)) for r in resident_ids}
    if not wanted:
        return set()
    if actor.is_system:
        return {str(r) for r in wanted}
    found = session.scalars(
        select(Resident.id).where(Resident.id.in_(wanted), dong_scope(actor, Resident.dong_code))
    )
    return {str(r) for r in found}


def in_scope(actor: Actor, dong_code: str | None) -> bool:
    if actor.is_system:
        return True
    return actor.role in RESIDENT_DATA_ROLES and dong_code in actor.dongs


def assignee(session: Session, staff_id: uuid.UUID, dong: str | None, *, field: str) -> Staff:
    """The staff member work of `dong` may go to: active, working with resident data, and of
    that dong (anyone such for work of no dong, e.g. a system alarm); 422 on `field` otherwise."""
    member = session.get(Staff, staff_id)
    if (
        member is None
        or not member.is_active
        or member.role_enum not in RESIDENT_DATA_ROLES
        or (dong is not None and dong not in member.dongs)
    ):
        raise InvalidInput({field: ["이 동을 담당하는 직원이 아닙니다 (not staff of this dong)"]})
    return member


def gateway(session: Session, staff_id: uuid.UUID, dong: str, *, field: str) -> Staff:
    """The gateway account a source of `dong` may be pinned to: active, a gateway, and of that
    dong; 422 on `field` otherwise (the same answer for an id that names nobody)."""
    member = session.get(Staff, staff_id)
    if (
        member is None
        or not member.is_active
        or member.role_enum is not Role.GATEWAY
        or dong not in member.dongs
    ):
        raise InvalidInput(
            {field: ["이 동을 담당하는 게이트웨이가 아닙니다 (not an active gateway of this dong)"]}
        )
    return member


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


def load_for_change(
    session: Session,
    model: type[V],
    record_id: uuid.UUID,
    *,
    actor: Actor,
    expected_version: int | None,
    resident_id_of: Any = None,
    also_visible: ColumnElement[bool] | None = None,
) -> V:
    """Load one record of the caller's dongs to change it: locked for update (a PostgreSQL row
    lock; SQLite already holds the write lock from BEGIN IMMEDIATE), and refused with 412 when
    the caller saw another version (If-Match), so a concurrent edit is never overwritten."""
    found = load_scoped(
        session,
        model,
        record_id,
        actor=actor,
        resident_id_of=resident_id_of,
        for_update=True,
        also_visible=also_visible,
    )
    check_version(found, expected_version)
    return found


def check_version(found: Versioned, expected_version: int | None) -> None:
    """412 when the caller changes a record at a version other than the one it has now."""
    if expected_version is not None and found.version != expected_version:
        raise PreconditionFailed


def commit_recorded(
    session: Session,
    *,
    actor: Actor,
    action: str,
    resident_ids: Iterable[uuid.UUID | None],
    reason: str | None = None,
) -> None:
    """End a use case: flush its writes, append its access record, commit.

    The record is the last write on purpose: appending takes the chain's lock (an advisory lock
    on PostgreSQL) until commit, so it must not wait on anything else while it holds it.
    Ids that are None (a care request not yet linked to anyone) are left out.
    """
    session.flush()
    record(
        session,
        actor=actor,
        action=action,
        resident_ids=[r for r in resident_ids if r is not None],
        reason=reason,
    )
    session.commit()


def deny(session: Session, *, actor: Actor, resident_ids: Sequence[uuid.UUID] = ()) -> None:
    """Record an out-of-scope attempt; committed at once so the denial survives the 404."""
    record_refusal(
        session, actor=actor, action="access_denied", resident_ids=resident_ids, outcome="denied"
    )


def record_refusal(
    session: Session,
    *,
    actor: Actor,
    action: str,
    resident_ids: Sequence[uuid.UUID] = (),
    outcome: str,
) -> None:
    """Record an attempt the use case is about to refuse (a 404, a 409), committed at once so
    the record survives the error answer, which rolls back everything else. Call it before the
    use case has written anything of its own."""
    audit.record_access(
        session, actor=actor, action=action, resident_ids=list(resident_ids), outcome=outcome
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
