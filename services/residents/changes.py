"""Changing a resident: personal fields and dong (If-Match), status (moved out, deceased), and
erasure, which crypto-shreds the record and ends what the programs were doing for them."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import case, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from services import access, erasure_ledger, followups, vault
from services.residents.records import (
    NAME_INDEX,
    PHONE_INDEX,
    TABLE,
    ResidentView,
    check_dong,
    household_index,
    load,
    view,
)
from welfare.crypto.blind_index import NAME_INDEX_BITS, PHONE_INDEX_BITS
from welfare.database import checkpoint_after_erasure, session_keyring
from welfare.errors import Forbidden, InvalidInput
from welfare.identity import IdentityError, normalize_name, normalize_phone
from welfare.models import (
    OPEN_DISPATCH_STATES,
    OPEN_REFERRAL_STATES,
    Actor,
    AllocationStatus,
    CareRequest,
    CareState,
    Case,
    Contact,
    DataKey,
    DeliveryAttempt,
    Dispatch,
    Eligibility,
    EnrollmentStatus,
    ExternalReferral,
    FollowUp,
    FollowUpReason,
    HygieneEnrollment,
    HygieneEnrollmentStatus,
    HygieneVisit,
    KimchiAllocation,
    KimchiCampaign,
    KimchiStop,
    OngiEnrollment,
    RecurringException,
    RecurringRide,
    Referral,
    Resident,
    ResidentStatus,
    Ride,
    RideState,
    Role,
    SignalSource,
    Staff,
    StopState,
    VisitState,
)
from welfare.models.base import eq_literal, in_literals
from welfare.models.resident import ENCRYPTED_FIELDS

OPEN_CARE_STATES = tuple(s.value for s in CareState if s.is_open)
CARE_REQUEST_SUBJECT = "care_request"
SETTABLE_STATUSES = frozenset(
    {ResidentStatus.ACTIVE, ResidentStatus.MOVED_OUT, ResidentStatus.DECEASED}
)
# Every row about a resident carries the dong it is scoped by; these go with the resident to a
# new dong as they are (care requests and follow-ups are moved by their own rules below).
# tests/unit/test_follow_resident.py fails when a table with `resident_id` and `dong_code` is
# in none of them.
FOLLOW_RESIDENT: tuple[type[Any], ...] = (
    OngiEnrollment,
    Contact,
    Case,
    Referral,
    SignalSource,
    Eligibility,
    Ride,
    RecurringRide,
    KimchiAllocation,
    DeliveryAttempt,
    ExternalReferral,
    Dispatch,
    HygieneEnrollment,
    HygieneVisit,
)


def update_resident(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    expected_version: int,
    changes: Mapping[str, Any],
    now: datetime,
) -> ResidentView:
    """Change personal fields or move dong, only against the version the caller saw."""
    resident = load(session, actor, resident_id, for_update=True)
    access.check_version(resident, expected_version)
    if "notes" in changes and not access.may_read_notes(actor):
        raise Forbidden("메모를 수정할 권한이 없습니다 (may not edit notes)")
    errors: dict[str, list[str]] = {}
    key = vault.data_key(session, resident.id)
    indexer = vault.indexer(session)

    def sealed(column: str, value: str | None) -> bytes | None:
        return vault.seal(
            session, resident.id, TABLE, column, resident.id, plaintext=value, key=key
        )

    if "name" in changes:
        try:
            name = normalize_name(changes["name"])
            resident.name_enc = sealed("name", name)
            resident.name_index = indexer.truncated(NAME_INDEX, name, NAME_INDEX_BITS)
        except IdentityError as exc:
            errors["name"] = [exc.message]
    if "phone" in changes:
        phone = changes["phone"]
        try:
            normalized = normalize_phone(phone) if phone else None
            resident.phone_enc = sealed("phone", normalized)
            resident.phone_index = (
                indexer.truncated(PHONE_INDEX, normalized, PHONE_INDEX_BITS) if normalized else None
            )
        except IdentityError as exc:
            errors["phone"] = [exc.message]
    if "dong" in changes and changes["dong"] != resident.dong_code:
        check_dong(session, actor, changes["dong"], errors)
        resident.dong_code = changes["dong"]
        if not errors:
            follow_to_dong(
                session, actor=actor, resident_id=resident.id, dong=changes["dong"], now=now
            )
    for field in ("address", "notes"):
        if field in changes:
            setattr(resident, f"{field}_enc", sealed(field, changes[field]))
    if "address" in changes:
        resident.household_index = household_index(session, changes["address"])
    if "household_type" in changes:
        resident.household_type = changes["household_type"]
    if errors:
        session.rollback()
        raise InvalidInput(errors)
    resident.updated_at = now
    session.flush()
    result = view(session, actor, resident, key=key)
    access.record(session, actor=actor, action="update", resident_ids=[resident.id])
    session.commit()
    return result


def change_status(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    status: str,
    expected_version: int,
    now: datetime,
) -> ResidentView:
    """Record that a resident moved away or died (or is active again)."""
    resident = load(session, actor, resident_id, for_update=True)
    access.check_version(resident, expected_version)
    if ResidentStatus(status) not in SETTABLE_STATUSES:
        raise InvalidInput({"status": ["active, moved_out, deceased 중 하나 (unknown status)"]})
    resident.status = status
    resident.updated_at = now
    if status != ResidentStatus.ACTIVE:
        end_programs(session, resident.id, now, why=f"resident_{status}", by=actor.staff_id)
    session.flush()
    result = view(session, actor, resident)
    access.record(session, actor=actor, action="update", resident_ids=[resident.id])
    session.commit()
    return result


def erase_resident(
    session: Session, *, actor: Actor, resident_id: uuid.UUID, reason: str, now: datetime
) -> None:
    """Crypto-shred a resident: destroy the data key, clear blind indexes, keep the id.

    The erasure is also appended to the erasure ledger outside the database before it commits
    (services/erasure_ledger.py), so restoring an older backup cannot bring the resident back.
    """
    if actor.role is not Role.SUPERVISOR:
        raise Forbidden("파기는 팀장만 할 수 있습니다 (only supervisors erase)")
    if not reason.strip():
        raise InvalidInput({"reason": ["사유를 입력하세요 (a reason is required)"]})
    resident = load(session, actor, resident_id, for_update=True)
    _shred(session, actor, resident, reason.strip(), now)
    try:
        erasure_ledger.record_erasure(session, resident.id, now, session_keyring(session).audit_key)
    except BaseException:
        session.rollback()
        raise
    session.commit()
    # The zeroed pages reach the database file and the WAL's old copies go (SQLite only).
    checkpoint_after_erasure(session)


@dataclasses.dataclass(slots=True)
class ReplayReport:
    """What replaying the erasure ledger did to a restored database."""

    erased: list[uuid.UUID] = dataclasses.field(default_factory=list)
    already_erased: int = 0
    absent: int = 0  # named by the ledger, but not in this copy (registered after the backup)


REPLAY_REASON = "복원 후 파기 기록부 재적용 (erasure ledger replayed after a restore)"


def replay_erasures(
    session: Session, entries: Sequence[erasure_ledger.Entry], *, now: datetime
) -> ReplayReport:
    """Erase again, as the system, every resident of the ledger not erased in this database;
    one transaction per resident, each with its `erase` access record."""
    actor = Actor.system("erasure-replay")
    report = ReplayReport()
    for entry in entries:
        resident = session.scalars(
            select(Resident).where(Resident.id == entry.resident_id).with_for_update()
        ).one_or_none()
        if resident is None:
            report.absent += 1
        elif resident.is_erased and _key_destroyed(session, resident.id):
            report.already_erased += 1
        else:
            _shred(session, actor, resident, REPLAY_REASON, now, erased_at=entry.erased_at)
            session.commit()
            report.erased.append(resident.id)
        session.rollback()
    if report.erased:
        checkpoint_after_erasure(session)
    return report


def _key_destroyed(session: Session, resident_id: uuid.UUID) -> bool:
    key = session.get(DataKey, resident_id)
    return key is None or key.wrapped is None


def _shred(
    session: Session,
    actor: Actor,
    resident: Resident,
    reason: str,
    now: datetime,
    *,
    erased_at: datetime | None = None,
) -> None:
    vault.destroy_data_key(session, resident.id, now)
    for field_name in ENCRYPTED_FIELDS:
        setattr(resident, f"{field_name}_enc", None)
    resident.rrn_index = resident.phone_index = resident.name_index = None
    resident.household_index = None
    resident.status = ResidentStatus.ERASED.value
    resident.erased_at = erased_at or now
    resident.updated_at = now
    end_programs(
        session,
        resident.id,
        now,
        why="resident_erased",
        close_cases_because="resident_erased",
        by=actor.staff_id,
    )
    access.record(session, actor=actor, action="erase", resident_ids=[resident.id], reason=reason)


def follow_to_dong(
    session: Session, *, actor: Actor, resident_id: uuid.UUID, dong: str, now: datetime
) -> None:
    """A resident who moves within the district takes their records to the new dong's team:
    every scoped row carries the dong it is scoped by, and a follow-up is scoped like its subject.

    Linked care requests still open go too, each with a history entry: the team that can reach
    the person must answer them. A closed request stays with the team that handled it, and so
    do its follow-ups; the resident's own follow-ups (a lapse) always move.
    """
    moved: list[uuid.UUID] = []
    for request in session.scalars(
        select(CareRequest)
        .where(
            CareRequest.resident_id == resident_id,
            in_literals(CareRequest.state, OPEN_CARE_STATES),
            CareRequest.dong_code != dong,
        )
        .order_by(CareRequest.id)
        .with_for_update()
    ).all():
        keep = request.assignee_id is None or _works_in(session, request.assignee_id, dong)
        session.add(
            request.follow_resident(to_dong=dong, keep_assignee=keep, by=actor.staff_id, at=now)
        )
        moved.append(request.id)
    session.execute(
        update(RecurringException)
        .where(
            RecurringException.recurring_id.in_(
                select(RecurringRide.id).where(RecurringRide.resident_id == resident_id)
            )
        )
        .values(dong_code=dong)
        .execution_options(synchronize_session=False)
    )
    _leave_routes(session, resident_id, now)
    for dispatch in session.scalars(
        select(Dispatch)
        .where(
            Dispatch.resident_id == resident_id,
            in_literals(Dispatch.state, OPEN_DISPATCH_STATES),
            Dispatch.dong_code != dong,
        )
        .order_by(Dispatch.id)
        .with_for_update()
    ).all():
        keep = dispatch.assignee_id is None or _works_in(session, dispatch.assignee_id, dong)
        session.add(
            dispatch.follow_resident(to_dong=dong, keep_assignee=keep, by=actor.staff_id, at=now)
        )
    for referral in session.scalars(
        select(ExternalReferral)
        .where(
            ExternalReferral.resident_id == resident_id,
            in_literals(ExternalReferral.state, OPEN_REFERRAL_STATES),
            ExternalReferral.dong_code != dong,
        )
        .order_by(ExternalReferral.id)
    ).all():
        session.add(
            referral.event(
                "moved",
                by=actor.staff_id,
                at=now,
                why="resident_moved",
                from_dong=referral.dong_code,
                to_dong=dong,
            )
        )
    for model in FOLLOW_RESIDENT:
        session.execute(
            update(model)
            .where(model.resident_id == resident_id)
            .values(dong_code=dong)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(FollowUp)
        .where(
            FollowUp.resident_id == resident_id,
            or_(FollowUp.subject_type != CARE_REQUEST_SUBJECT, FollowUp.subject_id.in_(moved)),
        )
        .values(dong_code=dong)
        .execution_options(synchronize_session=False)
    )


def _works_in(session: Session, staff_id: uuid.UUID, dong: str) -> bool:
    member = session.get(Staff, staff_id)
    return member is not None and member.is_active and dong in member.dongs


def end_programs(
    session: Session,
    resident_id: uuid.UUID,
    now: datetime,
    *,
    why: str,
    close_cases_because: str | None = None,
    by: uuid.UUID | None = None,
) -> None:
    """A resident who died, moved away or was erased is no longer watched, and no longer rides
    (live rides cancelled, recurring rides stopped); the next tick cancels what was raised,
    naming why. Nobody visits or refers them any more either: hygiene enrollments end (visits
    not yet due removed, those due but unrecorded cancelled), open dispatches are cancelled and
    open external referrals withdrawn, each with a history entry naming `why`, and their live
    follow-ups are cancelled now. With `close_cases_because`, open cases and care requests
    close too, each with a history entry naming why (`end_with_resident`)."""
    session.execute(
        update(OngiEnrollment)
        .where(
            OngiEnrollment.resident_id == resident_id,
            in_literals(OngiEnrollment.status, ("active", "paused")),
        )
        .values(
            status=EnrollmentStatus.ENDED.value,
            ended_at=now,
            next_due_at=None,
            version=OngiEnrollment.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    # Nobody rides for them any more: live rides are cancelled (freeing their vehicles and
    # drivers) and recurring rides stop materializing.
    session.execute(
        update(Ride)
        .where(
            Ride.resident_id == resident_id,
            in_literals(Ride.state, (RideState.REQUESTED.value, RideState.ASSIGNED.value)),
        )
        .values(
            state=RideState.CANCELLED.value,
            outcome_at=now,
            outcome_recorded_at=now,
            outcome_by=by,
            updated_at=now,
            version=Ride.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(RecurringRide)
        .where(RecurringRide.resident_id == resident_id, RecurringRide.active)
        .values(active=False, updated_at=now, version=RecurringRide.version + 1)
        .execution_options(synchronize_session=False)
    )
    if close_cases_because is not None:
        open_cases = session.scalars(
            select(Case)
            .where(Case.resident_id == resident_id, Case.closed_at.is_(None))
            .with_for_update()
        ).all()
        for case in open_cases:
            session.add(case.end_with_resident(why=close_cases_because, by=by, at=now))
        open_requests = session.scalars(
            select(CareRequest)
            .where(
                CareRequest.resident_id == resident_id,
                in_literals(
                    CareRequest.state, (CareState.RECEIVED.value, CareState.RESPONDED.value)
                ),
            )
            .with_for_update()
        ).all()
        for request in open_requests:
            session.add(request.end_with_resident(why=close_cases_because, by=by, at=now))
    _end_allocations(session, resident_id, now)
    _end_visits_and_referrals(session, resident_id, now, why=why, by=by)


def _end_visits_and_referrals(
    session: Session, resident_id: uuid.UUID, now: datetime, *, why: str, by: uuid.UUID | None
) -> None:
    """The district plan's other services stop for a resident who is no longer ours: hygiene
    visits not yet made are cancelled and the enrollment ends, open dispatches are cancelled,
    open external referrals withdrawn (staff tell the partner by its own channel). Live
    follow-ups they raised are cancelled in the same transaction, naming `why`."""
    for enrollment in session.scalars(
        select(HygieneEnrollment)
        .where(
            HygieneEnrollment.resident_id == resident_id,
            eq_literal(HygieneEnrollment.status, HygieneEnrollmentStatus.ACTIVE.value),
        )
        .with_for_update()
    ).all():
        enrollment.end(at=now)
    # As ending an enrollment does (services/hygiene.py): visits not yet due never happen;
    # those due but not recorded are cancelled, so nobody chases a visit to someone gone.
    session.execute(
        delete(HygieneVisit)
        .where(
            HygieneVisit.resident_id == resident_id,
            eq_literal(HygieneVisit.state, VisitState.SCHEDULED.value),
            HygieneVisit.scheduled_at > now,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(HygieneVisit)
        .where(
            HygieneVisit.resident_id == resident_id,
            eq_literal(HygieneVisit.state, VisitState.SCHEDULED.value),
        )
        .values(
            state=VisitState.CANCELLED.value,
            recorded_at=now,
            recorded_by=by,
            version=HygieneVisit.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    missed_visits = select(HygieneVisit.id).where(HygieneVisit.resident_id == resident_id)
    for visit_id in session.scalars(
        select(FollowUp.subject_id).where(
            FollowUp.reason == FollowUpReason.HYGIENE_VISIT_MISSED.value,
            FollowUp.subject_id.in_(missed_visits),
            in_literals(FollowUp.state, followups.LIVE_STATES),
        )
    ).all():
        followups.cancel_live(
            session,
            subject_id=visit_id,
            reason=FollowUpReason.HYGIENE_VISIT_MISSED.value,
            why=why,
            now=now,
        )
    _end_open(session, Dispatch, OPEN_DISPATCH_STATES, resident_id, why=why, by=by, now=now)
    _end_open(session, ExternalReferral, OPEN_REFERRAL_STATES, resident_id, why=why, by=by, now=now)


_Open = TypeVar("_Open", Dispatch, ExternalReferral)
# What an open row of each kind raised while it waited, cancelled when it ends with its resident.
_WAITING_REASON = {
    Dispatch: FollowUpReason.DISPATCH_OVERDUE.value,
    ExternalReferral: FollowUpReason.PARTNER_UNANSWERED.value,
}


def _end_open(
    session: Session,
    model: type[_Open],
    states: tuple[str, ...],
    resident_id: uuid.UUID,
    *,
    why: str,
    by: uuid.UUID | None,
    now: datetime,
) -> None:
    """End a resident's open dispatches or referrals, each with its history entry, and cancel
    the live follow-up each raised while it waited."""
    for row in session.scalars(
        select(model)
        .where(model.resident_id == resident_id, in_literals(model.state, states))
        .order_by(model.id)
        .with_for_update()
    ).all():
        session.add(row.end_with_resident(why=why, by=by, at=now))
        followups.cancel_live(
            session, subject_id=row.id, reason=_WAITING_REASON[model], why=why, now=now
        )


def _leave_routes(session: Session, resident_id: uuid.UUID, now: datetime) -> None:
    """A resident's boxes leave the routes they were on (a route is one dong's round): back to
    the pool of the campaign, to be routed again where the resident lives now or ended."""
    allocation_ids = select(KimchiAllocation.id).where(KimchiAllocation.resident_id == resident_id)
    session.execute(
        update(KimchiStop)
        .where(KimchiStop.allocation_id.in_(allocation_ids), eq_literal(KimchiStop.state, "open"))
        .values(state=StopState.RETURNED.value)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(KimchiAllocation)
        .where(
            KimchiAllocation.resident_id == resident_id,
            KimchiAllocation.status == AllocationStatus.ROUTED.value,
        )
        .values(
            # Back to the pool as it was: failed if it was attempted before (any attempt that
            # did not end it failed), allocated otherwise.
            status=case(
                (
                    exists().where(DeliveryAttempt.allocation_id == KimchiAllocation.id),
                    AllocationStatus.FAILED.value,
                ),
                else_=AllocationStatus.ALLOCATED.value,
            ),
            updated_at=now,
            version=KimchiAllocation.version + 1,
        )
        .execution_options(synchronize_session=False)
    )


def _end_allocations(session: Session, resident_id: uuid.UUID, now: datetime) -> None:
    """A resident who died, moved away or was erased gets no box: their undelivered
    allocations are cancelled (`resident_ended`), the boxes go back to each campaign's stock, and
    failed deliveries' follow-ups are cancelled."""
    _leave_routes(session, resident_id, now)
    ending = session.scalars(
        select(KimchiAllocation)
        .where(
            KimchiAllocation.resident_id == resident_id,
            KimchiAllocation.status.in_(
                [AllocationStatus.ALLOCATED.value, AllocationStatus.FAILED.value]
            ),
        )
        .with_for_update()
    ).all()
    for allocation in ending:
        allocation.cancel(why="resident_ended", at=now)
        session.execute(
            update(KimchiCampaign)
            .where(KimchiCampaign.id == allocation.campaign_id)
            .values(allocated_boxes=KimchiCampaign.allocated_boxes - allocation.boxes)
            .execution_options(synchronize_session=False)
        )
        followups.cancel_live(
            session,
            subject_id=allocation.id,
            reason=FollowUpReason.DELIVERY_FAILED.value,
            why="resident_ended",
            now=now,
        )
