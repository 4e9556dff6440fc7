"""Reviewing the access records (접속기록): supervisors those of their dongs, admins all of them
without what the records say about residents; the scope is services.access's, in SQL
(docs/security-model.md, "Access records: who may review which")."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, audit
from services.audit.review import WorkingHours, monthly_review
from welfare.models import Actor, AuditAction, AuditEvent, Role, Staff


@dataclass(frozen=True, slots=True)
class AccessRecordView:
    """One access record as the caller may see it.

    Admins see every resident id (pseudonymous: nothing to look up without resident access,
    which admins do not have) but no reason: a reveal or export reason is free text about a
    resident, i.e. case content, which admins never see. Supervisors see the ids of residents
    of their dongs only, and a record's reason unless it names only residents of other dongs;
    what is withheld is counted, never silently dropped.
    """

    id: uuid.UUID
    seq: int | None  # None until the linking job places it in the chain
    at: datetime
    staff_id: uuid.UUID | None
    actor_role: str
    action: str
    resident_ids: list[str]
    resident_ids_withheld: int
    outcome: str
    ip: str | None
    request_id: str | None
    reason: str | None
    reason_withheld: bool
    category: str
    token_id: uuid.UUID | None = None
    staff_name: str | None = None  # the display name beside the id, for the reviewer


def list_access_records(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    token_id: uuid.UUID | None = None,
    action: AuditAction | str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[AccessRecordView], str | None]:
    """The access records the caller may review, newest first, a page at a time.

    Filtering by a resident of another dong is no out-of-scope attempt: it finds what the
    caller's own staff did to that resident, and nothing else.
    """
    items, next_cursor = audit.query_events(
        session,
        visible=access.access_records_scope(session, actor),
        resident_id=resident_id,
        staff_id=staff_id,
        token_id=token_id,
        action=action,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    return _views(session, actor, items), next_cursor


def review_month(
    session: Session,
    *,
    actor: Actor,
    month: date,
    working_hours: WorkingHours | None = None,
) -> dict[str, Any]:
    """The monthly review over the access records the caller may review (counts and staff
    ids only), saying whose records it covers."""
    review = monthly_review(
        session,
        month=month,
        working_hours=working_hours,
        visible=access.access_records_scope(session, actor),
    )
    everything = actor.is_system or actor.role is Role.ADMIN
    _name_staff(session, review)
    return review | {"scope": {"dongs": None if everything else sorted(actor.dongs)}}


def _name_staff(session: Session, review: dict[str, Any]) -> None:
    """Put each staff member's display name beside their id in every list of the review."""
    rows = [
        row
        for value in review.values()
        if isinstance(value, list)
        for row in value
        if isinstance(row, dict) and "staff_id" in row
    ]
    names = staff_names(session, (row["staff_id"] for row in rows))
    for row in rows:
        row["staff_name"] = names.get(row["staff_id"]) if row["staff_id"] else None


def _views(session: Session, actor: Actor, items: Sequence[AuditEvent]) -> list[AccessRecordView]:
    admin = actor.role is Role.ADMIN
    shown = (
        None
        if admin or actor.is_system
        else access.residents_in_scope(session, actor, {r for e in items for r in e.resident_ids})
    )
    names = staff_names(session, (e.staff_id for e in items))
    views = []
    for event in items:
        ids = list(event.resident_ids)
        visible_ids = ids if shown is None else [r for r in ids if r in shown]
        reason_shown = not admin and (not ids or bool(visible_ids))
        views.append(
            AccessRecordView(
                id=event.id,
                seq=event.seq,
                at=event.at,
                staff_id=event.staff_id,
                actor_role=event.actor_role,
                action=event.action,
                resident_ids=visible_ids,
                resident_ids_withheld=len(ids) - len(visible_ids),
                outcome=event.outcome,
                ip=event.ip,
                request_id=event.request_id,
                reason=event.reason if reason_shown else None,
                reason_withheld=event.reason is not None and not reason_shown,
                category=event.category,
                token_id=event.token_id,
                staff_name=names.get(event.staff_id) if event.staff_id else None,
            )
        )
    return views


def staff_names(session: Session, staff_ids: Iterable[uuid.UUID | str | None]) -> dict[Any, str]:
    """Display names of staff members (the username where none was given), in one query;
    keyed by the id as given (UUID or its string)."""
    wanted = {uuid.UUID(str(s)): s for s in staff_ids if s is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(Staff.id, Staff.display_name, Staff.username).where(Staff.id.in_(wanted))
    ).all()
    return {wanted[i]: (name or username) for i, name, username in rows}
