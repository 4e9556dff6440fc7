"""Delivery attempts and what each outcome does, in one transaction with the attempt:

- `handed_over` to the resident or a household member: the allocation is delivered, and, when
  the resident is watched by Ongi, a contact (channel `delivery`, outcome `reached`) moves their
  due time and resolves an open lapse (`services.ongi.record_contact`);
- `handed_over` to a neighbour, `left_at_door`: delivered, no contact (nobody saw the resident);
- `absent`, `bad_address`: the allocation failed and a `delivery_failed` follow-up is raised
  (subject: the allocation; ladder: the resident's Ongi risk level's), which a later successful
  attempt resolves;
- `refused`, `cancelled`: the allocation ends, its box goes back to the stock;
- an observation marked as a concern: a `welfare_concern` follow-up about the resident, for
  their counselor.

A `client_ref` makes a retried post from a phone create nothing twice: the same ref from the
same staff member with the same body answers the first attempt; with another body, 422.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import access, followups, idempotency, ongi, vault
from services.followups import Raise
from services.kimchi.allocations import release
from services.kimchi.records import load_allocation, load_allocation_for_change
from welfare.calendar import SEOUL
from welfare.errors import InvalidInput
from welfare.models import (
    Actor,
    AttemptOutcome,
    Case,
    DeliveryAttempt,
    FollowUp,
    FollowUpReason,
    KimchiAllocation,
    KimchiCampaign,
    KimchiRoute,
    KimchiStop,
    OngiEnrollment,
    RecipientRelation,
    Resident,
    RouteStatus,
    StopState,
)
from welfare.models.base import eq_literal, in_literals
from welfare.models.kimchi import DELIVERED_OUTCOMES, FAILED_OUTCOMES

TABLE = "kimchi_attempts"
CLOCK_SKEW = timedelta(minutes=2)
PROGRAM = "kimchi"
CONTACT_RELATIONS = frozenset({RecipientRelation.SELF, RecipientRelation.HOUSEHOLD_MEMBER})
FAILED = FollowUpReason.DELIVERY_FAILED.value
CONCERN = FollowUpReason.WELFARE_CONCERN.value


@dataclass(frozen=True, slots=True)
class AttemptView:
    id: uuid.UUID
    allocation_id: uuid.UUID
    route_id: uuid.UUID | None
    resident_id: uuid.UUID
    outcome: str
    recipient_relation: str | None
    occurred_at: datetime
    recorded_at: datetime
    staff_id: uuid.UUID | None
    observation: str | None  # counselors and supervisors, and whoever recorded it
    concern: bool
    contact_id: uuid.UUID | None
    allocation_status: str


@dataclass(frozen=True, slots=True)
class RecordedAttempt:
    attempt: AttemptView
    created: bool


def attempt_view(
    session: Session, actor: Actor, attempt: DeliveryAttempt, allocation_status: str
) -> AttemptView:
    observation = None
    readable = access.may_read_notes(actor) or (
        actor.staff_id is not None and actor.staff_id == attempt.staff_id
    )
    if readable and attempt.observation_enc is not None:
        observation = vault.open_value(
            session,
            actor=actor,
            subject_id=attempt.resident_id,
            table=TABLE,
            column="observation",
            row_id=attempt.id,
            blob=attempt.observation_enc,
        )
    return AttemptView(
        id=attempt.id,
        allocation_id=attempt.allocation_id,
        route_id=attempt.route_id,
        resident_id=attempt.resident_id,
        outcome=attempt.outcome,
        recipient_relation=attempt.recipient_relation,
        occurred_at=attempt.occurred_at,
        recorded_at=attempt.recorded_at,
        staff_id=attempt.staff_id,
        observation=observation,
        concern=attempt.concern,
        contact_id=attempt.contact_id,
        allocation_status=allocation_status,
    )


def _validate(
    *,
    outcome: str,
    recipient_relation: str | None,
    observation: str | None,
    concern: bool,
    occurred_at: datetime,
    now: datetime,
) -> AttemptOutcome:
    errors: dict[str, list[str]] = {}
    result = None
    try:
        result = AttemptOutcome(outcome)
    except ValueError:
        errors["outcome"] = [
            f"{', '.join(o.value for o in AttemptOutcome)} 중 하나 (unknown outcome)"
        ]
    if result is AttemptOutcome.HANDED_OVER:
        if recipient_relation not in {r.value for r in RecipientRelation}:
            errors["recipient_relation"] = [
                "직접 전달은 받은 사람을 적으세요: self, household_member, neighbour "
                "(who received it)"
            ]
    elif recipient_relation is not None:
        errors["recipient_relation"] = ["직접 전달(handed_over)에만 씁니다 (only for handed_over)"]
    if concern and not (observation or "").strip():
        errors["observation"] = ["우려 사항을 적으세요 (a concern needs an observation)"]
    if occurred_at > now + CLOCK_SKEW:
        errors["occurred_at"] = ["미래 시각은 기록할 수 없습니다 (in the future)"]
    if errors or result is None:
        raise InvalidInput(errors)
    return result


def record_attempt(
    session: Session,
    *,
    actor: Actor,
    allocation_id: uuid.UUID,
    outcome: str,
    occurred_at: datetime,
    now: datetime,
    recipient_relation: str | None = None,
    observation: str | None = None,
    concern: bool = False,
    client_ref: str | None = None,
    expected_version: int | None = None,
) -> RecordedAttempt:
    """Record one attempt at delivering an allocation, with its effects (module docstring)."""
    observation = (observation or "").strip() or None
    result = _validate(
        outcome=outcome,
        recipient_relation=recipient_relation,
        observation=observation,
        concern=concern,
        occurred_at=occurred_at,
        now=now,
    )
    mac = None
    if client_ref:
        mac = idempotency.request_mac(
            session,
            "kimchi_attempt",
            {
                "allocation_id": allocation_id,
                "outcome": outcome,
                "occurred_at": occurred_at,
                "recipient_relation": recipient_relation,
                "observation": observation,
                "concern": concern,
            },
        )
        existing = _by_ref(session, actor, client_ref)
        if existing is not None:
            return _replayed(session, actor, existing, mac)
    allocation = load_allocation_for_change(session, actor, allocation_id, expected_version)
    campaign = session.get(KimchiCampaign, allocation.campaign_id)
    assert campaign is not None  # noqa: S101 - a foreign key
    campaign.ensure_open()
    if not campaign.covers(occurred_at.astimezone(SEOUL).date()):
        raise InvalidInput(
            {"occurred_at": ["캠페인 배송 기간 밖의 날짜입니다 (outside the campaign's period)"]}
        )
    allocation.record_attempt(result, at=now)
    resident = session.get(Resident, allocation.resident_id)
    assert resident is not None  # noqa: S101 - a foreign key
    route_id = _close_stop(session, allocation, now)
    attempt_id = uuid.uuid4()
    attempt = DeliveryAttempt(
        id=attempt_id,
        allocation_id=allocation.id,
        route_id=route_id,
        resident_id=resident.id,
        dong_code=allocation.dong_code,
        outcome=result.value,
        recipient_relation=recipient_relation,
        occurred_at=occurred_at,
        recorded_at=now,
        staff_id=actor.staff_id,
        observation_enc=vault.seal(
            session, resident.id, TABLE, "observation", attempt_id, plaintext=observation
        ),
        concern=concern,
        client_ref=client_ref,
        request_mac=mac,
    )
    enrollment = session.scalar(
        select(OngiEnrollment).where(
            OngiEnrollment.resident_id == resident.id,
            in_literals(OngiEnrollment.status, ongi.LIVE_STATUSES),
        )
    )
    risk_level = enrollment.risk_level if enrollment is not None else None
    if result in DELIVERED_OUTCOMES:
        followups.resolve_live(
            session,
            subject_id=allocation.id,
            reason=FAILED,
            outcome="redelivered",
            now=now,
            actor=actor,
            detail={"attempt_id": str(attempt_id)},
        )
        if enrollment is not None and recipient_relation in CONTACT_RELATIONS:
            contact = ongi.record_contact(
                session,
                resident=resident,
                actor=actor,
                channel="delivery",
                outcome="reached",
                occurred_at=occurred_at,
                now=now,
                program=PROGRAM,
                note=None,
                client_ref=None,
                source="staff",
            )
            attempt.contact_id = contact.id
    elif result in FAILED_OUTCOMES:
        _raise(
            session,
            allocation,
            attempt,
            reason=FAILED,
            subject_type="kimchi_allocation",
            risk_level=risk_level,
            now=now,
        )
    else:
        release(session, actor=actor, allocation=allocation, why=f"attempt_{result}", now=now)
    if concern:
        _raise(
            session,
            allocation,
            attempt,
            reason=CONCERN,
            subject_type="resident",
            risk_level=risk_level,
            now=now,
        )
        _assign_counselor(session, resident.id)
    session.add(attempt)
    session.flush()
    view = attempt_view(session, actor, attempt, allocation.status)
    access.record(session, actor=actor, action="create", resident_ids=[resident.id])
    try:
        session.commit()
    except IntegrityError:
        # The same ref sent twice at once: the other request won the unique index.
        session.rollback()
        again = _by_ref(session, actor, client_ref) if client_ref else None
        if again is None or mac is None:
            raise
        return _replayed(session, actor, again, mac)
    return RecordedAttempt(view, created=True)


def _close_stop(session: Session, allocation: KimchiAllocation, now: datetime) -> uuid.UUID | None:
    """The allocation's open stop is done; a route whose every stop is done is done."""
    stop = session.scalar(
        select(KimchiStop).where(
            KimchiStop.allocation_id == allocation.id,
            eq_literal(KimchiStop.state, StopState.OPEN.value),
        )
    )
    if stop is None:
        return None
    stop.state = StopState.DONE.value
    session.flush()
    still_open = session.scalar(
        select(KimchiStop.id)
        .where(
            KimchiStop.route_id == stop.route_id,
            eq_literal(KimchiStop.state, StopState.OPEN.value),
        )
        .limit(1)
    )
    if still_open is None:
        session.execute(
            update(KimchiRoute)
            .where(KimchiRoute.id == stop.route_id, KimchiRoute.status == RouteStatus.OPEN.value)
            .values(status=RouteStatus.DONE.value, updated_at=now, version=KimchiRoute.version + 1)
            .execution_options(synchronize_session=False)
        )
    return stop.route_id


def _raise(
    session: Session,
    allocation: KimchiAllocation,
    attempt: DeliveryAttempt,
    *,
    reason: str,
    subject_type: str,
    risk_level: str | None,
    now: datetime,
) -> None:
    """Raise the follow-up now, in the attempt's transaction (one live per subject and reason:
    a second absent attempt leaves the live one climbing)."""
    subject = allocation.id if subject_type == "kimchi_allocation" else allocation.resident_id
    followups.raise_many(
        session,
        [
            Raise(
                subject_type=subject_type,
                subject_id=subject,
                resident_id=allocation.resident_id,
                dong_code=allocation.dong_code,
                program=PROGRAM,
                reason=reason,
                risk_level=risk_level,
                due_at=now,
                evidence={
                    "campaign_id": str(allocation.campaign_id),
                    "allocation_id": str(allocation.id),
                    "attempt_id": str(attempt.id),
                    "outcome": attempt.outcome,
                },
            )
        ],
        as_of=now,
        run_id=None,
        calendar=followups.business_calendar(session),
    )


def _assign_counselor(session: Session, resident_id: uuid.UUID) -> None:
    """A concern goes to the resident's counselor: the assignee of their most recent open case,
    when they have one (otherwise the dong's queue shows it unassigned)."""
    counselor = session.scalar(
        select(Case.assignee_id)
        .where(
            Case.resident_id == resident_id,
            Case.closed_at.is_(None),
            Case.assignee_id.is_not(None),
        )
        .order_by(Case.opened_at.desc())
        .limit(1)
    )
    if counselor is None:
        return
    session.execute(
        update(FollowUp)
        .where(
            FollowUp.subject_id == resident_id,
            FollowUp.reason == CONCERN,
            in_literals(FollowUp.state, followups.LIVE_STATES),
            FollowUp.assignee_id.is_(None),
        )
        .values(assignee_id=counselor, version=FollowUp.version + 1)
        .execution_options(synchronize_session=False)
    )


def _by_ref(session: Session, actor: Actor, client_ref: str) -> DeliveryAttempt | None:
    return session.scalar(
        select(DeliveryAttempt).where(
            DeliveryAttempt.staff_id == actor.staff_id, DeliveryAttempt.client_ref == client_ref
        )
    )


def _replayed(
    session: Session, actor: Actor, existing: DeliveryAttempt, mac: bytes
) -> RecordedAttempt:
    """The first attempt of a retried post, read in scope and recorded as a read."""
    if not idempotency.same_request(existing.request_mac, mac):
        raise idempotency.IdempotencyKeyReused
    attempt = access.load_scoped(
        session, DeliveryAttempt, existing.id, actor=actor, resident_id_of=lambda a: a.resident_id
    )
    allocation = session.get(KimchiAllocation, attempt.allocation_id)
    assert allocation is not None  # noqa: S101 - a foreign key
    view = attempt_view(session, actor, attempt, allocation.status)
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[attempt.resident_id])
    return RecordedAttempt(view, created=False)


def list_attempts(session: Session, *, actor: Actor, allocation_id: uuid.UUID) -> list[AttemptView]:
    """An allocation's attempts, oldest first (an allocation has a handful)."""
    allocation = load_allocation(session, actor, allocation_id)
    attempts = session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.allocation_id == allocation.id)
        .order_by(DeliveryAttempt.occurred_at, DeliveryAttempt.id)
    ).all()
    result = [attempt_view(session, actor, a, allocation.status) for a in attempts]
    access.commit_recorded(
        session, actor=actor, action="read", resident_ids=[allocation.resident_id]
    )
    return result
