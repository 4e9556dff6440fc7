"""What every case use case shares: loading a case in scope, its history, sealed notes, and the
programs' workflows (config/case_workflows.json)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from config.casework import Workflow, load_workflows
from services import access, vault
from welfare.errors import Forbidden, InvalidInput
from welfare.models import Actor, Case, CaseEvent, CaseNote, CaseNoteKind

NOTES_TABLE = "case_notes"


@cache
def workflows() -> dict[str, Workflow]:
    return load_workflows()


def workflow_for(program: str) -> Workflow:
    workflow = workflows().get(program)
    if workflow is None:
        raise InvalidInput({"program": [f"{', '.join(workflows())} 중 하나 (unknown program)"]})
    return workflow


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


def load_for_change(
    session: Session, actor: Actor, case_id: uuid.UUID, expected_version: int | None
) -> Case:
    """A case of the caller's dongs, locked, at the version the caller saw (412 otherwise)."""
    return access.load_for_change(
        session,
        Case,
        case_id,
        actor=actor,
        expected_version=expected_version,
        resident_id_of=lambda c: c.resident_id,
    )


def add_event(
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


def seal_note(
    session: Session, case: Case, *, actor: Actor, body: str, kind: CaseNoteKind, at: datetime
) -> CaseNote:
    """A note on `case`, sealed with the resident's data key; the caller adds nothing more."""
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


def require_note_reader(actor: Actor) -> None:
    if not access.may_read_notes(actor):
        raise Forbidden("상담 기록을 볼 수 있는 역할이 아닙니다 (notes are for counselors)")
