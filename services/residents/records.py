"""The registry's shared core: loading a resident in scope, decrypting what the caller may see,
and the table's names for its sealed columns and blind indexes."""

from __future__ import annotations

import uuid
from collections.abc import Set
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from services import access, vault
from services.reference import known_dong_codes
from welfare.errors import Gone
from welfare.identity import format_phone, parse_rrn
from welfare.models import Actor, Resident

TABLE = "residents"
RRN_INDEX = "residents.rrn"
PHONE_INDEX = "residents.phone"
NAME_INDEX = "residents.name"


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
