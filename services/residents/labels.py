"""Residents as work queues show them: a display name and the masked details every role that
works cases may see, decrypted in one batch per page.

A queue page of 50 follow-ups, cases or care requests costs one query for the residents, one for
their data keys, and no access record of its own: the list that asks for the labels records the
page (one record naming every resident on it). A damaged name never fails the page: that row's
label says `unreadable`, and the failure is a security record and a follow-up
(services/integrity.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, integrity, vault
from services.pagination import Page
from services.residents.records import TABLE, load
from welfare.database import database_now
from welfare.identity import format_phone
from welfare.models import Actor, Resident

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ResidentLabel:
    """Who a queue item is about, enough to recognise them and to call: never the RRN."""

    id: uuid.UUID
    name: str | None
    birth_year: int
    sex: str
    dong: str
    status: str
    phone_masked: str | None
    unreadable: bool = False


@dataclass(frozen=True, slots=True)
class Labelled(Generic[T]):
    """A queue item with its resident's label (None when it is about no resident yet)."""

    record: T
    resident: ResidentLabel | None


def mask_phone(e164: str) -> str:
    """`010-****-5678`: the middle group hidden, enough to recognise a number, not to dial it."""
    groups = format_phone(e164).split("-")
    if len(groups) == 3:
        groups[1] = "*" * len(groups[1])
    return "-".join(groups)


def labels(
    session: Session, actor: Actor, resident_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, ResidentLabel]:
    """Labels of the given residents that are in the caller's scope, decrypted in one batch.
    The caller records the access (one record for its page)."""
    wanted = sorted({r for r in resident_ids if r is not None})
    if not wanted:
        return {}
    rows = session.scalars(
        select(Resident).where(
            Resident.id.in_(wanted), access.dong_scope(actor, Resident.dong_code)
        )
    ).all()
    return _labelled(session, actor, rows)


def _labelled(
    session: Session, actor: Actor, rows: Sequence[Resident]
) -> dict[uuid.UUID, ResidentLabel]:
    """Labels of residents already loaded in the caller's scope, decrypted in one batch."""
    sealed = [
        vault.Sealed(r.id, TABLE, column, r.id, getattr(r, f"{column}_enc"))
        for r in rows
        for column in ("name", "phone")
    ]
    opened = integrity.open_contained(
        session, actor=actor, values=sealed, now=database_now(session)
    )
    found = {}
    for i, resident in enumerate(rows):
        name, phone = opened[2 * i], opened[2 * i + 1]
        found[resident.id] = ResidentLabel(
            id=resident.id,
            name=name if isinstance(name, str) else None,
            birth_year=resident.birth_year,
            sex=resident.sex,
            dong=resident.dong_code,
            status=resident.status,
            phone_masked=mask_phone(phone) if isinstance(phone, str) else None,
            unreadable=vault.UNREADABLE in (name, phone),
        )
    return found


def label_of(session: Session, actor: Actor, resident_id: uuid.UUID | None) -> ResidentLabel | None:
    """One resident's label (for a detail page), or None."""
    if resident_id is None:
        return None
    return labels(session, actor, [resident_id]).get(resident_id)


def form_label(
    session: Session, actor: Actor, resident_id: uuid.UUID | None
) -> ResidentLabel | None:
    """The resident a form is opened for (an opaque id from their page), to show whom it is
    about, or None for a form opened without one: in the caller's dongs, else NotFound with the
    denial recorded (410 if erased); the showing is recorded as a read."""
    if resident_id is None:
        return None
    resident = load(session, actor, resident_id)
    label = _labelled(session, actor, [resident])[resident.id]
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[resident.id])
    return label


def label_page(
    session: Session,
    actor: Actor,
    page: Page[T],
    resident_id_of: Callable[[T], uuid.UUID | None],
) -> Page[Labelled[T]]:
    """A list page as the queues show it: each item with its resident's label, decrypted in
    one batch, and the page recorded as one search naming its residents (committed)."""
    found = labels(session, actor, (resident_id_of(item) for item in page.items))

    def labelled(item: T) -> Labelled[T]:
        resident_id = resident_id_of(item)
        return Labelled(item, found.get(resident_id) if resident_id is not None else None)

    result = page.map(labelled)
    access.commit_recorded(
        session,
        actor=actor,
        action="search",
        resident_ids=[resident_id_of(item) for item in page.items],
    )
    return result
