"""Working a care request: respond (the deadline clock stops), hand over to the next shift,
record the outcome, and link a request that came before registration to its resident."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services import access, followups, residents, vault
from services.care.records import (
    EVENTS_TABLE,
    SEALED_FIELDS,
    TABLE,
    CareRequestView,
    add_event,
    commit_update,
    load_for_change,
    open_sealed,
)
from welfare.errors import Conflict, InvalidInput
from welfare.models import Actor, CareOutcome, CareRequestEvent, FollowUp, FollowUpReason

OVERDUE = FollowUpReason.CARE_RESPONSE_OVERDUE.value


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
    request = load_for_change(session, actor, request_id, expected_version)
    request.respond(by=actor.staff_id, at=now)
    add_event(
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
    return commit_update(session, actor, request, now)


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
    request = load_for_change(session, actor, request_id, expected_version)
    request.ensure_open()  # before judging the receiver: a closed request is the first problem
    member = access.assignee(session, to_staff_id, request.dong_code, field="assignee_id")
    previous = request.hand_over(to=member.id, at=now)
    add_event(
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
    return commit_update(session, actor, request, now)


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
    request = load_for_change(session, actor, request_id, expected_version)
    request.record_outcome(outcome=CareOutcome(outcome), by=actor.staff_id, at=now)
    add_event(
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
    return commit_update(session, actor, request, now)


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
    request = load_for_change(session, actor, request_id, expected_version)
    if request.resident_id is not None:
        raise Conflict(
            "이미 주민과 연결된 요청입니다 (already linked to a resident)", code="already_linked"
        )
    resident = residents.load(session, actor, resident_id)
    old_key = vault.data_key(session, request.id)
    new_key = vault.data_key(session, resident.id)
    for column in SEALED_FIELDS:
        plaintext = open_sealed(session, actor, request, column, subject_id=request.id, key=old_key)
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
        plaintext = open_sealed(session, actor, event, "note", subject_id=request.id, key=old_key)
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
    add_event(session, request, "linked", at=now, actor=actor, detail={})
    return commit_update(session, actor, request, now, key=new_key)
