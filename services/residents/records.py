"""The registry's shared core: loading a resident in scope, decrypting what the caller may see,
and the table's names for its sealed columns and blind indexes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from services import access, integrity, vault
from services.reference import known_dong_codes
from welfare.errors import Gone
from welfare.identity import format_phone, parse_rrn
from welfare.identity.address import normalize_address
from welfare.models import Actor, Resident

TABLE = "residents"
RRN_INDEX = "residents.rrn"
PHONE_INDEX = "residents.phone"
NAME_INDEX = "residents.name"
HOUSEHOLD_INDEX = "residents.household"


@dataclass(frozen=True, slots=True)
class ResidentView:
    """A decrypted resident, as the caller may see it (notes only for note readers)."""

    id: uuid.UUID
    name: str | None
    rrn_masked: str | None
    birth_date: date | None
    sex: str
    dong: str
    phone: str | None
    address: str | None
    household_type: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    version: int
    notes: str | None = None
    unreadable: bool = False  # a stored field failed authentication: no data is shown


def check_dong(
    session: Session,
    actor: Actor,
    dong: str,
    errors: dict[str, list[str]],
    *,
    known: Set[str] | None = None,
) -> None:
    """A known dong in the caller's scope; bulk callers pass `known` to read the codes once."""
    if dong not in (known_dong_codes(session) if known is None else known):
        errors["dong"] = ["알 수 없는 행정동 코드입니다 (unknown dong code)"]
    elif not access.in_scope(actor, dong):
        errors["dong"] = ["담당 행정동이 아닙니다 (dong outside your scope)"]


def get_resident(session: Session, *, actor: Actor, resident_id: uuid.UUID) -> ResidentView:
    resident = load(session, actor, resident_id)
    result = view(session, actor, resident)
    access.record(session, actor=actor, action="read", resident_ids=[resident.id])
    session.commit()
    return result


def load(
    session: Session, actor: Actor, resident_id: uuid.UUID, *, for_update: bool = False
) -> Resident:
    """A resident in the caller's scope (404 and a denial record otherwise); 410 if erased."""
    resident = access.load_scoped(
        session,
        Resident,
        resident_id,
        actor=actor,
        resident_id_of=lambda r: r.id,
        for_update=for_update,
    )
    if resident.is_erased:
        raise Gone
    return resident


def opened_field(session: Session, actor: Actor, resident: Resident, field: str) -> str | None:
    return vault.open_value(
        session,
        actor=actor,
        subject_id=resident.id,
        table=TABLE,
        column=field,
        row_id=resident.id,
        blob=getattr(resident, f"{field}_enc"),
    )


SEALED = ("name", "rrn", "phone", "address", "notes")


def views(
    session: Session, actor: Actor, residents: Sequence[Resident], *, now: datetime
) -> list[ResidentView]:
    """Residents as the caller may see them, a page at a time: one key lookup for the page, and
    a damaged one marked unreadable while the rest are served (services/integrity.py)."""
    readers = access.may_read_notes(actor)
    fields = [f for f in SEALED if f != "notes" or readers]
    sealed = [
        vault.Sealed(r.id, TABLE, f, r.id, getattr(r, f"{f}_enc"))
        for r in residents
        for f in fields
    ]
    opened = integrity.open_contained(session, actor=actor, values=sealed, now=now)
    found = []
    for i, resident in enumerate(residents):
        values = dict(zip(fields, opened[i * len(fields) : (i + 1) * len(fields)], strict=True))
        if any(v is vault.UNREADABLE for v in values.values()):
            found.append(_unreadable(resident))
            continue
        plain = {k: v if isinstance(v, str) else None for k, v in values.items()}
        found.append(_view(resident, plain))
    return found


def _unreadable(resident: Resident) -> ResidentView:
    return ResidentView(
        id=resident.id,
        name=None,
        rrn_masked=None,
        birth_date=None,
        sex=resident.sex,
        dong=resident.dong_code,
        phone=None,
        address=None,
        household_type=resident.household_type,
        status=resident.status,
        created_at=resident.created_at,
        updated_at=resident.updated_at,
        version=resident.version,
        unreadable=True,
    )


def _view(resident: Resident, plain: dict[str, str | None]) -> ResidentView:
    digits, phone = plain["rrn"], plain["phone"]
    rrn = parse_rrn(digits, today=date.max) if digits else None
    return ResidentView(
        id=resident.id,
        name=plain["name"],
        rrn_masked=rrn.masked if rrn else None,
        birth_date=rrn.birth_date if rrn else None,
        sex=resident.sex,
        dong=resident.dong_code,
        phone=format_phone(phone) if phone else None,
        address=plain["address"],
        household_type=resident.household_type,
        status=resident.status,
        created_at=resident.created_at,
        updated_at=resident.updated_at,
        version=resident.version,
        notes=plain.get("notes"),
    )


def view(
    session: Session, actor: Actor, resident: Resident, *, key: bytes | None = None
) -> ResidentView:
    """Decrypt what the caller may see. The caller records the access."""
    key = key or vault.data_key(session, resident.id)

    def opened(field: str) -> str | None:
        return vault.open_value(
            session,
            actor=actor,
            subject_id=resident.id,
            table=TABLE,
            column=field,
            row_id=resident.id,
            blob=getattr(resident, f"{field}_enc"),
            key=key,
        )

    digits = opened("rrn")
    phone = opened("phone")
    rrn = parse_rrn(digits, today=date.max) if digits else None
    return ResidentView(
        id=resident.id,
        name=opened("name"),
        rrn_masked=rrn.masked if rrn else None,
        birth_date=rrn.birth_date if rrn else None,
        sex=resident.sex,
        dong=resident.dong_code,
        phone=format_phone(phone) if phone else None,
        address=opened("address"),
        household_type=resident.household_type,
        status=resident.status,
        created_at=resident.created_at,
        updated_at=resident.updated_at,
        version=resident.version,
        notes=opened("notes") if access.may_read_notes(actor) else None,
    )


def household_index(session: Session, address: str | None) -> bytes | None:
    """The household a resident at `address` belongs to: a full keyed blind index of the
    normalized address (welfare/identity/address.py), None without an address."""
    normalized = normalize_address(address) if address else ""
    if not normalized:
        return None
    return vault.indexer(session).full(HOUSEHOLD_INDEX, normalized)
