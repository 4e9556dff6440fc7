"""Case notes: counseling notes written on a case, sealed with the resident's data key and
read back only by counselors and supervisors (docs/security-model.md, "Field rules by role")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, integrity, vault
from services.cases.records import NOTES_TABLE, load, require_note_reader, seal_note
from welfare.database import database_now
from welfare.errors import InvalidInput
from welfare.models import Actor, CaseNote, CaseNoteKind


@dataclass(frozen=True, slots=True)
class NoteView:
    id: uuid.UUID
    case_id: uuid.UUID
    kind: str
    author_id: uuid.UUID | None
    written_at: datetime
    body: str | None
    unreadable: bool = False


def add_note(
    session: Session, *, actor: Actor, case_id: uuid.UUID, body: str, now: datetime
) -> NoteView:
    require_note_reader(actor)
    if not body.strip():
        raise InvalidInput({"body": ["내용을 입력하세요 (a note needs text)"]})
    case = load(session, actor, case_id, for_update=True)
    case.ensure_open()
    note = seal_note(session, case, actor=actor, body=body, kind=CaseNoteKind.NOTE, at=now)
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[case.resident_id])
    return NoteView(
        id=note.id,
        case_id=case.id,
        kind=note.kind,
        author_id=note.author_id,
        written_at=note.written_at,
        body=body,
    )


def list_notes(
    session: Session, *, actor: Actor, case_id: uuid.UUID, now: datetime | None = None
) -> list[NoteView]:
    """The case's notes with author and time, oldest first; counselors and supervisors only.
    A note that no longer reads is listed as unreadable, the others as written."""
    require_note_reader(actor)
    case = load(session, actor, case_id)
    rows = list(
        session.scalars(
            select(CaseNote)
            .where(CaseNote.case_id == case.id)
            .order_by(CaseNote.written_at, CaseNote.id)
        )
    )
    opened = integrity.open_contained(
        session,
        actor=actor,
        values=[vault.Sealed(n.resident_id, NOTES_TABLE, "body", n.id, n.body_enc) for n in rows],
        now=now or database_now(session),
    )
    views = [
        NoteView(
            id=n.id,
            case_id=n.case_id,
            kind=n.kind,
            author_id=n.author_id,
            written_at=n.written_at,
            body=body if isinstance(body, str) else None,
            unreadable=body is vault.UNREADABLE,
        )
        for n, body in zip(rows, opened, strict=True)
    ]
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[case.resident_id])
    return views
