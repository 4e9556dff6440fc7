"""Case lifecycle: open, read, list, change, move along the program's workflow, and closure.

A case is one resident in one program. Its statuses and the moves between them are data
(config/case_workflows.json); closing is one protocol everywhere: a counselor asks, a supervisor
other than the one who asked approves or sends the case back. One piece on purpose: opening,
changing and closing share the workflow, the history and the two-person rule, and splitting them
would scatter one state machine over several files.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from config.casework import RESERVED_STATUSES, Workflow
from services import access, followups, residents
from services.cases.records import (
    add_event,
    load,
    load_for_change,
    seal_note,
    workflow_for,
)
from services.conflicts import flush_or_conflict
from services.pagination import KeyKind, Keyset, Page, paginate
from services.residents.labels import Labelled, label_page
from welfare.errors import Conflict, Forbidden, InvalidInput, RuleViolation
from welfare.models import (
    Actor,
    Case,
    CaseNoteKind,
    CasePriority,
    FollowUpReason,
    OngiEnrollment,
    Program,
    Resident,
    ResidentStatus,
    Role,
)
from welfare.models.base import in_literals
from welfare.models.case import CLOSED, CLOSURE_REQUESTED

UNSET: Any = object()
LIVE_ENROLLMENT = ("active", "paused")
QUEUE_ORDER = Keyset.of((Case.opened_at, KeyKind.INSTANT), (Case.id, KeyKind.UUID))


def next_statuses(case: Case) -> list[str]:
    """Where staff may move this case by a plain transition (closure has its own endpoints)."""
    if not case.is_open or case.status == CLOSURE_REQUESTED:
        return []
    return sorted(workflow_for(case.program).next_statuses(case.status))


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
    case = new_case(
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
) -> Page[Labelled[Case]]:
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
    page = paginate(session, stmt, QUEUE_ORDER, cursor=cursor, limit=limit)
    return label_page(session, actor, page, lambda c: c.resident_id)


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
    case = load_for_change(session, actor, case_id, expected_version)
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
        add_event(session, case, "updated", at=now, actor=actor, detail=detail)
    access.commit_recorded(session, actor=actor, action="update", resident_ids=[case.resident_id])
    return case


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
    case = load_for_change(session, actor, case_id, expected_version)
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
    access.commit_recorded(session, actor=actor, action="update", resident_ids=[case.resident_id])
    return case


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
    case = load_for_change(session, actor, case_id, expected_version)
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
    add_event(
        session,
        case,
        "closure_requested",
        at=now,
        actor=actor,
        from_status=before,
        to_status=case.status,
    )
    if note:
        seal_note(session, case, actor=actor, body=note, kind=CaseNoteKind.CLOSURE_REQUEST, at=now)
    access.commit_recorded(session, actor=actor, action="update", resident_ids=[case.resident_id])
    return case


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
    case = load_for_change(session, actor, case_id, expected_version)
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
        if case.program == Program.ONGI:
            _end_ongi_watch(session, case, actor=actor, now=now)
    else:
        case.send_back(to=workflow_for(case.program).sent_back_to)
    case.updated_at = now
    add_event(
        session,
        case,
        "closure_approved" if approve else "closure_sent_back",
        at=now,
        actor=actor,
        from_status=before,
        to_status=case.status,
    )
    if note:
        seal_note(session, case, actor=actor, body=note, kind=CaseNoteKind.CLOSURE_DECISION, at=now)
    access.commit_recorded(session, actor=actor, action="update", resident_ids=[case.resident_id])
    return case


# -- internals ---------------------------------------------------------------------------------
def _end_ongi_watch(session: Session, case: Case, *, actor: Actor, now: datetime) -> None:
    """A closed Ongi case ends the resident's live enrollment, with the reason, and cancels the
    lapse follow-up it raised: nobody is watched by a program whose case is closed."""
    enrollment = session.scalar(
        select(OngiEnrollment)
        .where(
            OngiEnrollment.resident_id == case.resident_id,
            in_literals(OngiEnrollment.status, LIVE_ENROLLMENT),
        )
        .with_for_update()
    )
    if enrollment is None:
        return
    enrollment.end(at=now)
    followups.cancel_live(
        session,
        subject_id=case.resident_id,
        reason=FollowUpReason.CONTACT_LAPSED.value,
        why="case_closed",
        now=now,
        actor=actor,
    )
    add_event(
        session,
        case,
        "enrollment_ended",
        at=now,
        actor=actor,
        detail={"enrollment_id": str(enrollment.id), "why": "case_closed"},
    )


def new_case(
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
    existing = _open_case_id(session, resident.id, workflow.program)
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

    # Two counselors opening the same case at once: the partial unique index lets one win.
    flush_or_conflict(
        session, lambda: _already_open(_open_case_id(session, resident.id, workflow.program))
    )
    add_event(
        session,
        case,
        "opened",
        at=now,
        actor=actor,
        to_status=case.status,
        detail={"referred_from_case_id": str(referred_from.id)} if referred_from else None,
    )
    return case


def _open_case_id(session: Session, resident_id: uuid.UUID, program: str) -> uuid.UUID | None:
    return session.scalar(
        select(Case.id).where(
            Case.resident_id == resident_id, Case.program == program, Case.closed_at.is_(None)
        )
    )


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
    access.assignee(session, staff_id, dong, field="assignee_id")


def _move(session: Session, case: Case, to: str, *, at: datetime, actor: Actor, kind: str) -> None:
    before = case.status
    case.status = to
    case.updated_at = at
    add_event(session, case, kind, at=at, actor=actor, from_status=before, to_status=to)
