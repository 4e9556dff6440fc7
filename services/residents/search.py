"""Finding residents: the dong list, exact search by RRN, phone or name through blind indexes,
and the audited reveal of a full RRN. Searches record who was found, never what was asked."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services import access, integrity, vault
from services.pagination import KeyKind, Keyset, Page, paginate
from services.residents.records import (
    NAME_INDEX,
    PHONE_INDEX,
    RRN_INDEX,
    TABLE,
    ResidentView,
    load,
    opened_field,
    views,
)
from services.residents.registration import seoul_today
from welfare.crypto.blind_index import NAME_INDEX_BITS, PHONE_INDEX_BITS
from welfare.database import database_now
from welfare.errors import InvalidInput
from welfare.identity import IdentityError, normalize_name, normalize_phone, parse_rrn
from welfare.models import Actor, Resident, ResidentStatus

BY_ID = Keyset.of((Resident.id, KeyKind.UUID))


def list_residents(
    session: Session,
    *,
    actor: Actor,
    dong: str | None,
    cursor: str | None,
    limit: int,
    now: datetime | None = None,
) -> Page[ResidentView]:
    """Residents of the caller's dongs by id; a damaged one is marked, the rest served."""
    now = now or database_now(session)
    stmt = select(Resident).where(
        access.dong_scope(actor, Resident.dong_code),
        Resident.status != ResidentStatus.ERASED.value,
    )
    if dong:
        stmt = stmt.where(Resident.dong_code == dong)
    page = paginate(session, stmt, BY_ID, cursor=cursor, limit=limit)
    result = Page(items=views(session, actor, page.items, now=now), next_cursor=page.next_cursor)
    access.record(session, actor=actor, action="search", resident_ids=[r.id for r in page.items])
    session.commit()
    return result


def search_residents(
    session: Session,
    *,
    actor: Actor,
    rrn: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    now: datetime,
) -> list[ResidentView]:
    """Exact search on the normalized value; records who was found, never what was asked."""
    base = select(Resident).where(
        access.dong_scope(actor, Resident.dong_code), Resident.status != ResidentStatus.ERASED.value
    )
    try:
        if rrn is not None:
            digits = parse_rrn(rrn, today=seoul_today(now)).digits
            rrn_index = vault.indexer(session).full(RRN_INDEX, digits)
            matches = list(session.scalars(base.where(Resident.rrn_index == rrn_index)))
        elif phone is not None:
            matches = _confirmed(session, actor, base, "phone", normalize_phone(phone), now=now)
        elif name is not None:
            matches = _confirmed(session, actor, base, "name", normalize_name(name), now=now)
        else:
            raise InvalidInput({"rrn": ["rrn, phone, name 중 하나가 필요합니다 (one is required)"]})
    except IdentityError as exc:
        field = "rrn" if rrn is not None else "phone" if phone is not None else "name"
        raise InvalidInput({field: [exc.message]}) from None
    items = views(session, actor, matches, now=now)
    access.record(session, actor=actor, action="search", resident_ids=[r.id for r in matches])
    session.commit()
    return items


TRUNCATED_INDEXES = {
    "phone": (PHONE_INDEX, PHONE_INDEX_BITS),
    "name": (NAME_INDEX, NAME_INDEX_BITS),
}


def _confirmed(
    session: Session,
    actor: Actor,
    base: Select[Resident],
    field: str,
    wanted: str,
    *,
    now: datetime,
) -> list[Resident]:
    """Residents whose truncated `field` index matches, confirmed by decrypting the field
    (a truncated index only names candidates: it is sized to collide). A candidate whose field
    no longer reads stays in the answer, to be shown as unreadable: it may be the one sought."""
    index, bits = TRUNCATED_INDEXES[field]
    column = getattr(Resident, f"{field}_index")
    key = vault.indexer(session).truncated(index, wanted, bits)
    candidates = list(session.scalars(base.where(column == key)))
    opened = integrity.open_contained(
        session,
        actor=actor,
        values=[
            vault.Sealed(r.id, TABLE, field, r.id, getattr(r, f"{field}_enc")) for r in candidates
        ],
        now=now,
    )
    return [
        r
        for r, value in zip(candidates, opened, strict=True)
        if value == wanted or value is vault.UNREADABLE
    ]


def reveal_rrn(session: Session, *, actor: Actor, resident_id: uuid.UUID, reason: str) -> str:
    """The full RRN, only with a stated reason, itself an access record (PIPA §24-2)."""
    if not reason.strip():
        raise InvalidInput({"reason": ["사유를 입력하세요 (a reason is required)"]})
    resident = load(session, actor, resident_id)
    digits = opened_field(session, actor, resident, "rrn") or ""
    access.record(
        session, actor=actor, action="reveal", resident_ids=[resident.id], reason=reason.strip()
    )
    session.commit()
    return f"{digits[:6]}-{digits[6:]}"
