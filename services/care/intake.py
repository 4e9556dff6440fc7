"""Receiving care requests and reading them: take a request at any hour (with or without a
registered resident), read one with its history, and the handover view of what is open."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services import access, followups, residents, vault
from services.care.deadlines import respond_by, rule_for
from services.care.records import (
    TABLE,
    CareRequestView,
    add_event,
    load,
    residents_of,
    view,
    views,
)
from services.pagination import KeyKind, Keyset, Page, paginate
from services.residents.labels import label_of, labels
from welfare.errors import InvalidInput
from welfare.identity import IdentityError, normalize_phone
from welfare.models import Actor, CareChannel, CareRequest, CareState, CareType
from welfare.models.base import in_literals

CLOCK_SKEW = timedelta(minutes=2)
OPEN_STATES = (CareState.RECEIVED.value, CareState.RESPONDED.value)
HANDOVER_ORDER = Keyset.of(
    (CareRequest.respond_by, KeyKind.INSTANT), (CareRequest.id, KeyKind.UUID)
)


def receive_request(
    session: Session,
    *,
    actor: Actor,
    dong: str,
    care_type: str,
    urgency: str,
    summary: str,
    now: datetime,
    resident_id: uuid.UUID | None = None,
    caller_name: str | None = None,
    caller_phone: str | None = None,
    received_at: datetime | None = None,
    channel: str = CareChannel.PHONE.value,
) -> CareRequestView:
    """Take a request at any hour, with or without a registered resident."""
    errors: dict[str, list[str]] = {}
    residents.check_dong(session, actor, dong, errors)
    rule_for(urgency, errors)
    if care_type not in {t.value for t in CareType}:
        errors["care_type"] = ["알 수 없는 돌봄 유형입니다 (unknown care type)"]
    if channel not in {c.value for c in CareChannel}:
        errors["channel"] = ["알 수 없는 접수 경로입니다 (unknown channel)"]
    if not summary.strip():
        errors["summary"] = ["요청 내용을 입력하세요 (a summary is required)"]
    received_at = received_at or now
    if received_at > now + CLOCK_SKEW:
        errors["received_at"] = ["미래 시각은 안 됩니다 (in the future)"]
    phone = None
    if caller_phone:
        try:
            phone = normalize_phone(caller_phone)
        except IdentityError as exc:
            errors["caller_phone"] = [exc.message]
    if errors:
        raise InvalidInput(errors)
    request_id = uuid.uuid4()
    if resident_id is not None:
        resident = residents.load(session, actor, resident_id)
        key = vault.data_key(session, resident.id)
        subject = resident.id
    else:
        # Nobody to attach the data to yet: the request gets a data key of its own.
        key = vault.create_data_key(session, request_id, now)
        subject = request_id

    def sealed(column: str, value: str | None) -> bytes | None:
        return vault.seal(session, subject, TABLE, column, request_id, plaintext=value, key=key)

    request = CareRequest(
        id=request_id,
        dong_code=dong,
        resident_id=resident_id,
        care_type=care_type,
        channel=channel,
        urgency=urgency,
        state=CareState.RECEIVED.value,
        received_at=received_at,
        respond_by=respond_by(urgency, received_at, followups.business_calendar(session)),
        summary_enc=sealed("summary", summary.strip()),
        caller_name_enc=sealed("caller_name", (caller_name or "").strip() or None),
        caller_phone_enc=sealed("caller_phone", phone),
        linked_at=now if resident_id else None,
        created_by=actor.staff_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(request)
    add_event(
        session,
        request,
        "received",
        at=now,
        actor=actor,
        detail={"urgency": urgency, "respond_by": request.respond_by.isoformat()},
    )
    session.flush()
    access.record(session, actor=actor, action="create", resident_ids=residents_of(request))
    result = view(session, actor, request, now=now, key=key, with_events=True)
    session.commit()
    return result


def get_request(
    session: Session, *, actor: Actor, request_id: uuid.UUID, now: datetime
) -> CareRequestView:
    request = load(session, actor, request_id)
    label = label_of(session, actor, request.resident_id)
    result = view(session, actor, request, now=now, with_events=True, resident=label)
    access.record(session, actor=actor, action="read", resident_ids=residents_of(request))
    session.commit()
    return result


def handover_view(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    dong: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[CareRequestView]:
    """What the next shift inherits: open requests of the caller's dongs, soonest deadline
    first (overdue ones lead), with a keyset cursor."""
    stmt: Select[CareRequest] = select(CareRequest).where(
        access.dong_scope(actor, CareRequest.dong_code), in_literals(CareRequest.state, OPEN_STATES)
    )
    if dong:
        stmt = stmt.where(CareRequest.dong_code == dong)
    page = paginate(session, stmt, HANDOVER_ORDER, cursor=cursor, limit=limit)
    found = labels(session, actor, (r.resident_id for r in page.items))
    result = Page(
        items=views(session, actor, page.items, now=now, labels=found),
        next_cursor=page.next_cursor,
    )
    access.commit_recorded(
        session, actor=actor, action="search", resident_ids=[r.resident_id for r in page.items]
    )
    return result
