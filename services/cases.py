"""Case use cases: open, move along the program's workflow, notes, closure, referrals, queues.

A case is one resident in one program. Its statuses and the moves between them are data
(config/case_workflows.json); closing is one protocol everywhere: a counselor asks, a supervisor
other than the one who asked approves or sends the case back. Notes, referral reasons and consent
details are sealed with the resident's data key. Every load goes through `services.access`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.casework import RESERVED_STATUSES, Workflow, load_workflows
from services import access, residents, vault
from services.pagination import Page, decode_cursor, encode_cursor
from welfare.errors import Conflict, Forbidden, InvalidInput, PreconditionFailed, RuleViolation
from welfare.models import (
    Actor,
    Case,
    CaseEvent,
    CaseNote,
    CaseNoteKind,
    CasePriority,
    Referral,
    Resident,
    ResidentStatus,
    Role,
    Staff,
)
from welfare.models.case import CLOSED, CLOSURE_REQUESTED

CLOCK_SKEW = timedelta(minutes=2)
NOTES_TABLE = "case_notes"
REFERRALS_TABLE = "referrals"
ASSIGNABLE_ROLES = frozenset({Role.COUNSELOR, Role.SUPERVISOR, Role.OUTREACH})
UNSET: Any = object()


@cache
def workflows() -> dict[str, Workflow]:
    return load_workflows()


def workflow_for(program: str) -> Workflow:
    workflow = workflows().get(program)
    if workflow is None:
        raise InvalidInput({"program": [f"{', '.join(workflows())} 중 하나 (unknown program)"]})
    return workflow


def next_statuses(case: Case) -> list[str]:
    """Where staff may move this case by a plain transition (closure has its own endpoints)."""
    if not case.is_open or case.status == CLOSURE_REQUESTED:
        return []
    return sorted(workflow_for(case.program).next_statuses(case.status))


@dataclass(frozen=True, slots=True)
class NoteView:
    id: uuid.UUID
    case_id: uuid.UUID
    kind: str
    author_id: uuid.UUID | None
    written_at: datetime
    body: str | None


@dataclass(frozen=True, slots=True)
class ReferralView:
    id: uuid.UUID
    resident_id: uuid.UUID
    from_case_id: uuid.UUID
    to_case_id: uuid.UUID
    from_program: str
    to_program: str
    reason: str | None
    consent_given_by: str | None
    consent_given_at: datetime
    consent_scope: str | None
    referred_at: datetime
    referred_by: uuid.UUID | None


# -- opening and reading -----------------------------------------------------------------------
def open_case(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    program: str,
    now: datetime,
    assignee_id: uuid.UUID | None = None,
    priority: str = CasePriority.NORMAL.value,
) -> Case:
    """Open a case in its program's first status; a second open case there is a conflict."""
    workflow = workflow_for(program)
    resident = residents.load(session, actor, resident_id, for_update=True)
    case = _new_case(
        session,
        actor=actor,
        resident=resident,
        workflow=workflow,
        now=now,
        assignee_id=assignee_id,
        priority=priority,
    )
    access.record(session, actor=actor, action="create", resident_ids=[resident.id])
    session.commit()
    return case


def get_case(session: Session, *, actor: Actor, case_id: uuid.UUID) -> Case:
    case = load(session, actor, case_id)
    access.record(session, actor=actor, action="read", resident_ids=[case.resident_id])
    session.commit()
    return case


def load(session: Session, actor: Actor, case_id: uuid.UUID, *, for_update: bool = False) -> Case:
    """A case of the caller's dongs (404 and a denial record otherwise)."""
    return access.load_scoped(
        session,
        Case,
        case_id,
        actor=actor,
        resident_id_of=lambda c: c.resident_id,
        for_update=for_update,
    )


def resident_cases(session: Session, *, actor: Actor, resident_id: uuid.UUID) -> list[Case]:
    """The resident across every program, open cases first, newest first."""
    resident = residents.load(session, actor, resident_id)
    found = list(
        session.scalars(
            select(Case)
            .where(Case.resident_id == resident.id, access.dong_scope(actor, Case.dong_code))
            .order_by(Case.closed_at.is_not(None), Case.opened_at.desc(), Case.id)
        )
    )
    access.record(session, actor=actor, action="read", resident_ids=[resident.id])
    session.commit()
    return found


def list_cases(
    session: Session,
    *,
    actor: Actor,
    program: str | None = None,
    status: str | None = None,
    dong: str | None = None,
    assignee: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Case]:
    """A program's queue: cases of the caller's dongs, oldest first (open ones unless `status`
    asks for closed cases), with a keyset cursor."""
    stmt: Select[Case] = select(Case).where(access.dong_scope(actor, Case.dong_code))
    if status == CLOSED:
        stmt = stmt.where(Case.closed_at.is_not(None))
    else:
        stmt = stmt.where(Case.closed_at.is_(None))
        if status:
            stmt = stmt.where(Case.status == status)
    if program:
        workflow_for(program)
        stmt = stmt.where(Case.program == program)
    if dong:
        stmt = stmt.where(Case.dong_code == dong)
    if assignee:
        stmt = stmt.where(Case.assignee_id == assignee)
    if cursor:
        opened_raw, id_raw = decode_cursor(cursor, 2)
        try:
            opened, last_id = datetime.fromisoformat(opened_raw), uuid.UUID(id_raw)
        except ValueError:
            raise InvalidInput({"cursor": ["잘못된 커서입니다 (invalid cursor)"]}) from None
        stmt = stmt.where(
            or_(Case.opened_at > opened, and_(Case.opened_at == opened, Case.id > last_id))
        )
    rows = list(session.scalars(stmt.order_by(Case.opened_at, Case.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    access.record(session, actor=actor, action="search", resident_ids=[c.resident_id for c in rows])
    session.commit()
    last = rows[-1] if rows else None
    return Page(
        items=rows,
        next_cursor=encode_cursor(last.opened_at.isoformat(), last.id) if more and last else None,
    )


# -- changing ----------------------------------------------------------------------------------
def update_case(
    session: Session,
    *,
    actor: Actor,
    case_id: uuid.UUID,
    expected_version: int,
    now: datetime,
    priority: str | None = None,
    assignee_id: uuid.UUID | None = UNSET,
) -> Case:
    """Change priority or assignee, only against the version the caller saw."""
    case = _load_for_change(session, actor, case_id, expected_version)
    case.ensure_open()
    detail: dict[str, Any] = {}
    if priority is not None and priority != case.priority:
        _check_priority(priority)
        detail["priority"] = {"from": case.priority, "to": priority}
        case.priority = priority
    if assignee_id is not UNSET and assignee_id != case.assignee_id:
        if assignee_id is not None:
            _check_assignee(session, assignee_id, case.dong_code)
        detail["assignee_id"] = {
            "from": str(case.assignee_id) if case.assignee_id else None,
            "to": str(assignee_id) if assignee_id else None,
        }
        case.assignee_id = assignee_id
    if detail:
        case.updated_at = now
        _event(session, case, "updated", at=now, actor=actor, detail=detail)
    return _commit_update(session, actor, case)


def transition(
    session: Session,
    *,
    actor: Actor,
    case_id: uuid.UUID,
    to: str,
    now: datetime,
    expected_version: int | None = None,
) -> Case:
    """Move a case along its program's workflow; closing has its own two-person protocol."""
    case = _load_for_change(session, actor, case_id, expected_version)
    case.ensure_open()
    if to in RESERVED_STATUSES:
        raise RuleViolation(
            "종결은 종결 요청과 팀장 승인으로만 합니다 (use closure-request and closure-decision)",
            code="closure_protocol_required",
        )
    if case.status == CLOSURE_REQUESTED:
        raise RuleViolation(
            "종결 요청이 검토 중입니다 (closure awaiting a decision)", code="closure_pending"
        )
    workflow = workflow_for(case.program)
    if not workflow.may_move(case.status, to):
        raise RuleViolation(
            "이 단계로 옮길 수 없습니다 (transition not allowed)",
            code="transition_not_allowed",
            extra={"allowed": sorted(workflow.next_statuses(case.status))},
        )
    _move(session, case, to, at=now, actor=actor, kind="transition")
    return _commit_update(session, actor, case)


def request_closure(
    session: Session,
    *,
    actor: Actor,
    case_id: uuid.UUID,
    now: datetime,
    note: str | None = None,
    expected_version: int | None = None,
) -> Case:
    """The counselor asks to close; the case waits for a supervisor's decision."""
    case = _load_for_change(session, actor, case_id, expected_version)
    case.ensure_open()
    if case.status == CLOSURE_REQUESTED:
        raise Conflict(
            "이미 종결 요청되었습니다 (closure already requested)", code="closure_already_requested"
        )
    if not workflow_for(case.program).may_request_closure(case.status):
        raise RuleViolation(
            "이 단계에서는 종결을 요청할 수 없습니다 (closure not allowed from this status)",
            code="closure_not_allowed",
        )
    before = case.status
    case.request_closure(by=actor.staff_id, at=now)
    case.updated_at = now
    _event(
        session,
        case,
        "closure_requested",
        at=now,
        actor=actor,
        from_status=before,
        to_status=case.status,
    )
    if note:
        _add_note(session, case, actor=actor, body=note, kind=CaseNoteKind.CLOSURE_REQUEST, at=now)
    return _commit_update(session, actor, case)


def decide_closure(
    session: Session,
    *,
    actor: Actor,
    case_id: uuid.UUID,
    approve: bool,
    now: datetime,
    note: str | None = None,
    expected_version: int | None = None,
) -> Case:
    """A supervisor approves the closure or sends the case back to work; never their own."""
    if actor.role is not Role.SUPERVISOR:
        raise Forbidden("종결 승인은 팀장만 할 수 있습니다 (only supervisors decide closures)")
    case = _load_for_change(session, actor, case_id, expected_version)
    case.ensure_open()
    if case.status != CLOSURE_REQUESTED:
        raise RuleViolation(
            "종결 요청된 사례가 아닙니다 (no closure requested)", code="closure_not_requested"
        )
    if case.closure_requested_by is not None and case.closure_requested_by == actor.staff_id:
        raise RuleViolation(
            "본인이 요청한 종결은 다른 팀장이 결정합니다 (another supervisor must decide)",
            code="own_closure_request",
        )
    before = case.status
    if approve:
        case.close(by=actor.staff_id, at=now)
    else:
        case.send_back(to=workflow_for(case.program).sent_back_to)
    case.updated_at = now
    _event(
        session,
        case,
        "closure_approved" if approve else "closure_sent_back",
        at=now,
        actor=actor,
        from_status=before,
        to_status=case.status,
    )
    if note:
        _add_note(session, case, actor=actor, body=note, kind=CaseNoteKind.CLOSURE_DECISION, at=now)
    return _commit_update(session, actor, case)


# -- notes -------------------------------------------------------------------------------------
def add_note(
    session: Session, *, actor: Actor, case_id: uuid.UUID, body: str, now: datetime
) -> NoteView:
    _require_note_reader(actor)
    if not body.strip():
        raise InvalidInput({"body": ["내용을 입력하세요 (a note needs text)"]})
    case = load(session, actor, case_id, for_update=True)
    case.ensure_open()
    note = _add_note(session, case, actor=actor, body=body, kind=CaseNoteKind.NOTE, at=now)
    session.flush()
    access.record(session, actor=actor, action="create", resident_ids=[case.resident_id])
    session.commit()
    return NoteView(
        id=note.id,
        case_id=case.id,
        kind=note.kind,
        author_id=note.author_id,
        written_at=note.written_at,
        body=body,
    )


def list_notes(session: Session, *, actor: Actor, case_id: uuid.UUID) -> list[NoteView]:
    """The case's notes with author and time, oldest first; counselors and supervisors only."""
    _require_note_reader(actor)
    case = load(session, actor, case_id)
    access.record(session, actor=actor, action="read", resident_ids=[case.resident_id])
    rows = list(
        session.scalars(
            select(CaseNote)
            .where(CaseNote.case_id == case.id)
            .order_by(CaseNote.written_at, CaseNote.id)
        )
    )
    key = vault.data_key(session, case.resident_id) if rows else None
    views = [
        NoteView(
            id=n.id,
            case_id=n.case_id,
            kind=n.kind,
            author_id=n.author_id,
            written_at=n.written_at,
            body=vault.open_value(
                session,
                actor=actor,
                subject_id=n.resident_id,
                table=NOTES_TABLE,
                column="body",
                row_id=n.id,
                blob=n.body_enc,
                key=key,
            ),
        )
        for n in rows
    ]
    session.commit()
    return views


# -- referrals ---------------------------------------------------------------------------------
def refer(
    session: Session,
    *,
    actor: Actor,
    case_id: uuid.UUID,
    program: str,
    reason: str,
    consent: Mapping[str, Any] | None,
    now: datetime,
) -> tuple[Case, ReferralView]:
    """Refer the resident to another program with their recorded consent: the target program
    gets a case in its first (intake) status, in its staff's queue. No consent, no referral."""
    given_by, given_at, scope = _consent(consent, now)
    if not reason.strip():
        raise InvalidInput({"reason": ["의뢰 사유를 입력하세요 (a reason is required)"]})
    source = load(session, actor, case_id, for_update=True)
    source.ensure_open()
    target = workflow_for(program)
    if program == source.program:
        raise InvalidInput({"program": ["같은 사업으로는 의뢰할 수 없습니다 (same program)"]})
    resident = residents.load(session, actor, source.resident_id, for_update=True)
    opened = _new_case(
        session,
        actor=actor,
        resident=resident,
        workflow=target,
        now=now,
        referred_from=source,
    )
    referral_id = uuid.uuid4()
    key = vault.data_key(session, resident.id)

    def sealed(column: str, value: str) -> bytes:
        blob = vault.seal(
            session, resident.id, REFERRALS_TABLE, column, referral_id, plaintext=value, key=key
        )
        assert blob is not None  # noqa: S101 - a str always seals to bytes
        return blob

    referral = Referral(
        id=referral_id,
        resident_id=resident.id,
        dong_code=source.dong_code,
        from_case_id=source.id,
        to_case_id=opened.id,
        from_program=source.program,
        to_program=program,
        reason_enc=sealed("reason", reason.strip()),
        consent_given_by_enc=sealed("consent_given_by", given_by),
        consent_given_at=given_at,
        consent_scope_enc=sealed("consent_scope", scope),
        referred_at=now,
        referred_by=actor.staff_id,
    )
    session.add(referral)
    _event(
        session,
        source,
        "referred_out",
        at=now,
        actor=actor,
        detail={"referral_id": str(referral_id), "to_case_id": str(opened.id), "program": program},
    )
    session.flush()
    access.record(session, actor=actor, action="create", resident_ids=[resident.id])
    session.commit()
    return opened, _referral_view(session, actor, referral, key=key)


def list_referrals(session: Session, *, actor: Actor, case_id: uuid.UUID) -> list[ReferralView]:
    """Referrals out of and into this case, oldest first; consent details for note readers."""
    _require_note_reader(actor)
    case = load(session, actor, case_id)
    access.record(session, actor=actor, action="read", resident_ids=[case.resident_id])
    rows = list(
        session.scalars(
            select(Referral)
            .where(or_(Referral.from_case_id == case.id, Referral.to_case_id == case.id))
            .order_by(Referral.referred_at, Referral.id)
        )
    )
    views = [_referral_view(session, actor, r) for r in rows]
    session.commit()
    return views


# -- internals ---------------------------------------------------------------------------------
def _new_case(
    session: Session,
    *,
    actor: Actor,
    resident: Resident,
    workflow: Workflow,
    now: datetime,
    assignee_id: uuid.UUID | None = None,
    priority: str = CasePriority.NORMAL.value,
    referred_from: Case | None = None,
) -> Case:
    if resident.status != ResidentStatus.ACTIVE:
        raise RuleViolation(
            "활동 중인 주민만 사례를 열 수 있습니다 (resident not active)",
            code="resident_not_active",
        )
    _check_priority(priority)
    existing = session.scalar(
        select(Case.id).where(
            Case.resident_id == resident.id,
            Case.program == workflow.program,
            Case.closed_at.is_(None),
        )
    )
    if existing is not None:
        raise _already_open(existing)
    if assignee_id is not None:
        _check_assignee(session, assignee_id, resident.dong_code)
    case = Case(
        id=uuid.uuid4(),
        resident_id=resident.id,
        dong_code=resident.dong_code,
        program=workflow.program,
        status=workflow.initial,
        priority=priority,
        assignee_id=assignee_id,
        referred_from_case_id=referred_from.id if referred_from else None,
        opened_at=now,
        opened_by=actor.staff_id,
        updated_at=now,
        version=1,
    )
    session.add(case)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        again = session.scalar(
            select(Case.id).where(
                Case.resident_id == resident.id,
                Case.program == workflow.program,
                Case.closed_at.is_(None),
            )
        )
        raise _already_open(again) from None
    _event(
        session,
        case,
        "opened",
        at=now,
        actor=actor,
        to_status=case.status,
        detail={"referred_from_case_id": str(referred_from.id)} if referred_from else None,
    )
    return case


def _already_open(existing: uuid.UUID | None) -> Conflict:
    # The caller already passed the resident's scope check, so the existing id may be shown.
    return Conflict(
        "이 사업에 이미 열린 사례가 있습니다 (an open case already exists in this program)",
        code="case_already_open",
        extra={"existing_id": str(existing)} if existing else None,
    )


def _check_priority(priority: str) -> None:
    if priority not in {p.value for p in CasePriority}:
        raise InvalidInput({"priority": ["low, normal, high, urgent 중 하나 (unknown priority)"]})


def _check_assignee(session: Session, staff_id: uuid.UUID, dong: str) -> None:
    member = session.get(Staff, staff_id)
    if (
        member is None
        or not member.is_active
        or member.role_enum not in ASSIGNABLE_ROLES
        or dong not in member.dongs
    ):
        raise InvalidInput(
            {"assignee_id": ["이 동을 담당하는 직원이 아닙니다 (not staff of this dong)"]}
        )


def _load_for_change(
    session: Session, actor: Actor, case_id: uuid.UUID, expected_version: int | None
) -> Case:
    case = load(session, actor, case_id, for_update=True)
    if expected_version is not None and case.version != expected_version:
        raise PreconditionFailed
    return case


def _commit_update(session: Session, actor: Actor, case: Case) -> Case:
    session.flush()
    access.record(session, actor=actor, action="update", resident_ids=[case.resident_id])
    session.commit()
    return case


def _move(session: Session, case: Case, to: str, *, at: datetime, actor: Actor, kind: str) -> None:
    before = case.status
    case.status = to
    case.updated_at = at
    _event(session, case, kind, at=at, actor=actor, from_status=before, to_status=to)


def _event(
    session: Session,
    case: Case,
    kind: str,
    *,
    at: datetime,
    actor: Actor | None,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    session.add(
        CaseEvent(
            id=uuid.uuid4(),
            case_id=case.id,
            at=at,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            actor_staff_id=actor.staff_id if actor else None,
            detail=dict(detail or {}),
        )
    )


def _add_note(
    session: Session, case: Case, *, actor: Actor, body: str, kind: CaseNoteKind, at: datetime
) -> CaseNote:
    note_id = uuid.uuid4()
    blob = vault.seal(
        session, case.resident_id, NOTES_TABLE, "body", note_id, plaintext=body.strip()
    )
    assert blob is not None  # noqa: S101 - a str always seals to bytes
    note = CaseNote(
        id=note_id,
        case_id=case.id,
        resident_id=case.resident_id,
        kind=kind.value,
        author_id=actor.staff_id,
        written_at=at,
        body_enc=blob,
    )
    session.add(note)
    return note


def _require_note_reader(actor: Actor) -> None:
    if not access.may_read_notes(actor):
        raise Forbidden("상담 기록을 볼 수 있는 역할이 아닙니다 (notes are for counselors)")


def _consent(consent: Mapping[str, Any] | None, now: datetime) -> tuple[str, datetime, str]:
    if not consent:
        raise InvalidInput({"consent": ["동의 없이 의뢰할 수 없습니다 (consent is required)"]})
    errors: dict[str, list[str]] = {}
    given_by = str(consent.get("given_by") or "").strip()
    scope = str(consent.get("scope") or "").strip()
    given_at = consent.get("given_at")
    if not given_by:
        errors["consent.given_by"] = ["동의한 사람을 입력하세요 (who consented)"]
    if not scope:
        errors["consent.scope"] = ["동의 범위를 입력하세요 (the scope of consent)"]
    if not isinstance(given_at, datetime) or given_at.tzinfo is None:
        errors["consent.given_at"] = ["동의 시각이 필요합니다 (when consent was given)"]
    elif given_at > now + CLOCK_SKEW:
        errors["consent.given_at"] = ["미래 시각은 안 됩니다 (in the future)"]
    if errors:
        raise InvalidInput(errors)
    assert isinstance(given_at, datetime)  # noqa: S101 - checked above
    return given_by, given_at, scope


def _referral_view(
    session: Session, actor: Actor, referral: Referral, *, key: bytes | None = None
) -> ReferralView:
    readable = access.may_read_notes(actor)

    def opened(column: str) -> str | None:
        if not readable:
            return None
        return vault.open_value(
            session,
            actor=actor,
            subject_id=referral.resident_id,
            table=REFERRALS_TABLE,
            column=column,
            row_id=referral.id,
            blob=getattr(referral, f"{column}_enc"),
            key=key,
        )

    return ReferralView(
        id=referral.id,
        resident_id=referral.resident_id,
        from_case_id=referral.from_case_id,
        to_case_id=referral.to_case_id,
        from_program=referral.from_program,
        to_program=referral.to_program,
        reason=opened("reason"),
        consent_given_by=opened("consent_given_by"),
        consent_given_at=referral.consent_given_at,
        consent_scope=opened("consent_scope"),
        referred_at=referral.referred_at,
        referred_by=referral.referred_by,
    )
