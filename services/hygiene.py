"""Elder health & hygiene visits (`hygiene_care`; docs/domain.md, "Elder health & hygiene visits").

An elder is enrolled with a partner provider, the services and an RRULE (RFC 5545, read with
python-dateutil's `rrulestr`, in Seoul time). Visits are rows made from the rule ahead of time
(`schedule_days`, extended by the tick), one per occurrence (a unique index, so making them twice
adds nothing). Each is recorded done, missed or refused: a visit where the person was met is an
Ongi contact (channel `visit`); a health observation marked as a concern raises `welfare_concern`
at once (a referral to a health branch goes through `services.partners`, with consent); a missed
visit, or one not recorded `missed_after_hours` after its time, raises `hygiene_visit_missed`
(`schedulers/rules/hygiene.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from dateutil.rrule import DAILY, rrule, rrulestr
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config.hygiene import HygieneRules, load_hygiene
from services import access, followups, ongi, residents, vault
from services.conflicts import flush_or_conflict
from services.followups import Raise
from services.pagination import KeyKind, Keyset, Page, paginate
from services.partners import partner_book
from services.residents.labels import Labelled, label_page
from welfare.calendar import SEOUL
from welfare.errors import Conflict, InvalidInput
from welfare.models import (
    Actor,
    FollowUpReason,
    HygieneEnrollment,
    HygieneEnrollmentStatus,
    HygieneVisit,
    OngiEnrollment,
    Program,
    VisitState,
)
from welfare.models.base import eq_literal, in_literals

TABLE = "hygiene_visits"
PROGRAM = Program.HYGIENE_CARE.value
MISSED = FollowUpReason.HYGIENE_VISIT_MISSED.value
CONCERN = FollowUpReason.WELFARE_CONCERN.value
CLOCK_SKEW = timedelta(minutes=2)
MAX_RRULE = 300
FIRST_WITHIN = timedelta(days=730)
DTSTART_RANGE = timedelta(days=366)
LAST = datetime(9998, 12, 31, tzinfo=SEOUL)
ENROLLMENT_ORDER = Keyset.of(
    (HygieneEnrollment.enrolled_at, KeyKind.INSTANT),
    (HygieneEnrollment.id, KeyKind.UUID),
    descending=True,
)
VISIT_ORDER = Keyset.of(
    (HygieneVisit.scheduled_at, KeyKind.INSTANT), (HygieneVisit.id, KeyKind.UUID)
)
RECORDABLE = {s.value: s for s in (VisitState.DONE, VisitState.MISSED, VisitState.REFUSED)}


@cache
def rules() -> HygieneRules:
    return load_hygiene()


def parse_rule(raw: str, dtstart: datetime) -> rrule:
    """The visit rule, or a Korean 422 on `rrule`: at most daily, and a visit within two years
    (a bounded search: a rule that never fires would otherwise be walked to the year 9999)."""
    if len(raw) > MAX_RRULE or "\n" in raw or raw.upper().startswith(("DTSTART", "RRULE:")):
        raise InvalidInput(
            {"rrule": ["반복 규칙(RRULE)은 한 줄만 보내세요, 예: FREQ=WEEKLY;BYDAY=TU (one line)"]}
        )
    problem = None
    try:
        start = dtstart.astimezone(SEOUL)
        rule: Any = rrulestr(raw, dtstart=start)
        if not isinstance(rule, rrule) or rule._freq > DAILY:
            problem = "방문은 하루 한 번보다 잦을 수 없습니다 (at most daily)"
        else:
            until = min(rule._until or LAST, start + FIRST_WITHIN)
            if rule.replace(until=until).after(start - timedelta(seconds=1), inc=True) is None:
                problem = "앞으로 2년 안에 방문이 하나도 없습니다 (no visit within two years)"
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        problem = "반복 규칙(RRULE) 형식이 잘못되었습니다 (malformed RRULE)"
    if problem is not None:
        raise InvalidInput({"rrule": [problem]})
    assert isinstance(rule, rrule)  # noqa: S101 - checked above
    return rule


@dataclass(frozen=True, slots=True)
class EnrollmentView:
    id: uuid.UUID
    resident_id: uuid.UUID
    dong: str
    provider: str
    services: list[str]
    rrule: str
    dtstart: datetime
    status: str
    scheduled_until: datetime
    enrolled_at: datetime
    ended_at: datetime | None
    version: int


def _enrollment_view(e: HygieneEnrollment) -> EnrollmentView:
    return EnrollmentView(
        id=e.id,
        resident_id=e.resident_id,
        dong=e.dong_code,
        provider=e.provider,
        services=list(e.services),
        rrule=e.rrule,
        dtstart=e.dtstart,
        status=e.status,
        scheduled_until=e.scheduled_until,
        enrolled_at=e.enrolled_at,
        ended_at=e.ended_at,
        version=e.version,
    )


def enroll(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    provider: str,
    services: Sequence[str],
    rrule: str,
    dtstart: datetime,
    now: datetime,
) -> tuple[EnrollmentView, bool]:
    """Enroll an elder for recurring visits; the first `schedule_days` of visits are made.
    Returns the enrollment and whether it was made: the same enrollment sent again (a
    resubmitted form, a retried call: the resident's active one has this provider, services,
    rule and first visit) answers that one; a different one while one is active is a 409."""
    errors: dict[str, list[str]] = {}
    partner = partner_book().partners.get(provider)
    if partner is None or partner.kind != "hygiene_provider":
        errors["provider"] = ["건강위생 서비스 수행기관이 아닙니다 (not a hygiene provider)"]
    if not now - DTSTART_RANGE <= dtstart <= now + DTSTART_RANGE:
        errors["dtstart"] = ["첫 방문은 1년 전부터 1년 후 사이여야 합니다 (within a year of now)"]
    unknown = [s for s in services if s not in rules().services]
    if unknown or not services:
        known = ", ".join(rules().services)
        errors["services"] = [f"서비스는 {known} 중에서 고르세요 (unknown service)"]
    if errors:
        raise InvalidInput(errors)
    parse_rule(rrule, dtstart)
    resident = residents.load(session, actor, resident_id, for_update=True)
    # The resident's row is locked: a concurrent same request waits here and then finds ours.
    active = session.scalar(
        select(HygieneEnrollment).where(
            HygieneEnrollment.resident_id == resident.id,
            eq_literal(HygieneEnrollment.status, HygieneEnrollmentStatus.ACTIVE.value),
        )
    )
    if active is not None and (
        active.provider,
        sorted(active.services),
        active.rrule,
        active.dtstart,
    ) == (provider, sorted(set(services)), rrule, dtstart):
        access.commit_recorded(session, actor=actor, action="read", resident_ids=[resident.id])
        return _enrollment_view(active), False
    enrollment = HygieneEnrollment(
        id=uuid.uuid4(),
        resident_id=resident.id,
        dong_code=resident.dong_code,
        provider=provider,
        services=sorted(set(services)),
        rrule=rrule,
        dtstart=dtstart,
        status=HygieneEnrollmentStatus.ACTIVE.value,
        scheduled_until=dtstart - timedelta(seconds=1),
        enrolled_at=now,
        created_by=actor.staff_id,
    )
    session.add(enrollment)
    flush_or_conflict(
        session,
        lambda: Conflict(
            "이미 건강위생 서비스에 등록된 주민입니다 (already enrolled)", code="already_enrolled"
        ),
    )
    schedule(session, enrollment, until=now + rules().schedule_ahead)
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[resident.id])
    return _enrollment_view(enrollment), True


def schedule(session: Session, enrollment: HygieneEnrollment, *, until: datetime) -> int:
    """Make the visits of the rule after `scheduled_until` up to `until` (existing ones stay)."""
    if until <= enrollment.scheduled_until:
        return 0
    rule = parse_rule(enrollment.rrule, enrollment.dtstart)
    # After what exists (exclusive) up to `until` (inclusive): made twice, nothing repeats.
    start = enrollment.scheduled_until.astimezone(SEOUL)
    times = [t for t in rule.between(start, until.astimezone(SEOUL), inc=True) if t > start]
    rows = [
        {
            "id": uuid.uuid4(),
            "enrollment_id": enrollment.id,
            "resident_id": enrollment.resident_id,
            "dong_code": enrollment.dong_code,
            "scheduled_at": t,
            "state": VisitState.SCHEDULED.value,
            "health_concern": False,
            "version": 1,
        }
        for t in times
    ]
    if rows:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(HygieneVisit).on_conflict_do_nothing(
                index_elements=["enrollment_id", "scheduled_at"]
            ),
            rows,
        )
    enrollment.scheduled_until = until
    return len(rows)


def extend_schedules(session: Session, as_of: datetime, *, batch: int = 500) -> int:
    """The tick's step: keep every active enrollment's visits `schedule_days` ahead."""
    until = as_of + rules().schedule_ahead
    stmt = (
        select(HygieneEnrollment)
        .where(
            eq_literal(HygieneEnrollment.status, HygieneEnrollmentStatus.ACTIVE.value),
            HygieneEnrollment.scheduled_until < until - timedelta(days=1),
        )
        .order_by(HygieneEnrollment.scheduled_until)
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    made = 0
    for enrollment in session.scalars(stmt).all():
        made += schedule(session, enrollment, until=until)
    return made


def load_enrollment(
    session: Session, actor: Actor, enrollment_id: uuid.UUID, *, for_update: bool = False
) -> HygieneEnrollment:
    return access.load_scoped(
        session,
        HygieneEnrollment,
        enrollment_id,
        actor=actor,
        resident_id_of=lambda e: e.resident_id,
        for_update=for_update,
    )


def get_enrollment(session: Session, *, actor: Actor, enrollment_id: uuid.UUID) -> EnrollmentView:
    enrollment = load_enrollment(session, actor, enrollment_id)
    access.commit_recorded(
        session, actor=actor, action="read", resident_ids=[enrollment.resident_id]
    )
    return _enrollment_view(enrollment)


def list_enrollments(
    session: Session,
    *,
    actor: Actor,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[EnrollmentView]:
    page = _enrollment_page(session, actor, status=status, cursor=cursor, limit=limit)
    access.commit_recorded(
        session, actor=actor, action="search", resident_ids=[e.resident_id for e in page.items]
    )
    return page.map(_enrollment_view)


def list_enrollments_labelled(
    session: Session,
    *,
    actor: Actor,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Labelled[EnrollmentView]]:
    """The same page with each enrollment's resident label (display name, masked phone), as
    the queues show them: one batch, one record."""
    page = _enrollment_page(session, actor, status=status, cursor=cursor, limit=limit)
    return label_page(session, actor, page.map(_enrollment_view), lambda e: e.resident_id)


def _enrollment_page(
    session: Session, actor: Actor, *, status: str | None, cursor: str | None, limit: int
) -> Page[HygieneEnrollment]:
    stmt = select(HygieneEnrollment).where(access.dong_scope(actor, HygieneEnrollment.dong_code))
    if status is not None:
        stmt = stmt.where(HygieneEnrollment.status == status)
    return paginate(session, stmt, ENROLLMENT_ORDER, cursor=cursor, limit=limit)


def end_enrollment(
    session: Session,
    *,
    actor: Actor,
    enrollment_id: uuid.UUID,
    now: datetime,
    expected_version: int | None = None,
) -> EnrollmentView:
    """Stop the visits: the ones not yet due are removed (they never happened)."""
    enrollment = access.load_for_change(
        session,
        HygieneEnrollment,
        enrollment_id,
        actor=actor,
        expected_version=expected_version,
        resident_id_of=lambda e: e.resident_id,
    )
    enrollment.end(at=now)
    session.execute(
        delete(HygieneVisit).where(
            HygieneVisit.enrollment_id == enrollment.id,
            HygieneVisit.state == VisitState.SCHEDULED.value,
            HygieneVisit.scheduled_at > now,
        )
    )
    session.flush()
    access.commit_recorded(
        session, actor=actor, action="update", resident_ids=[enrollment.resident_id]
    )
    return _enrollment_view(enrollment)


@dataclass(frozen=True, slots=True)
class VisitView:
    id: uuid.UUID
    enrollment_id: uuid.UUID
    resident_id: uuid.UUID
    dong: str
    scheduled_at: datetime
    state: str
    met: bool | None
    health_concern: bool
    observation: str | None
    recorded_at: datetime | None
    recorded_by: uuid.UUID | None
    contact_id: uuid.UUID | None
    version: int


def _visit_view(
    session: Session, actor: Actor, visit: HygieneVisit, *, opened: bool = True
) -> VisitView:
    observation = None
    if opened and visit.observation_enc is not None and access.may_read_notes(actor):
        observation = vault.open_value(
            session,
            actor=actor,
            subject_id=visit.resident_id,
            table=TABLE,
            column="observation",
            row_id=visit.id,
            blob=visit.observation_enc,
        )
    return VisitView(
        id=visit.id,
        enrollment_id=visit.enrollment_id,
        resident_id=visit.resident_id,
        dong=visit.dong_code,
        scheduled_at=visit.scheduled_at,
        state=visit.state,
        met=visit.met,
        health_concern=visit.health_concern,
        observation=observation,
        recorded_at=visit.recorded_at,
        recorded_by=visit.recorded_by,
        contact_id=visit.contact_id,
        version=visit.version,
    )


def load_visit(
    session: Session, actor: Actor, visit_id: uuid.UUID, *, for_update: bool = False
) -> HygieneVisit:
    return access.load_scoped(
        session,
        HygieneVisit,
        visit_id,
        actor=actor,
        resident_id_of=lambda v: v.resident_id,
        for_update=for_update,
    )


def get_visit(session: Session, *, actor: Actor, visit_id: uuid.UUID) -> VisitView:
    visit = load_visit(session, actor, visit_id)
    view = _visit_view(session, actor, visit)
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[visit.resident_id])
    return view


def list_visits(
    session: Session,
    *,
    actor: Actor,
    state: str | None = None,
    dong: str | None = None,
    scheduled_from: datetime | None = None,
    scheduled_to: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[VisitView]:
    """Visits of the caller's dongs by time (no observation in a list)."""
    page = _visit_page(
        session,
        actor,
        state=state,
        dong=dong,
        scheduled_from=scheduled_from,
        scheduled_to=scheduled_to,
        cursor=cursor,
        limit=limit,
    )
    views = page.map(lambda v: _visit_view(session, actor, v, opened=False))
    access.commit_recorded(
        session, actor=actor, action="search", resident_ids=[v.resident_id for v in page.items]
    )
    return views


def list_visits_labelled(
    session: Session,
    *,
    actor: Actor,
    state: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Labelled[VisitView]]:
    """The same page with each visit's resident label (display name, masked phone), as the
    queues show them: one batch, one record."""
    page = _visit_page(
        session,
        actor,
        state=state,
        dong=None,
        scheduled_from=None,
        scheduled_to=None,
        cursor=cursor,
        limit=limit,
    )
    views = page.map(lambda v: _visit_view(session, actor, v, opened=False))
    return label_page(session, actor, views, lambda v: v.resident_id)


def _visit_page(
    session: Session,
    actor: Actor,
    *,
    state: str | None,
    dong: str | None,
    scheduled_from: datetime | None,
    scheduled_to: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[HygieneVisit]:
    stmt = select(HygieneVisit).where(access.dong_scope(actor, HygieneVisit.dong_code))
    if state is not None:
        stmt = stmt.where(HygieneVisit.state == state)
    if dong is not None:
        stmt = stmt.where(HygieneVisit.dong_code == dong)
    if scheduled_from is not None:
        stmt = stmt.where(HygieneVisit.scheduled_at >= scheduled_from)
    if scheduled_to is not None:
        stmt = stmt.where(HygieneVisit.scheduled_at < scheduled_to)
    return paginate(session, stmt, VISIT_ORDER, cursor=cursor, limit=limit)


def record_visit(
    session: Session,
    *,
    actor: Actor,
    visit_id: uuid.UUID,
    outcome: str,
    now: datetime,
    met: bool = False,
    health_concern: bool = False,
    observation: str | None = None,
    expected_version: int | None = None,
) -> VisitView:
    """What the provider reports: done, missed or refused. Met is an Ongi contact; a concern
    raises `welfare_concern` (once per visit) in the same transaction."""
    state = RECORDABLE.get(outcome)
    if state is None:
        raise InvalidInput({"outcome": ["done, missed, refused 중 하나 (unknown outcome)"]})
    if health_concern and not (observation or "").strip():
        raise InvalidInput(
            {"observation": ["건강 우려에는 소견이 필요합니다 (a concern needs an observation)"]}
        )
    visit = access.load_for_change(
        session,
        HygieneVisit,
        visit_id,
        actor=actor,
        expected_version=expected_version,
        resident_id_of=lambda v: v.resident_id,
    )
    if visit.scheduled_at > now + CLOCK_SKEW:
        raise InvalidInput(
            {"outcome": ["아직 오지 않은 방문은 기록할 수 없습니다 (this visit is not due yet)"]}
        )
    visit.record(state=state, met=met, concern=health_concern, by=actor.staff_id, at=now)
    if observation and observation.strip():
        visit.observation_enc = vault.seal(
            session,
            visit.resident_id,
            TABLE,
            "observation",
            visit.id,
            plaintext=observation.strip(),
        )
    resident = residents.load(session, actor, visit.resident_id, for_update=True)
    if met:
        contact = ongi.record_contact(
            session,
            resident=resident,
            actor=actor,
            channel="visit",
            outcome="unwell" if health_concern else "reached",
            occurred_at=visit.scheduled_at,
            now=now,
            program=PROGRAM,
            note=None,
            client_ref=None,
            source="staff",
        )
        visit.contact_id = contact.id
    if state is not VisitState.MISSED:
        followups.resolve_live(
            session,
            subject_id=visit.id,
            reason=MISSED,
            outcome=f"visit_{state.value}",
            now=now,
            actor=actor,
        )
    if health_concern:
        risk = session.scalar(
            select(OngiEnrollment.risk_level).where(
                OngiEnrollment.resident_id == visit.resident_id,
                in_literals(OngiEnrollment.status, ("active", "paused")),
            )
        )
        followups.raise_many(
            session,
            [
                Raise(
                    subject_type="hygiene_visit",
                    subject_id=visit.id,
                    resident_id=visit.resident_id,
                    dong_code=visit.dong_code,
                    program=PROGRAM,
                    reason=CONCERN,
                    risk_level=risk,
                    due_at=now,
                    evidence={
                        "hygiene_visit_id": str(visit.id),
                        "scheduled_at": visit.scheduled_at.isoformat(),
                    },
                )
            ],
            as_of=now,
            run_id=None,
            calendar=followups.business_calendar(session),
        )
    session.flush()
    view = _visit_view(session, actor, visit)
    access.commit_recorded(session, actor=actor, action="update", resident_ids=[visit.resident_id])
    return view
