"""Reading contacts back: one contact, and a resident's contacts newest first.

Writing them is `services.ongi` (staff) and `services.signals` (gateways). A contact's note may
say how the person was (health included), so it opens for counselors and supervisors, and for
the staff member who wrote it; everyone else who works cases sees the contact without it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, integrity, residents, vault
from services.pagination import KeyKind, Keyset, Page, paginate
from welfare.database import database_now
from welfare.models import Actor, Contact

TABLE = "contacts"
NEWEST_FIRST = Keyset.of(
    (Contact.occurred_at, KeyKind.INSTANT), (Contact.id, KeyKind.UUID), descending=True
)


@dataclass(frozen=True, slots=True)
class ContactView:
    id: uuid.UUID
    resident_id: uuid.UUID
    program: str
    channel: str
    outcome: str
    occurred_at: datetime
    recorded_at: datetime
    staff_id: uuid.UUID | None
    source: str
    client_ref: str | None
    note: str | None
    note_unreadable: bool = False


def may_read_note(actor: Actor, contact: Contact) -> bool:
    return access.may_read_notes(actor) or (
        contact.staff_id is not None and contact.staff_id == actor.staff_id
    )


def get_contact(session: Session, *, actor: Actor, contact_id: uuid.UUID) -> ContactView:
    contact = access.load_scoped(
        session, Contact, contact_id, actor=actor, resident_id_of=lambda c: c.resident_id
    )
    (view,) = views(session, actor, [contact])
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[contact.resident_id])
    return view


def resident_contacts(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[ContactView]:
    """A resident's contacts by any channel and program, newest first, a page at a time."""
    if cursor is not None:
        NEWEST_FIRST.decode(cursor)  # a forged cursor is a 422 before any record is read
    resident = residents.load(session, actor, resident_id)
    stmt = select(Contact).where(
        Contact.resident_id == resident.id, access.dong_scope(actor, Contact.dong_code)
    )
    page = paginate(session, stmt, NEWEST_FIRST, cursor=cursor, limit=limit)
    result = Page(items=views(session, actor, page.items), next_cursor=page.next_cursor)
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[resident.id])
    return result


def views(session: Session, actor: Actor, contacts: list[Contact]) -> list[ContactView]:
    """Contacts as the caller may see them, notes decrypted in one batch."""
    readable = [c for c in contacts if c.note_enc is not None and may_read_note(actor, c)]
    opened = integrity.open_contained(
        session,
        actor=actor,
        values=[vault.Sealed(c.resident_id, TABLE, "note", c.id, c.note_enc) for c in readable],
        now=database_now(session),
    )
    notes = dict(zip((c.id for c in readable), opened, strict=True))
    return [
        ContactView(
            id=c.id,
            resident_id=c.resident_id,
            program=c.program,
            channel=c.channel,
            outcome=c.outcome,
            occurred_at=c.occurred_at,
            recorded_at=c.recorded_at,
            staff_id=c.staff_id,
            source=c.source,
            client_ref=c.client_ref,
            note=note if isinstance(note := notes.get(c.id), str) else None,
            note_unreadable=notes.get(c.id) is vault.UNREADABLE,
        )
        for c in contacts
    ]
