"""Ongi use cases: enroll, pause/resume/end, log contacts and gateway signals.

A successful contact moves `last_success_at` and `next_due_at` in the same transaction and
resolves an open lapse follow-up; contact logging and scheduler ticks serialize on the
enrollment row (PostgreSQL row lock; SQLite's BEGIN IMMEDIATE), so a fresh contact never
leaves a stale follow-up open.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.ladders import RiskLevel, load_risk_levels
from services import access, cases, followups, idempotency, residents, vault
from services.conflicts import flush_or_conflict
from services.pagination import KeyKind, Keyset, Page, paginate
from welfare.errors import Conflict, InvalidInput, NotFound, RuleViolation
from welfare.models import (
    Actor,
    Case,
    Channel,
    Contact,
    EnrollmentStatus,
    FollowUpReason,
    OngiEnrollment,
    Outcome,
    Program,
    Resident,
    ResidentStatus,
)
from welfare.models.base import in_literals
from welfare.models.bulk import insert_rows

CONTACTS = cast(Table, Contact.__table__)
ENROLLMENTS = cast(Table, OngiEnrollment.__table__)
CLOCK_SKEW = timedelta(minutes=2)  # a phone's clock may run slightly ahead of ours
LIVE_STATUSES = (EnrollmentStatus.ACTIVE.value, EnrollmentStatus.PAUSED.value)
NEWEST_FIRST = Keyset.of(
    (OngiEnrollment.enrolled_at, KeyKind.INSTANT),
    (OngiEnrollment.id, KeyKind.UUID),
    descending=True,
)


@cache
def risk_levels() -> dict[str, RiskLevel]:
    return load_risk_levels()


def enroll(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    risk_level: str,
    now: datetime,
    enrolled_at: datetime | None = None,
) -> OngiEnrollment:
    resident = residents.load(session, actor, resident_id, for_update=True)
    if resident.status != ResidentStatus.ACTIVE:
        raise RuleViolation(
            "활동 중인 주민만 등록할 수 있습니다 (resident not active)", code="resident_not_active"
        )
    level = _level(risk_level)
    enrolled_at = enrolled_at or now
    if enrolled_at > now + CLOCK_SKEW:
        raise InvalidInput({"enrolled_at": ["미래 시각은 안 됩니다 (in the future)"]})
    if (
        session.scalar(
            select(OngiEnrollment.id).where(
                OngiEnrollment.resident_id == resident.id,
                in_literals(OngiEnrollment.status, LIVE_STATUSES),
            )
        )
        is not None
    ):
        raise _already_enrolled()
    enrollment = OngiEnrollment(
        id=uuid.uuid4(),
        resident_id=resident.id,
        dong_code=resident.dong_code,
        risk_level=level.code,
        interval_hours=int(level.interval.total_seconds() // 3600),
        status=EnrollmentStatus.ACTIVE.value,
        enrolled_at=enrolled_at,
        created_by=actor.staff_id,
        updated_at=now,
        version=1,
    )
    enrollment.recompute_due()
    session.add(enrollment)
    flush_or_conflict(session, _already_enrolled)
    _open_or_link_case(session, actor=actor, resident=resident, enrollment=enrollment, now=now)
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[resident.id])
    return enrollment


def _open_or_link_case(
    session: Session,
    *,
    actor: Actor,
    resident: Resident,
    enrollment: OngiEnrollment,
    now: datetime,
) -> None:
    """An enrollment is casework too: it opens the resident's Ongi case, or is written into the
    history of the one already open, so the case and the watch never disagree. Both are dated
    when the enrollment took effect (which staff may record afterwards)."""
    at = min(enrollment.enrolled_at, now)
    case = _open_ongi_case(session, enrollment.resident_id)
    if case is None:
        case = cases.new_case(
            session, actor=actor, resident=resident, workflow=cases.workflow_for("ongi"), now=at
        )
    cases.add_event(
        session,
        case,
        "enrolled",
        at=max(at, case.opened_at),
        actor=actor,
        detail={"enrollment_id": str(enrollment.id), "risk_level": enrollment.risk_level},
    )


def _open_ongi_case(session: Session, resident_id: uuid.UUID) -> Case | None:
    return session.scalar(
        select(Case).where(
            Case.resident_id == resident_id,
            Case.program == Program.ONGI.value,
            Case.closed_at.is_(None),
        )
    )


def _already_enrolled() -> Conflict:
    return Conflict(
        "이미 온기 프로젝트에 등록되어 있습니다 (already enrolled)", code="already_enrolled"
    )


def get_enrollment(session: Session, *, actor: Actor, enrollment_id: uuid.UUID) -> OngiEnrollment:
    enrollment = access.load_scoped(
        session, OngiEnrollment, enrollment_id, actor=actor, resident_id_of=lambda e: e.resident_id
    )
    access.record(session, actor=actor, action="read", resident_ids=[enrollment.resident_id])
    session.commit()
    return enrollment


def list_enrollments(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID | None = None,
    status: str | None = None,
    dong: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[OngiEnrollment]:
    """Enrollments of the caller's dongs, newest first: one resident's history with
    `resident_id`, or a dong's watch list with `status=active`."""
    if cursor is not None:
        NEWEST_FIRST.decode(cursor)  # a forged cursor is a 422 before any record is read
    stmt = select(OngiEnrollment).where(access.dong_scope(actor, OngiEnrollment.dong_code))
    if resident_id is not None:
        # A filter like any other: another dong's resident finds nothing (no 404 that would
        # confirm the id), as on every listing with ids in its query.
        stmt = stmt.where(OngiEnrollment.resident_id == resident_id)
    if status is not None:
        stmt = stmt.where(OngiEnrollment.status == EnrollmentStatus(status).value)
    if dong is not None:
        stmt = stmt.where(OngiEnrollment.dong_code == dong)
    page = paginate(session, stmt, NEWEST_FIRST, cursor=cursor, limit=limit)
    access.commit_recorded(
        session, actor=actor, action="search", resident_ids=[e.resident_id for e in page.items]
    )
    return page


def update_enrollment(
    session: Session,
    *,
    actor: Actor,
    enrollment_id: uuid.UUID,
    expected_version: int | None,
    now: datetime,
    risk_level: str | None = None,
    status: str | None = None,
) -> OngiEnrollment:
    """Change the risk level, or pause / resume / end; ending is final."""
    enrollment = access.load_for_change(
        session,
        OngiEnrollment,
        enrollment_id,
        actor=actor,
        expected_version=expected_version,
        resident_id_of=lambda e: e.resident_id,
    )
    if enrollment.status == EnrollmentStatus.ENDED:
        raise RuleViolation(
            "종료된 등록은 바꿀 수 없습니다 (enrollment ended)", code="enrollment_ended"
        )
    if risk_level is not None:
        level = _level(risk_level)
        enrollment.risk_level = level.code
        enrollment.interval_hours = int(level.interval.total_seconds() // 3600)
    if status is not None and status != enrollment.status:
        enrollment.status = status
        if status == EnrollmentStatus.PAUSED:
            enrollment.paused_at = now
        elif status == EnrollmentStatus.ACTIVE:
            # Level-triggered: a resident whose last contact is older than the interval is
            # lapsed at once on resume, so someone checks on them after the pause.
            enrollment.paused_at = None
        else:
            enrollment.ended_at = now
        case = _open_ongi_case(session, enrollment.resident_id)
        if case is not None:  # the case's history says what happened to the watch
            cases.add_event(
                session,
                case,
                f"enrollment_{status}",
                at=now,
                actor=actor,
                detail={"enrollment_id": str(enrollment.id)},
            )
    enrollment.recompute_due()
    enrollment.updated_at = now
    if enrollment.status != EnrollmentStatus.ACTIVE:
        followups.cancel_live(
            session,
            subject_id=enrollment.resident_id,
            reason=FollowUpReason.CONTACT_LAPSED,
            why=f"enrollment_{enrollment.status}",
            now=now,
            actor=actor,
        )
    access.commit_recorded(
        session, actor=actor, action="update", resident_ids=[enrollment.resident_id]
    )
    return enrollment


@dataclass(frozen=True, slots=True)
class LoggedContact:
    contact: Contact
    created: bool


def log_contact(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    channel: str,
    outcome: str,
    occurred_at: datetime,
    now: datetime,
    program: str = "ongi",
    note: str | None = None,
    client_ref: str | None = None,
) -> LoggedContact:
    """Record a contact. The same `client_ref` from the same staff member again returns the
    first contact; with another body it is refused (services/idempotency.py)."""
    if occurred_at > now + CLOCK_SKEW:
        raise InvalidInput({"occurred_at": ["미래 시각은 기록할 수 없습니다 (in the future)"]})
    mac = None
    if client_ref:
        mac = idempotency.request_mac(
            session,
            "contact",
            {
                "resident_id": resident_id,
                "channel": channel,
                "outcome": outcome,
                "occurred_at": occurred_at,
                "program": program,
                "note": note,
            },
        )
        idempotency.lock_refs(session, actor.staff_id, [client_ref])
        existing = _by_ref(session, actor, client_ref)
        if existing is not None:
            return _replayed(session, actor, existing, mac)
    resident = residents.load(session, actor, resident_id)
    contact = record_contact(
        session,
        resident=resident,
        actor=actor,
        channel=channel,
        outcome=outcome,
        occurred_at=occurred_at,
        now=now,
        program=program,
        note=note,
        client_ref=client_ref,
        source="staff",
        request_mac=mac,
    )
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
    return LoggedContact(contact, created=True)


def _by_ref(session: Session, actor: Actor, client_ref: str) -> Contact | None:
    return session.scalar(
        select(Contact).where(Contact.staff_id == actor.staff_id, Contact.client_ref == client_ref)
    )


def _replayed(session: Session, actor: Actor, existing: Contact, mac: bytes) -> LoggedContact:
    """The first contact of a retried request, read in scope and recorded as a read."""
    if not idempotency.same_request(existing.request_mac, mac):
        raise idempotency.IdempotencyKeyReused
    contact = access.load_scoped(
        session, Contact, existing.id, actor=actor, resident_id_of=lambda c: c.resident_id
    )
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[contact.resident_id])
    return LoggedContact(contact, created=False)


def record_contact(
    session: Session,
    *,
    resident: Resident,
    actor: Actor,
    channel: str,
    outcome: str,
    occurred_at: datetime,
    now: datetime,
    program: str,
    note: str | None,
    client_ref: str | None,
    source: str,
    request_mac: bytes | None = None,
) -> Contact:
    """The shared core of staff contacts, gateway signals, deliveries and rides."""
    Channel(channel)
    result = Outcome(outcome)
    enrollment = session.scalar(
        select(OngiEnrollment)
        .where(
            OngiEnrollment.resident_id == resident.id,
            in_literals(OngiEnrollment.status, LIVE_STATUSES),
        )
        .with_for_update()
    )
    contact_id = uuid.uuid4()
    contact = Contact(
        id=contact_id,
        resident_id=resident.id,
        dong_code=resident.dong_code,
        program=program,
        channel=channel,
        outcome=outcome,
        occurred_at=occurred_at,
        recorded_at=now,
        staff_id=actor.staff_id,
        source=source,
        client_ref=client_ref,
        request_mac=request_mac,
        note_enc=vault.seal(session, resident.id, "contacts", "note", contact_id, plaintext=note),
    )
    session.add(contact)
    if result.is_success and enrollment is not None:
        if enrollment.last_success_at is None or occurred_at > enrollment.last_success_at:
            enrollment.last_success_at = occurred_at
            # Whose proof of life this was: a silent gateway's dependents are found by it.
            enrollment.last_success_gateway_id = actor.staff_id if source == "gateway" else None
            enrollment.recompute_due()
        if enrollment.next_due_at is None or enrollment.next_due_at > now:
            # One UPDATE ... RETURNING (and the event's INSERT when it closed one), not a
            # SELECT of the live follow-up and then its UPDATE.
            followups.resolve_live_many(
                session,
                details={resident.id: {"contact_id": str(contact_id), "channel": channel}},
                reason=FollowUpReason.CONTACT_LAPSED,
                outcome="contact_made",
                now=now,
                actor=actor,
            )
    session.flush()
    return contact


@dataclass(frozen=True, slots=True)
class Signal:
    """One gateway event accepted as a contact (`record_signals`)."""

    resident: Resident
    channel: str
    outcome: str
    occurred_at: datetime
    client_ref: str
    request_mac: bytes


def record_signals(
    session: Session, *, actor: Actor, signals: Sequence[Signal], now: datetime
) -> set[uuid.UUID]:
    """`record_contact`'s rules for a batch of gateway signals, in a fixed number of statements:
    the residents' enrollments locked in one SELECT (in resident-id order), the contacts in
    one INSERT, the enrollments' new due times in one flush, and the lapse follow-ups they
    resolve in one UPDATE and one INSERT. Signals apply in the order given, as one by one
    would. The residents written for."""
    if not signals:
        return set()
    ids = sorted({signal.resident.id for signal in signals})
    enrollments = {
        enrollment.resident_id: enrollment
        for enrollment in session.scalars(
            select(OngiEnrollment)
            .where(
                OngiEnrollment.resident_id.in_(ids),
                in_literals(OngiEnrollment.status, LIVE_STATUSES),
            )
            .order_by(OngiEnrollment.resident_id)
            .with_for_update()
        )
    }
    rows = []
    moved: dict[uuid.UUID, dict[str, Any]] = {}  # enrollment id -> its new last success, due
    resolved: dict[uuid.UUID, dict[str, str]] = {}
    for signal in signals:
        Channel(signal.channel)
        result = Outcome(signal.outcome)
        resident = signal.resident
        contact_id = uuid.uuid4()
        rows.append(
            {
                "id": contact_id,
                "resident_id": resident.id,
                "dong_code": resident.dong_code,
                "program": "ongi",
                "channel": signal.channel,
                "outcome": signal.outcome,
                "occurred_at": signal.occurred_at,
                "recorded_at": now,
                "staff_id": actor.staff_id,
                "source": "gateway",
                "note_enc": None,
                "client_ref": signal.client_ref,
                "request_mac": signal.request_mac,
            }
        )
        enrollment = enrollments.get(resident.id)
        if not result.is_success or enrollment is None:
            continue
        change = moved.get(enrollment.id)
        last = change["b_last"] if change else enrollment.last_success_at
        due = change["b_due"] if change else enrollment.next_due_at
        if last is None or signal.occurred_at > last:
            last, due = signal.occurred_at, enrollment.due_after(signal.occurred_at)
            moved[enrollment.id] = {
                "b_id": enrollment.id,
                "b_version": enrollment.version,
                "b_last": last,
                # Whose proof of life this was: a silent gateway's dependents are found by it.
                "b_gateway": actor.staff_id,
                "b_due": due,
            }
        if (due is None or due > now) and resident.id not in resolved:
            resolved[resident.id] = {"contact_id": str(contact_id), "channel": signal.channel}
    if moved:
        # One executemany for every enrollment (the ORM would send one UPDATE each); the rows
        # are locked above, and the version still guards them as the ORM's would.
        done = session.execute(
            update(ENROLLMENTS)
            .where(
                ENROLLMENTS.c.id == bindparam("b_id"),
                ENROLLMENTS.c.version == bindparam("b_version"),
            )
            .values(
                last_success_at=bindparam("b_last"),
                last_success_gateway_id=bindparam("b_gateway"),
                next_due_at=bindparam("b_due"),
                version=ENROLLMENTS.c.version + 1,
            ),
            list(moved.values()),
        )
        if cast(CursorResult[Any], done).rowcount not in {len(moved), -1}:
            raise Conflict(
                "다른 기록과 겹쳤습니다. 다시 보내 주세요 (enrollment changed; retry)",
                code="enrollment_changed",
            )
        for enrollment in enrollments.values():
            if enrollment.id in moved:
                session.expire(enrollment)
    insert_rows(session, CONTACTS, rows)
    followups.resolve_live_many(
        session,
        details=resolved,
        reason=FollowUpReason.CONTACT_LAPSED,
        outcome="contact_made",
        now=now,
        actor=actor,
    )
    session.flush()
    return set(ids)


def _level(code: str) -> RiskLevel:
    level = risk_levels().get(code)
    if level is None:
        raise InvalidInput({"risk_level": [f"{', '.join(risk_levels())} 중 하나 (unknown level)"]})
    return level


__all__ = ["NotFound"]
