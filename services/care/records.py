"""What every care-request use case shares: loading in scope, the history, sealed fields, and
the decrypted view the caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, integrity, vault
from services.residents.labels import ResidentLabel
from welfare.identity import format_phone
from welfare.models import Actor, CareRequest, CareRequestEvent, CareState

TABLE = "care_requests"
EVENTS_TABLE = "care_request_events"
SEALED_FIELDS = ("summary", "caller_name", "caller_phone")


@dataclass(frozen=True, slots=True)
class CareEventView:
    id: uuid.UUID
    at: datetime
    kind: str
    actor_staff_id: uuid.UUID | None
    detail: Mapping[str, Any]
    note: str | None


@dataclass(frozen=True, slots=True)
class CareRequestView:
    """A decrypted request as the caller may see it: the summary and notes, like counseling
    notes, only for counselors and supervisors; caller details for everyone who works cases."""

    id: uuid.UUID
    dong: str
    resident_id: uuid.UUID | None
    care_type: str
    channel: str
    urgency: str
    state: str
    received_at: datetime
    respond_by: datetime
    responded_at: datetime | None
    responded_by: uuid.UUID | None
    assignee_id: uuid.UUID | None
    outcome: str | None
    outcome_at: datetime | None
    linked_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    is_overdue: bool
    caller_name: str | None
    caller_phone: str | None
    summary: str | None = None
    events: list[CareEventView] = field(default_factory=list)
    resident: ResidentLabel | None = None
    unreadable: bool = False  # a sealed field failed authentication: none of them is shown


def load(
    session: Session, actor: Actor, request_id: uuid.UUID, *, for_update: bool = False
) -> CareRequest:
    """A request of the caller's dongs, by the request's own dong (404 and a denial otherwise)."""
    return access.load_scoped(
        session,
        CareRequest,
        request_id,
        actor=actor,
        resident_id_of=lambda r: r.resident_id,
        for_update=for_update,
    )


def load_for_change(
    session: Session, actor: Actor, request_id: uuid.UUID, expected_version: int | None
) -> CareRequest:
    return access.load_for_change(
        session,
        CareRequest,
        request_id,
        actor=actor,
        expected_version=expected_version,
        resident_id_of=lambda r: r.resident_id,
    )


def commit_update(
    session: Session, actor: Actor, request: CareRequest, now: datetime, key: bytes | None = None
) -> CareRequestView:
    session.flush()
    result = view(session, actor, request, now=now, key=key, with_events=True)
    access.commit_recorded(
        session, actor=actor, action="update", resident_ids=[request.resident_id]
    )
    return result


def residents_of(request: CareRequest) -> list[uuid.UUID]:
    return [request.resident_id] if request.resident_id else []


def add_event(
    session: Session,
    request: CareRequest,
    kind: str,
    *,
    at: datetime,
    actor: Actor,
    detail: Mapping[str, Any],
    note: str | None = None,
) -> None:
    event_id = uuid.uuid4()
    session.add(
        CareRequestEvent(
            id=event_id,
            care_request_id=request.id,
            at=at,
            kind=kind,
            actor_staff_id=actor.staff_id,
            detail=dict(detail),
            note_enc=vault.seal(
                session, request.key_subject_id, EVENTS_TABLE, "note", event_id, plaintext=note
            ),
        )
    )


def open_sealed(
    session: Session,
    actor: Actor,
    row: CareRequest | CareRequestEvent,
    column: str,
    *,
    subject_id: uuid.UUID,
    key: bytes | None,
) -> str | None:
    table = EVENTS_TABLE if isinstance(row, CareRequestEvent) else TABLE
    return vault.open_value(
        session,
        actor=actor,
        subject_id=subject_id,
        table=table,
        column=column,
        row_id=row.id,
        blob=getattr(row, f"{column}_enc"),
        key=key,
    )


def view(
    session: Session,
    actor: Actor,
    request: CareRequest,
    *,
    now: datetime,
    key: bytes | None = None,
    with_events: bool = False,
    resident: ResidentLabel | None = None,
    opened: Mapping[str, str | None] | None = None,
) -> CareRequestView:
    """Decrypt what the caller may see (or take `opened`, the sealed fields a list opened in a
    batch). The caller records the access."""
    subject = request.key_subject_id
    notes = access.may_read_notes(actor)
    if opened is None:
        key = key or vault.data_key(session, subject)
        opened = {
            column: open_sealed(session, actor, request, column, subject_id=subject, key=key)
            for column in SEALED_FIELDS
            if column != "summary" or notes
        }
    phone = opened.get("caller_phone")
    events: list[CareEventView] = []
    if with_events:
        for event in session.scalars(
            select(CareRequestEvent)
            .where(CareRequestEvent.care_request_id == request.id)
            .order_by(CareRequestEvent.at, CareRequestEvent.id)
        ):
            events.append(
                CareEventView(
                    id=event.id,
                    at=event.at,
                    kind=event.kind,
                    actor_staff_id=event.actor_staff_id,
                    detail=event.detail,
                    note=open_sealed(session, actor, event, "note", subject_id=subject, key=key)
                    if notes
                    else None,
                )
            )
    return CareRequestView(
        id=request.id,
        dong=request.dong_code,
        resident_id=request.resident_id,
        care_type=request.care_type,
        channel=request.channel,
        urgency=request.urgency,
        state=request.state,
        received_at=request.received_at,
        respond_by=request.respond_by,
        responded_at=request.responded_at,
        responded_by=request.responded_by,
        assignee_id=request.assignee_id,
        outcome=request.outcome,
        outcome_at=request.outcome_at,
        linked_at=request.linked_at,
        created_at=request.created_at,
        updated_at=request.updated_at,
        version=request.version,
        is_overdue=request.state == CareState.RECEIVED and now > request.respond_by,
        caller_name=opened.get("caller_name"),
        caller_phone=format_phone(phone) if phone else None,
        summary=opened.get("summary") if notes else None,
        events=events,
        resident=resident,
    )


def views(
    session: Session,
    actor: Actor,
    requests: Sequence[CareRequest],
    *,
    now: datetime,
    labels: Mapping[uuid.UUID, ResidentLabel],
) -> list[CareRequestView]:
    """A page of requests, their sealed fields opened in one batch; a damaged one is shown
    without them and marked, the rest served (services/integrity.py)."""
    columns = [c for c in SEALED_FIELDS if c != "summary" or access.may_read_notes(actor)]
    sealed = [
        vault.Sealed(r.key_subject_id, TABLE, c, r.id, getattr(r, f"{c}_enc"))
        for r in requests
        for c in columns
    ]
    opened = integrity.open_contained(session, actor=actor, values=sealed, now=now)
    found = []
    for i, request in enumerate(requests):
        values = dict(zip(columns, opened[i * len(columns) : (i + 1) * len(columns)], strict=True))
        damaged = any(v is vault.UNREADABLE for v in values.values())
        plain = {k: None if damaged or not isinstance(v, str) else v for k, v in values.items()}
        label = labels.get(request.resident_id) if request.resident_id else None
        item = view(session, actor, request, now=now, resident=label, opened=plain)
        found.append(replace(item, unreadable=True) if damaged else item)
    return found
