"""Querying access records for supervisors and admins: filters, newest first, a page at a time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Uuid, cast, func, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from services.pagination import KeyKind, Keyset, paginate
from welfare.errors import InvalidInput
from welfare.models import AuditAction, AuditEvent

MAX_PAGE_SIZE = 500
# By append time: a record is listed from its append on, before the linking job numbers it.
NEWEST_FIRST = Keyset.of(
    (AuditEvent.at, KeyKind.INSTANT), (AuditEvent.id, KeyKind.UUID), descending=True
)


def query_events(
    session: Session,
    *,
    visible: ColumnElement[bool] | None = None,
    resident_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    token_id: uuid.UUID | None = None,
    action: AuditAction | str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[AuditEvent], str | None]:
    """Access records matching every filter given, newest first, a page at a time.

    `visible` is the caller's scope as a SQL predicate (`services.access.access_records_scope`);
    None only for operators' own tools. `since` is inclusive, `until` exclusive. Pass the
    returned cursor back for the next page; it is None on the last page.
    """
    conditions: list[ColumnElement[bool]] = [] if visible is None else [visible]
    if resident_id is not None:
        conditions.append(_mentions_resident(session, resident_id))
    if staff_id is not None:
        conditions.append(AuditEvent.staff_id == staff_id)
    if token_id is not None:
        conditions.append(AuditEvent.token_id == token_id)
    if action is not None:
        try:
            conditions.append(AuditEvent.action == AuditAction(action).value)
        except ValueError:
            raise InvalidInput({"action": [f"unknown action {action!r}"]}) from None
    for name, instant in (("since", since), ("until", until)):
        if instant is not None and (instant.tzinfo is None or instant.utcoffset() is None):
            raise InvalidInput({name: ["give a time zone"]})
    if since is not None:
        conditions.append(AuditEvent.at >= since)
    if until is not None:
        conditions.append(AuditEvent.at < until)
    page = paginate(
        session,
        select(AuditEvent).where(*conditions),
        NEWEST_FIRST,
        cursor=cursor,
        limit=limit,
        max_limit=MAX_PAGE_SIZE,
    )
    return page.items, page.next_cursor


def mentions_any_resident(session: Session, residents: Select[Any]) -> ColumnElement[bool]:
    """Whether a record names any resident `residents` (a subquery of resident ids) selects:
    the record's id list expanded in SQL, per record, never loaded."""
    if session.get_bind().dialect.name == "postgresql":
        each = func.jsonb_array_elements_text(AuditEvent.resident_ids).table_valued("value")
        named: ColumnElement[Any] = cast(each.c.value, Uuid)
    else:
        # SQLite keeps UUIDs as 32 hex digits; the records keep them with hyphens.
        each = func.json_each(AuditEvent.resident_ids).table_valued("value")
        named = func.replace(each.c.value, "-", "")
    return (
        select(literal(1)).select_from(each).where(named.in_(residents.scalar_subquery())).exists()
    )


def _mentions_resident(session: Session, resident_id: uuid.UUID) -> ColumnElement[bool]:
    wanted = str(uuid.UUID(str(resident_id)))
    if session.get_bind().dialect.name == "postgresql":
        # jsonb containment, answered by the GIN index ix_audit_events_resident_ids.
        return type_coerce(AuditEvent.resident_ids, JSONB).contains([wanted])
    each = func.json_each(AuditEvent.resident_ids).table_valued("value")
    return select(literal(1)).select_from(each).where(each.c.value == wanted).exists()
