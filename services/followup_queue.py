"""The staff's follow-up queue: list what is due in my dongs, read one with its history,
claim, assign to a colleague, resolve by hand. Raising and escalating is `services.followups`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from services import access, ongi, residents, vault
from services.followups import LIVE_STATES, add_event, key_subject
from services.gateway_silence import incident_scope
from services.pagination import KeyKind, Keyset, Page, paginate
from services.residents.labels import Labelled, label_of, label_page
from welfare.errors import Conflict, InvalidInput
from welfare.models import Actor, FollowUp, FollowUpEvent, FollowUpState, Outcome, Role
from welfare.models.base import in_literals

# Outcomes that mean someone reached the person: resolving with one records that contact in the
# same transaction, so the lapse it answers does not come back on the next tick.
REACHED_OUTCOMES = ("confirmed_safe", "hospitalized")
# Outcomes that close the work item without anyone reaching the person: if the cause persists
# (no contact), the next tick raises a new follow-up, which is the point.
NOT_REACHED_OUTCOMES = (
    "moved_out",
    "deceased",
    "emergency_dispatched",
    "escalated_elsewhere",
    "referred",
    "false_alarm",
    "other",
)
RESOLUTION_OUTCOMES = REACHED_OUTCOMES + NOT_REACHED_OUTCOMES
REACHED_CHANNELS = ("phone", "visit", "message")
QUEUE_ORDER = Keyset.of((FollowUp.due_at, KeyKind.INSTANT), (FollowUp.id, KeyKind.UUID))


def list_followups(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    state: str | None = None,
    reason: str | None = None,
    dong: str | None = None,
    program: str | None = None,
    assignee: uuid.UUID | None = None,
    overdue: bool | None = None,
    escalation_due: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Labelled[FollowUp]]:
    """Follow-ups of the caller's dongs by due time (oldest first), with a keyset cursor, each
    with its resident's label (name and masked details) from one batch per page."""
    stmt: Select[FollowUp] = select(FollowUp).where(visible_to(actor))
    if state:
        stmt = stmt.where(FollowUp.state == state)
    else:
        stmt = stmt.where(in_literals(FollowUp.state, LIVE_STATES))
    for column, value in (
        (FollowUp.reason, reason),
        (FollowUp.dong_code, dong),
        (FollowUp.program, program),
        (FollowUp.assignee_id, assignee),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    # Overdue is what staff mean by it: past the time the follow-up was due.
    if overdue is True:
        stmt = stmt.where(FollowUp.due_at <= now)
    elif overdue is False:
        stmt = stmt.where(FollowUp.due_at > now)
    # The next rung of the ladder is due (the tick will escalate it at its next run).
    if escalation_due is True:
        stmt = stmt.where(FollowUp.next_escalation_at <= now)
    elif escalation_due is False:
        stmt = stmt.where(
            or_(FollowUp.next_escalation_at.is_(None), FollowUp.next_escalation_at > now)
        )
    page = paginate(session, stmt, QUEUE_ORDER, cursor=cursor, limit=limit)
    return label_page(session, actor, page, lambda f: f.resident_id)


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """Follow-ups of the caller's dongs; supervisors also see the system's own alarms
    (e.g. a stalled scheduler), which belong to no dong, and the incidents of the gateways of
    their dongs (a silent gateway)."""
    scope = access.dong_scope(actor, FollowUp.dong_code)
    if actor.role is Role.SUPERVISOR:
        return or_(scope, FollowUp.subject_type == "system", incident_scope(actor))
    return scope


def load(
    session: Session, actor: Actor, followup_id: uuid.UUID, *, for_update: bool = False
) -> FollowUp:
    """A follow-up of the caller's dongs, or a system alarm for a supervisor (404 otherwise);
    `for_update` locks it against the tick and other staff."""
    return access.load_scoped(
        session,
        FollowUp,
        followup_id,
        actor=actor,
        resident_id_of=lambda f: f.resident_id,
        for_update=for_update,
        also_visible=or_(FollowUp.subject_type == "system", incident_scope(actor))
        if actor.role is Role.SUPERVISOR
        else None,
    )


@dataclass(frozen=True, slots=True)
class EventView:
    id: uuid.UUID
    at: datetime
    kind: str
    step: int
    actor_staff_id: uuid.UUID | None
    run_id: uuid.UUID | None
    detail: Mapping[str, Any]
    note: str | None


def get_followup(
    session: Session, *, actor: Actor, followup_id: uuid.UUID
) -> tuple[Labelled[FollowUp], list[EventView]]:
    """One follow-up with its resident's label and its whole history."""
    followup = load(session, actor, followup_id)
    label = label_of(session, actor, followup.resident_id)
    events = [
        _event_view(session, actor, followup, e)
        for e in session.scalars(
            select(FollowUpEvent)
            .where(FollowUpEvent.followup_id == followup.id)
            .order_by(FollowUpEvent.at, FollowUpEvent.id)
        )
    ]
    if followup.resident_id:
        access.record(session, actor=actor, action="read", resident_ids=[followup.resident_id])
    session.commit()
    return Labelled(followup, label), events


def claim(session: Session, *, actor: Actor, followup_id: uuid.UUID, now: datetime) -> FollowUp:
    followup = load(session, actor, followup_id, for_update=True)
    followup.ensure_live()
    if followup.assignee_id not in (None, actor.staff_id):
        raise Conflict("다른 담당자가 이미 맡았습니다 (already claimed)", code="already_claimed")
    followup.assignee_id = actor.staff_id
    add_event(session, followup.id, "claimed", followup.step, at=now, actor=actor)
    return _commit_with_record(session, actor, followup)


def assign(
    session: Session, *, actor: Actor, followup_id: uuid.UUID, staff_id: uuid.UUID, now: datetime
) -> FollowUp:
    followup = load(session, actor, followup_id, for_update=True)
    followup.ensure_live()
    access.assignee(session, staff_id, followup.dong_code, field="assignee_id")
    followup.assignee_id = staff_id
    add_event(
        session,
        followup.id,
        "assigned",
        followup.step,
        at=now,
        actor=actor,
        detail={"assignee_id": str(staff_id)},
    )
    return _commit_with_record(session, actor, followup)


def resolve(
    session: Session,
    *,
    actor: Actor,
    followup_id: uuid.UUID,
    outcome: str,
    note: str | None,
    now: datetime,
    channel: str = "phone",
) -> FollowUp:
    """Close a follow-up by hand. It re-arms: if the cause persists, the next tick raises anew.

    An outcome in REACHED_OUTCOMES means the person was reached (by `channel`): that contact is
    recorded in the same transaction, as if logged by hand, so it moves the resident's next due
    time and a "confirmed safe" lapse does not come back on the next tick.
    """
    if outcome not in RESOLUTION_OUTCOMES:
        raise InvalidInput({"outcome": [f"{', '.join(RESOLUTION_OUTCOMES)} 중 하나 (unknown)"]})
    if channel not in REACHED_CHANNELS:
        raise InvalidInput({"channel": [f"{', '.join(REACHED_CHANNELS)} 중 하나 (unknown)"]})
    followup = load(session, actor, followup_id, for_update=True)
    followup.ensure_live()
    if note and key_subject(followup) is None:
        raise InvalidInput(
            {"note": ["시스템 후속조치에는 메모를 남기지 않습니다 (no notes on system follow-ups)"]}
        )
    followup.close(state=FollowUpState.RESOLVED, outcome=outcome, by=actor.staff_id, at=now)
    detail: dict[str, Any] = {"outcome": outcome}
    if outcome in REACHED_OUTCOMES and followup.resident_id is not None:
        resident = residents.load(session, actor, followup.resident_id)
        contact = ongi.record_contact(
            session,
            resident=resident,
            actor=actor,
            channel=channel,
            outcome=Outcome.REACHED.value,
            occurred_at=now,
            now=now,
            program=followup.program,
            note=None,
            client_ref=None,
            source="staff",
        )
        detail |= {"contact_id": str(contact.id), "channel": channel}
    add_event(
        session,
        followup.id,
        "resolved",
        followup.step,
        at=now,
        actor=actor,
        detail=detail,
        note=note,
        key_subject=key_subject(followup),
    )
    return _commit_with_record(session, actor, followup)


def _commit_with_record(session: Session, actor: Actor, followup: FollowUp) -> FollowUp:
    if followup.resident_id is None:
        session.commit()  # a system alarm or an unlinked care request: no resident was touched
    else:
        access.commit_recorded(
            session, actor=actor, action="update", resident_ids=[followup.resident_id]
        )
    return followup


def _event_view(
    session: Session, actor: Actor, followup: FollowUp, event: FollowUpEvent
) -> EventView:
    note = None
    subject = key_subject(followup)
    if event.note_enc is not None and subject and access.may_read_notes(actor):
        note = vault.open_value(
            session,
            actor=actor,
            subject_id=subject,
            table="followup_events",
            column="note",
            row_id=event.id,
            blob=event.note_enc,
        )
    return EventView(
        id=event.id,
        at=event.at,
        kind=event.kind,
        step=event.step,
        actor_staff_id=event.actor_staff_id,
        run_id=event.run_id,
        detail=event.detail,
        note=note,
    )
