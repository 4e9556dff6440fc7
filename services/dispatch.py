"""Counselor dispatch (`outreach_dispatch`; docs/domain.md, "Counselor dispatch").

A dong center, the care center or a partner asks for an on-site counselor visit, to a resident or
(before registration) to an address. Urgency sets the deadline as for care requests
(config/care_urgency.json). A supervisor or counselor assigns it to a counselor on duty in the
dong (the duty roster, `DutyShift`); it goes requested → assigned → en route → on site → done,
with an outcome. Meeting the person is an Ongi contact (channel `visit`) in the same transaction;
not on site by the deadline raises `dispatch_overdue` (`schedulers/rules/dispatch.py`), resolved
when the counselor arrives.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import access, followups, history, idempotency, ongi, residents, vault
from services.care.deadlines import respond_by, rule_for
from services.cases.lifecycle import new_case
from services.cases.records import workflow_for
from services.pagination import KeyKind, Keyset, Page, paginate
from services.partners import partner_book
from services.residents.labels import Labelled, label_page
from welfare.errors import Conflict, InvalidInput
from welfare.models import (
    OPEN_DISPATCH_STATES,
    Actor,
    Dispatch,
    DispatchOutcome,
    DispatchState,
    DutyShift,
    FollowUpReason,
    Program,
    RequesterKind,
    Role,
    Staff,
)
from welfare.models.base import in_literals

TABLE = "dispatches"
REASON = FollowUpReason.DISPATCH_OVERDUE.value
PROGRAM = Program.OUTREACH_DISPATCH.value
OPEN_STATES = OPEN_DISPATCH_STATES
# Someone is still to arrive: the deadline (and the time left to it) matters in these states.
AWAITING_ARRIVAL = (
    DispatchState.REQUESTED.value,
    DispatchState.ASSIGNED.value,
    DispatchState.EN_ROUTE.value,
)
MAX_SHIFT = timedelta(hours=24)
LIST_ORDER = Keyset.of(
    (Dispatch.requested_at, KeyKind.INSTANT), (Dispatch.id, KeyKind.UUID), descending=True
)
SHIFT_ORDER = Keyset.of((DutyShift.starts_at, KeyKind.INSTANT), (DutyShift.id, KeyKind.UUID))


# --- the duty roster -------------------------------------------------------------------------


def add_shift(
    session: Session,
    *,
    actor: Actor,
    dong: str,
    staff_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> tuple[DutyShift, bool]:
    """Put a counselor of the dong on duty for dispatches (supervisors); returns the shift and
    whether it was added. A shift is entered once per dong, counselor and start: the same
    shift sent again (a resubmitted form, a retried call) returns the first; a different end
    for that start is a conflict (change the roster, do not stack it)."""
    errors: dict[str, list[str]] = {}
    residents.check_dong(session, actor, dong, errors)
    if not starts_at < ends_at <= starts_at + MAX_SHIFT:
        errors["ends_at"] = ["시작 후 24시간 이내여야 합니다 (within 24 hours after the start)"]
    if errors:
        raise InvalidInput(errors)
    member = access.assignee(session, staff_id, dong, field="staff_id")
    if member.role_enum is not Role.COUNSELOR:
        raise InvalidInput({"staff_id": ["상담관만 당번이 될 수 있습니다 (counselors only)"]})
    existing = _same_shift(session, dong, staff_id, starts_at)
    if existing is None:
        shift = DutyShift(
            id=uuid.uuid4(),
            dong_code=dong,
            staff_id=staff_id,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=actor.staff_id,
            created_at=now,
        )
        session.add(shift)
        try:
            session.flush()
        except IntegrityError:
            # The same shift sent twice at once: the other request won the unique index.
            session.rollback()
            existing = _same_shift(session, dong, staff_id, starts_at)
            if existing is None:
                raise
    if existing is not None:
        if existing.ends_at != ends_at:
            raise Conflict(
                "이 상담관은 같은 시각에 시작하는 당번이 이미 있습니다 "
                "(a shift with this start already exists)",
                code="shift_exists",
            )
        access.commit_recorded(session, actor=actor, action="read", resident_ids=[])
        return existing, False
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[])
    return shift, True


def _same_shift(
    session: Session, dong: str, staff_id: uuid.UUID, starts_at: datetime
) -> DutyShift | None:
    return session.scalar(
        select(DutyShift).where(
            DutyShift.dong_code == dong,
            DutyShift.staff_id == staff_id,
            DutyShift.starts_at == starts_at,
        )
    )


def list_shifts(
    session: Session,
    *,
    actor: Actor,
    dong: str | None = None,
    on_duty_at: datetime | None = None,
    ending_after: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[DutyShift]:
    """The roster of the caller's dongs by start: who is on duty at `on_duty_at`, or the
    shifts still to end after `ending_after` (today's and the ones to come)."""
    stmt = select(DutyShift).where(access.dong_scope(actor, DutyShift.dong_code))
    if dong is not None:
        stmt = stmt.where(DutyShift.dong_code == dong)
    if on_duty_at is not None:
        stmt = stmt.where(DutyShift.starts_at <= on_duty_at, DutyShift.ends_at > on_duty_at)
    if ending_after is not None:
        stmt = stmt.where(DutyShift.ends_at > ending_after)
    page = paginate(session, stmt, SHIFT_ORDER, cursor=cursor, limit=limit)
    access.commit_recorded(session, actor=actor, action="search", resident_ids=[])
    return page


def on_duty(session: Session, dong: str, at: datetime) -> list[uuid.UUID]:
    """Active counselors of the dong on duty at `at`, least busy first (open dispatches)."""
    busy = (
        select(func.count())
        .where(
            Dispatch.assignee_id == DutyShift.staff_id,
            in_literals(Dispatch.state, OPEN_STATES),
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(DutyShift.staff_id, busy.label("busy"))
        .join(Staff, Staff.id == DutyShift.staff_id)
        .where(
            DutyShift.dong_code == dong,
            DutyShift.starts_at <= at,
            DutyShift.ends_at > at,
            Staff.is_active.is_(True),
        )
        .order_by(busy, DutyShift.starts_at, DutyShift.staff_id)
    ).all()
    seen: list[uuid.UUID] = []
    for staff_id, _busy in rows:
        if staff_id not in seen:
            seen.append(staff_id)
    return seen


# --- dispatches ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DispatchView:
    id: uuid.UUID
    dong: str
    resident_id: uuid.UUID | None
    requester_kind: str
    requester_partner: str | None
    urgency: str
    state: str
    outcome: str | None
    requested_at: datetime
    requested_by: uuid.UUID | None
    deadline_at: datetime
    assignee_id: uuid.UUID | None
    assigned_at: datetime | None
    en_route_at: datetime | None
    on_site_at: datetime | None
    done_at: datetime | None
    case_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    address: str | None
    summary: str | None
    note: str | None
    version: int
    events: tuple[history.EventView, ...] = ()  # the history, in a single dispatch's view

    @property
    def awaiting_arrival(self) -> bool:
        return self.state in AWAITING_ARRIVAL


def _check_request(
    session: Session,
    actor: Actor,
    *,
    dong: str,
    urgency: str,
    requester_kind: str,
    requester_partner: str | None,
    summary: str,
    resident_id: uuid.UUID | None,
    address: str | None,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    residents.check_dong(session, actor, dong, errors)
    rule_for(urgency, errors)
    if requester_kind not in {k.value for k in RequesterKind}:
        errors["requester_kind"] = ["알 수 없는 요청 기관 유형입니다 (unknown requester kind)"]
    elif requester_kind == RequesterKind.PARTNER:
        if requester_partner not in partner_book().partners:
            errors["requester_partner"] = [
                "협력기관 코드가 필요합니다 (a partner code of GET /partners is required)"
            ]
    elif requester_partner is not None:
        errors["requester_partner"] = ["협력기관 요청에만 씁니다 (only for a partner's request)"]
    if not summary.strip():
        errors["summary"] = ["요청 내용을 입력하세요 (a summary is required)"]
    if resident_id is None and not (address or "").strip():
        errors["address"] = [
            "등록 주민이 아니면 방문 주소가 필요합니다 (an address is required without a resident)"
        ]
    return errors


def request_dispatch(
    session: Session,
    *,
    actor: Actor,
    dong: str,
    urgency: str,
    requester_kind: str,
    summary: str,
    now: datetime,
    requester_partner: str | None = None,
    resident_id: uuid.UUID | None = None,
    address: str | None = None,
    client_ref: str | None = None,
) -> tuple[DispatchView, bool]:
    """Take a request for an on-site visit; returns it and whether it was created."""
    errors = _check_request(
        session,
        actor,
        dong=dong,
        urgency=urgency,
        requester_kind=requester_kind,
        requester_partner=requester_partner,
        summary=summary,
        resident_id=resident_id,
        address=address,
    )
    if errors:
        raise InvalidInput(errors)
    mac = None
    if client_ref:
        mac = idempotency.request_mac(
            session,
            "dispatch",
            {
                "dong": dong,
                "urgency": urgency,
                "requester_kind": requester_kind,
                "requester_partner": requester_partner,
                "resident_id": resident_id,
                "address": address,
                "summary": summary,
            },
        )
        existing = _by_ref(session, actor, client_ref)
        if existing is not None:
            return _replayed(session, actor, existing, mac), False
    dispatch_id = uuid.uuid4()
    if resident_id is not None:
        resident = residents.load(session, actor, resident_id)
        key = vault.data_key(session, resident.id)
        subject = resident.id
    else:
        # Nobody registered yet: the address gets a data key of the dispatch's own.
        key = vault.create_data_key(session, dispatch_id, now)
        subject = dispatch_id

    def sealed(column: str, value: str | None) -> bytes | None:
        return vault.seal(session, subject, TABLE, column, dispatch_id, plaintext=value, key=key)

    dispatch = Dispatch(
        id=dispatch_id,
        dong_code=dong,
        resident_id=resident_id,
        requester_kind=requester_kind,
        requester_partner=requester_partner,
        urgency=urgency,
        state=DispatchState.REQUESTED.value,
        requested_at=now,
        requested_by=actor.staff_id,
        deadline_at=respond_by(urgency, now, followups.business_calendar(session)),
        address_enc=sealed("address", (address or "").strip() or None),
        summary_enc=sealed("summary", summary.strip()),
        client_ref=client_ref,
        request_mac=mac,
        updated_at=now,
    )
    session.add(dispatch)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        again = _by_ref(session, actor, client_ref) if client_ref else None
        if again is None or mac is None:
            raise
        return _replayed(session, actor, again, mac), False
    session.add(
        dispatch.event(
            "requested",
            by=actor.staff_id,
            at=now,
            urgency=urgency,
            requester_kind=requester_kind,
            requester_partner=requester_partner,
        )
    )
    session.flush()
    result = _view(session, actor, dispatch, key=key, with_events=True)
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[resident_id])
    return result, True


def _by_ref(session: Session, actor: Actor, client_ref: str) -> Dispatch | None:
    return session.scalar(
        select(Dispatch).where(
            Dispatch.requested_by == actor.staff_id, Dispatch.client_ref == client_ref
        )
    )


def _replayed(session: Session, actor: Actor, existing: Dispatch, mac: bytes) -> DispatchView:
    if not idempotency.same_request(existing.request_mac, mac):
        raise idempotency.IdempotencyKeyReused
    dispatch = load(session, actor, existing.id)
    result = _view(session, actor, dispatch, with_events=True)
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[dispatch.resident_id])
    return result


def load(
    session: Session, actor: Actor, dispatch_id: uuid.UUID, *, for_update: bool = False
) -> Dispatch:
    return access.load_scoped(
        session,
        Dispatch,
        dispatch_id,
        actor=actor,
        resident_id_of=lambda d: d.resident_id,
        for_update=for_update,
    )


def _load_for_change(
    session: Session, actor: Actor, dispatch_id: uuid.UUID, expected_version: int | None
) -> Dispatch:
    return access.load_for_change(
        session,
        Dispatch,
        dispatch_id,
        actor=actor,
        expected_version=expected_version,
        resident_id_of=lambda d: d.resident_id,
    )


def get_dispatch(session: Session, *, actor: Actor, dispatch_id: uuid.UUID) -> DispatchView:
    dispatch = load(session, actor, dispatch_id)
    result = _view(session, actor, dispatch, with_events=True)
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[dispatch.resident_id])
    return result


def list_dispatches(
    session: Session,
    *,
    actor: Actor,
    state: str | None = None,
    dong: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[DispatchView]:
    """Dispatches of the caller's dongs, newest first (no address or summary in a list)."""
    page = _dispatch_page(session, actor, state=state, dong=dong, cursor=cursor, limit=limit)
    views = page.map(lambda d: _view(session, actor, d, opened=False))
    access.commit_recorded(
        session, actor=actor, action="search", resident_ids=[d.resident_id for d in page.items]
    )
    return views


def list_dispatches_labelled(
    session: Session,
    *,
    actor: Actor,
    state: str | None = None,
    dong: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Labelled[DispatchView]]:
    """The same page with each dispatch's resident label (display name, masked phone; None
    for an address not registered yet), as the queues show them: one batch, one record."""
    page = _dispatch_page(session, actor, state=state, dong=dong, cursor=cursor, limit=limit)
    views = page.map(lambda d: _view(session, actor, d, opened=False))
    return label_page(session, actor, views, lambda v: v.resident_id)


def _dispatch_page(
    session: Session,
    actor: Actor,
    *,
    state: str | None,
    dong: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Dispatch]:
    stmt = select(Dispatch).where(access.dong_scope(actor, Dispatch.dong_code))
    if state is not None:
        stmt = stmt.where(Dispatch.state == state)
    if dong is not None:
        stmt = stmt.where(Dispatch.dong_code == dong)
    return paginate(session, stmt, LIST_ORDER, cursor=cursor, limit=limit)


def assign(
    session: Session,
    *,
    actor: Actor,
    dispatch_id: uuid.UUID,
    now: datetime,
    staff_id: uuid.UUID | None = None,
    expected_version: int | None = None,
) -> DispatchView:
    """Give the dispatch to a counselor on duty in its dong: the one named, or the least busy."""
    dispatch = _load_for_change(session, actor, dispatch_id, expected_version)
    duty = on_duty(session, dispatch.dong_code, now)
    if staff_id is None:
        if not duty:
            raise InvalidInput(
                {"staff_id": ["지금 당번인 상담관이 없습니다 (no counselor on duty in the dong)"]}
            )
        staff_id = duty[0]
    elif staff_id not in duty:
        raise InvalidInput(
            {"staff_id": ["지금 이 동의 당번 상담관이 아닙니다 (not a counselor on duty here)"]}
        )
    before = dispatch.assignee_id
    dispatch.assign(to=staff_id, at=now)
    detail: dict[str, Any] = {"staff_id": str(staff_id)}
    if before is not None:
        detail["from_staff_id"] = str(before)
    session.add(
        dispatch.event("reassigned" if before else "assigned", by=actor.staff_id, at=now, **detail)
    )
    return _commit(session, actor, dispatch)


def move(
    session: Session,
    *,
    actor: Actor,
    dispatch_id: uuid.UUID,
    to: str,
    now: datetime,
    expected_version: int | None = None,
) -> DispatchView:
    """On the way, or arrived; arriving resolves a live `dispatch_overdue` follow-up."""
    if to not in (DispatchState.EN_ROUTE.value, DispatchState.ON_SITE.value):
        raise InvalidInput({"to": ["en_route, on_site 중 하나 (unknown move)"]})
    dispatch = _load_for_change(session, actor, dispatch_id, expected_version)
    dispatch.move(to=DispatchState(to), at=now)
    session.add(dispatch.event(to, by=actor.staff_id, at=now))
    if to == DispatchState.ON_SITE:
        followups.resolve_live(
            session, subject_id=dispatch.id, reason=REASON, outcome="arrived", now=now, actor=actor
        )
    return _commit(session, actor, dispatch)


def finish(
    session: Session,
    *,
    actor: Actor,
    dispatch_id: uuid.UUID,
    outcome: str,
    now: datetime,
    note: str | None = None,
    resident_id: uuid.UUID | None = None,
    case_program: str | None = None,
    expected_version: int | None = None,
) -> DispatchView:
    """Done, with an outcome. A person met is an Ongi contact (channel `visit`); `case_opened`
    opens a case (in `case_program`, by default the dispatch program's own). A dispatch that
    came before registration may be linked to the resident registered on site."""
    try:
        result = DispatchOutcome(outcome)
    except ValueError:
        known = ", ".join(o.value for o in DispatchOutcome)
        raise InvalidInput({"outcome": [f"{known} 중 하나 (unknown outcome)"]}) from None
    if case_program is not None and result is not DispatchOutcome.CASE_OPENED:
        raise InvalidInput({"case_program": ["사례 개설에만 씁니다 (only with case_opened)"]})
    dispatch = _load_for_change(session, actor, dispatch_id, expected_version)
    if resident_id is not None and dispatch.resident_id not in (None, resident_id):
        raise InvalidInput({"resident_id": ["다른 주민의 출동입니다 (another resident's)"]})
    dispatch.finish(outcome=result, at=now)
    if resident_id is not None and dispatch.resident_id is None:
        _link(session, actor, dispatch, resident_id, now)
    resident = (
        residents.load(session, actor, dispatch.resident_id, for_update=True)
        if dispatch.resident_id is not None
        else None
    )
    if result is DispatchOutcome.CASE_OPENED:
        if resident is None:
            raise InvalidInput(
                {
                    "resident_id": [
                        "사례를 열려면 주민 등록이 필요합니다 (register the person first)"
                    ]
                }
            )
        case = new_case(
            session,
            actor=actor,
            resident=resident,
            workflow=workflow_for(case_program or PROGRAM),
            now=now,
        )
        dispatch.case_id = case.id
    if result.met and resident is not None:
        contact = ongi.record_contact(
            session,
            resident=resident,
            actor=actor,
            channel="visit",
            outcome="reached",
            occurred_at=dispatch.on_site_at or now,
            now=now,
            program=PROGRAM,
            note=None,
            client_ref=None,
            source="staff",
        )
        dispatch.contact_id = contact.id
    if note and note.strip():
        dispatch.note_enc = vault.seal(
            session, dispatch.key_subject_id, TABLE, "note", dispatch.id, plaintext=note.strip()
        )
    followups.resolve_live(
        session,
        subject_id=dispatch.id,
        reason=REASON,
        outcome=f"done_{outcome}",
        now=now,
        actor=actor,
    )
    session.add(
        dispatch.event(
            "done",
            by=actor.staff_id,
            at=now,
            outcome=outcome,
            case_id=str(dispatch.case_id) if dispatch.case_id else None,
        )
    )
    return _commit(session, actor, dispatch)


def _link(
    session: Session, actor: Actor, dispatch: Dispatch, resident_id: uuid.UUID, now: datetime
) -> None:
    """Move a dispatch made before registration under the resident's key, once."""
    resident = residents.load(session, actor, resident_id)
    old_key = vault.data_key(session, dispatch.id)
    new_key = vault.data_key(session, resident.id)
    for column in ("address", "summary"):
        plaintext = _open(session, actor, dispatch, column, subject_id=dispatch.id, key=old_key)
        setattr(
            dispatch,
            f"{column}_enc",
            vault.seal(
                session, resident.id, TABLE, column, dispatch.id, plaintext=plaintext, key=new_key
            ),
        )
    followups.move_notes(
        session,
        actor=actor,
        subject_id=dispatch.id,
        from_key=old_key,
        to_subject=resident.id,
        to_key=new_key,
    )
    vault.destroy_data_key(session, dispatch.id, now)
    dispatch.resident_id = resident.id


def _commit(session: Session, actor: Actor, dispatch: Dispatch) -> DispatchView:
    session.flush()
    result = _view(session, actor, dispatch, with_events=True)
    access.commit_recorded(
        session, actor=actor, action="update", resident_ids=[dispatch.resident_id]
    )
    return result


def _open(
    session: Session,
    actor: Actor,
    dispatch: Dispatch,
    column: str,
    *,
    subject_id: uuid.UUID | None = None,
    key: bytes | None = None,
) -> str | None:
    blob = getattr(dispatch, f"{column}_enc")
    if blob is None:
        return None
    return vault.open_value(
        session,
        actor=actor,
        subject_id=subject_id or dispatch.key_subject_id,
        table=TABLE,
        column=column,
        row_id=dispatch.id,
        blob=blob,
        key=key,
    )


def _view(
    session: Session,
    actor: Actor,
    dispatch: Dispatch,
    *,
    key: bytes | None = None,
    opened: bool = True,
    with_events: bool = False,
) -> DispatchView:
    """The address and summary for whoever may go (every casework role); the note for note
    readers; neither in a list. The history comes with a single dispatch."""
    return DispatchView(
        id=dispatch.id,
        dong=dispatch.dong_code,
        resident_id=dispatch.resident_id,
        requester_kind=dispatch.requester_kind,
        requester_partner=dispatch.requester_partner,
        urgency=dispatch.urgency,
        state=dispatch.state,
        outcome=dispatch.outcome,
        requested_at=dispatch.requested_at,
        requested_by=dispatch.requested_by,
        deadline_at=dispatch.deadline_at,
        assignee_id=dispatch.assignee_id,
        assigned_at=dispatch.assigned_at,
        en_route_at=dispatch.en_route_at,
        on_site_at=dispatch.on_site_at,
        done_at=dispatch.done_at,
        case_id=dispatch.case_id,
        contact_id=dispatch.contact_id,
        address=_open(session, actor, dispatch, "address", key=key) if opened else None,
        summary=_open(session, actor, dispatch, "summary", key=key) if opened else None,
        note=_open(session, actor, dispatch, "note", key=key)
        if opened and access.may_read_notes(actor)
        else None,
        version=dispatch.version,
        events=history.of_dispatch(session, dispatch.id) if with_events else (),
    )
