"""24-hour care center use cases: receive a request, respond, hand over, record the outcome,
link it to a resident, and the handover view of what is open by deadline.

A request is scoped by its own dong, so one that arrives before the person is registered is
still visible to that dong's staff only. Its personal fields (summary, caller name and phone)
are sealed with a data key of the request's own until it is linked to a resident; linking
re-seals them, and the notes of its history, under the resident's key and destroys the
request's key, so all data about one person lives under one key and the resident's erasure
shreds it (ARCHITECTURE.md "Encryption": "merged when linked").

The urgency sets `respond_by` (config/care_urgency.json). An unanswered request past it gets a
`care_response_overdue` follow-up from the tick (schedulers/followups.py); answering resolves it
in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from config.casework import DeadlineClock, UrgencyRule, load_urgencies
from services import access, followups, residents, vault
from services.pagination import KeyKind, Keyset, Page, paginate
from welfare.calendar import SEOUL, BusinessCalendar
from welfare.errors import Conflict, InvalidInput
from welfare.identity import IdentityError, format_phone, normalize_phone
from welfare.models import (
    Actor,
    CareChannel,
    CareOutcome,
    CareRequest,
    CareRequestEvent,
    CareState,
    CareType,
    FollowUp,
    FollowUpReason,
)
from welfare.models.base import in_literals

TABLE = "care_requests"
EVENTS_TABLE = "care_request_events"
SEALED_FIELDS = ("summary", "caller_name", "caller_phone")
CLOCK_SKEW = timedelta(minutes=2)
OPEN_STATES = (CareState.RECEIVED.value, CareState.RESPONDED.value)
OVERDUE = FollowUpReason.CARE_RESPONSE_OVERDUE.value
HANDOVER_ORDER = Keyset.of(
    (CareRequest.respond_by, KeyKind.INSTANT), (CareRequest.id, KeyKind.UUID)
)


@cache
def urgencies() -> dict[str, UrgencyRule]:
    return load_urgencies()


def respond_by(urgency: str, received_at: datetime, calendar: BusinessCalendar) -> datetime:
    """The response deadline `urgency` sets for a request received at `received_at`, in UTC.

    Calendar deadlines add elapsed time (the center never closes); a next-business-day deadline
    is the first business day after the Seoul day of receipt, at the configured Seoul time.
    """
    rule = _rule(urgency)
    if rule.clock is DeadlineClock.CALENDAR:
        assert rule.respond_within is not None  # noqa: S101 - validated at load
        return received_at.astimezone(UTC) + rule.respond_within
    assert rule.at_local_time is not None  # noqa: S101 - validated at load
    received_on = received_at.astimezone(SEOUL).date()
    day = calendar.next_business_day(received_on + timedelta(days=1))
    return datetime.combine(day, rule.at_local_time, tzinfo=SEOUL).astimezone(UTC)


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


# -- receiving and reading ---------------------------------------------------------------------
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
    _rule(urgency, errors)
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
    _event(
        session,
        request,
        "received",
        at=now,
        actor=actor,
        detail={"urgency": urgency, "respond_by": request.respond_by.isoformat()},
    )
    session.flush()
    access.record(session, actor=actor, action="create", resident_ids=_residents_of(request))
    result = view(session, actor, request, now=now, key=key, with_events=True)
    session.commit()
    return result


def get_request(
    session: Session, *, actor: Actor, request_id: uuid.UUID, now: datetime
) -> CareRequestView:
    request = load(session, actor, request_id)
    result = view(session, actor, request, now=now, with_events=True)
    access.record(session, actor=actor, action="read", resident_ids=_residents_of(request))
    session.commit()
    return result


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
    access.record(
        session,
        actor=actor,
        action="search",
        resident_ids=[r.resident_id for r in page.items if r.resident_id],
    )
    result = page.map(lambda r: view(session, actor, r, now=now))
    session.commit()
    return result


# -- working a request -------------------------------------------------------------------------
def respond(
    session: Session,
    *,
    actor: Actor,
    request_id: uuid.UUID,
    note: str,
    now: datetime,
    expected_version: int | None = None,
) -> CareRequestView:
    """Someone answered: the deadline clock stops and an overdue follow-up is resolved."""
    if not note.strip():
        raise InvalidInput({"note": ["응대 내용을 입력하세요 (a note is required)"]})
    request = _load_for_change(session, actor, request_id, expected_version)
    request.respond(by=actor.staff_id, at=now)
    _event(
        session,
        request,
        "responded",
        at=now,
        actor=actor,
        note=note.strip(),
        detail={"in_time": now <= request.respond_by},
    )
    followups.resolve_live(
        session,
        subject_id=request.id,
        reason=OVERDUE,
        outcome="responded",
        now=now,
        actor=actor,
        detail={"care_request_id": str(request.id)},
    )
    return _commit_update(session, actor, request, now)


def hand_over(
    session: Session,
    *,
    actor: Actor,
    request_id: uuid.UUID,
    to_staff_id: uuid.UUID,
    now: datetime,
    note: str | None = None,
    expected_version: int | None = None,
) -> CareRequestView:
    """Give an open request to the next shift's staff member of its dong."""
    request = _load_for_change(session, actor, request_id, expected_version)
    request.ensure_open()  # before judging the receiver: a closed request is the first problem
    member = access.assignee(session, to_staff_id, request.dong_code, field="to_staff_id")
    previous = request.hand_over(to=member.id, at=now)
    _event(
        session,
        request,
        "handover",
        at=now,
        actor=actor,
        note=(note or "").strip() or None,
        detail={
            "from_staff_id": str(previous) if previous else None,
            "to_staff_id": str(member.id),
        },
    )
    return _commit_update(session, actor, request, now)


def record_outcome(
    session: Session,
    *,
    actor: Actor,
    request_id: uuid.UUID,
    outcome: str,
    now: datetime,
    note: str | None = None,
    expected_version: int | None = None,
) -> CareRequestView:
    """Close a request as handled, referred or closed; nothing is overdue any more."""
    if outcome not in {o.value for o in CareOutcome}:
        raise InvalidInput({"outcome": ["handled, referred, closed 중 하나 (unknown outcome)"]})
    request = _load_for_change(session, actor, request_id, expected_version)
    request.record_outcome(outcome=CareOutcome(outcome), by=actor.staff_id, at=now)
    _event(
        session,
        request,
        "outcome",
        at=now,
        actor=actor,
        note=(note or "").strip() or None,
        detail={"outcome": outcome},
    )
    followups.cancel_live(
        session,
        subject_id=request.id,
        reason=OVERDUE,
        why=f"request_{outcome}",
        now=now,
        actor=actor,
    )
    return _commit_update(session, actor, request, now)


def link_resident(
    session: Session,
    *,
    actor: Actor,
    request_id: uuid.UUID,
    resident_id: uuid.UUID,
    now: datetime,
    expected_version: int | None = None,
) -> CareRequestView:
    """Attach a request that arrived before registration to its resident, once.

    The request keeps its own dong (where care is needed). Its sealed fields and notes move
    under the resident's key and the request's own key is destroyed, in one transaction.
    """
    request = _load_for_change(session, actor, request_id, expected_version)
    if request.resident_id is not None:
        raise Conflict(
            "이미 주민과 연결된 요청입니다 (already linked to a resident)", code="already_linked"
        )
    resident = residents.load(session, actor, resident_id)
    old_key = vault.data_key(session, request.id)
    new_key = vault.data_key(session, resident.id)
    for column in SEALED_FIELDS:
        plaintext = _open(session, actor, request, column, subject_id=request.id, key=old_key)
        setattr(
            request,
            f"{column}_enc",
            vault.seal(
                session, resident.id, TABLE, column, request.id, plaintext=plaintext, key=new_key
            ),
        )
    for event in session.scalars(
        select(CareRequestEvent).where(CareRequestEvent.care_request_id == request.id)
    ):
        if event.note_enc is None:
            continue
        plaintext = _open(session, actor, event, "note", subject_id=request.id, key=old_key)
        event.note_enc = vault.seal(
            session, resident.id, EVENTS_TABLE, "note", event.id, plaintext=plaintext, key=new_key
        )
    followups.move_notes(
        session,
        actor=actor,
        subject_id=request.id,
        from_key=old_key,
        to_subject=resident.id,
        to_key=new_key,
    )
    vault.destroy_data_key(session, request.id, now)
    request.resident_id = resident.id
    request.linked_at = now
    request.updated_at = now
    # Follow-ups raised about the request now belong to the resident's timeline too.
    session.execute(
        update(FollowUp)
        .where(FollowUp.subject_id == request.id, FollowUp.resident_id.is_(None))
        .values(resident_id=resident.id, version=FollowUp.version + 1)
        .execution_options(synchronize_session=False)
    )
    _event(session, request, "linked", at=now, actor=actor, detail={})
    return _commit_update(session, actor, request, now, key=new_key)


# -- internals ---------------------------------------------------------------------------------
def _rule(urgency: str, errors: dict[str, list[str]] | None = None) -> UrgencyRule:
    rule = urgencies().get(urgency)
    if rule is None:
        problem = {"urgency": [f"{', '.join(urgencies())} 중 하나 (unknown urgency)"]}
        if errors is None:
            raise InvalidInput(problem)
        errors.update(problem)
        return next(iter(urgencies().values()))
    return rule


def _load_for_change(
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


def _commit_update(
    session: Session, actor: Actor, request: CareRequest, now: datetime, key: bytes | None = None
) -> CareRequestView:
    session.flush()
    result = view(session, actor, request, now=now, key=key, with_events=True)
    access.commit_recorded(
        session, actor=actor, action="update", resident_ids=[request.resident_id]
    )
    return result


def _residents_of(request: CareRequest) -> list[uuid.UUID]:
    return [request.resident_id] if request.resident_id else []


def _event(
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


def _open(
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
) -> CareRequestView:
    """Decrypt what the caller may see. The caller records the access."""
    subject = request.key_subject_id
    key = key or vault.data_key(session, subject)
    notes = access.may_read_notes(actor)
    phone = _open(session, actor, request, "caller_phone", subject_id=subject, key=key)
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
                    note=_open(session, actor, event, "note", subject_id=subject, key=key)
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
        caller_name=_open(session, actor, request, "caller_name", subject_id=subject, key=key),
        caller_phone=format_phone(phone) if phone else None,
        summary=_open(session, actor, request, "summary", subject_id=subject, key=key)
        if notes
        else None,
        events=events,
    )
