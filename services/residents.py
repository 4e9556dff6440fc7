"""The resident registry's use cases: register, read, update, list, search, reveal, erase."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from services import access, vault
from services.conflicts import flush_or_conflict
from services.pagination import KeyKind, Keyset, Page, paginate
from services.reference import known_dong_codes
from welfare.crypto.blind_index import NAME_INDEX_BITS, PHONE_INDEX_BITS
from welfare.errors import Conflict, Forbidden, Gone, InvalidInput
from welfare.identity import IdentityError, format_phone, normalize_name, normalize_phone, parse_rrn
from welfare.models import (
    Actor,
    Case,
    Contact,
    EnrollmentStatus,
    FollowUp,
    HouseholdType,
    OngiEnrollment,
    Resident,
    ResidentStatus,
    Role,
)
from welfare.models.base import in_literals
from welfare.models.resident import ENCRYPTED_FIELDS

TABLE = "residents"
RRN_INDEX = "residents.rrn"
PHONE_INDEX = "residents.phone"
NAME_INDEX = "residents.name"
BY_ID = Keyset.of((Resident.id, KeyKind.UUID))
SETTABLE_STATUSES = frozenset(
    {ResidentStatus.ACTIVE, ResidentStatus.MOVED_OUT, ResidentStatus.DECEASED}
)


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


@dataclass(frozen=True, slots=True)
class Identity:
    """Validated, normalized identity fields ready to seal and index."""

    name: str
    rrn: Any  # welfare.identity.Rrn
    phone: str | None


def register_resident(
    session: Session,
    *,
    actor: Actor,
    name: str,
    rrn: str,
    dong: str,
    now: datetime,
    phone: str | None = None,
    address: str | None = None,
    household_type: str | None = None,
    notes: str | None = None,
) -> ResidentView:
    """Register one resident; a known RRN is a conflict (the blind index is unique)."""
    errors: dict[str, list[str]] = {}
    identity = validate_identity(name=name, rrn=rrn, phone=phone, today=now.date(), errors=errors)
    check_dong(session, actor, dong, errors)
    if errors:
        raise InvalidInput(errors)
    assert identity is not None  # noqa: S101 - no errors means every field parsed
    rrn_index = vault.indexer(session).full(RRN_INDEX, identity.rrn.digits)
    _refuse_duplicate(session, actor, rrn_index)
    resident = build_resident(
        session,
        identity=identity,
        rrn_index=rrn_index,
        dong=dong,
        address=address,
        household_type=household_type,
        notes=notes,
        now=now,
    )
    session.add(resident)
    # Two registrations of one person at once: the unique RRN index lets one win.
    flush_or_conflict(session, lambda: _refuse_duplicate(session, actor, rrn_index))
    result = view(session, actor, resident)
    access.record(session, actor=actor, action="create", resident_ids=[resident.id])
    session.commit()
    return result


def validate_identity(
    *, name: str, rrn: str, phone: str | None, today: date, errors: dict[str, list[str]]
) -> Identity | None:
    parsed_name = parsed_rrn = parsed_phone = None
    try:
        parsed_name = normalize_name(name)
    except IdentityError as exc:
        errors["name"] = [exc.message]
    try:
        parsed_rrn = parse_rrn(rrn, today=today)
    except IdentityError as exc:
        errors["rrn"] = [exc.message]
    if phone:
        try:
            parsed_phone = normalize_phone(phone)
        except IdentityError as exc:
            errors["phone"] = [exc.message]
    if parsed_name is None or parsed_rrn is None or (phone and parsed_phone is None):
        return None
    return Identity(name=parsed_name, rrn=parsed_rrn, phone=parsed_phone)


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


def build_resident(
    session: Session,
    *,
    identity: Identity,
    rrn_index: bytes,
    dong: str,
    address: str | None,
    household_type: str | None,
    notes: str | None,
    now: datetime,
    key: bytes | None = None,
) -> Resident:
    """A new Resident row with its data key; the caller adds it to the session."""
    resident_id = uuid.uuid4()
    key = key or vault.create_data_key(session, resident_id, now)
    return Resident(
        **resident_row(
            session,
            resident_id=resident_id,
            key=key,
            identity=identity,
            rrn_index=rrn_index,
            dong=dong,
            address=address,
            household_type=household_type,
            notes=notes,
            now=now,
        )
    )


def resident_row(
    session: Session,
    *,
    resident_id: uuid.UUID,
    key: bytes,
    identity: Identity,
    rrn_index: bytes,
    dong: str,
    address: str | None,
    household_type: str | None,
    notes: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The column values of a new resident, every personal field sealed under `key`.

    `build_resident` makes the model from them; bulk registration inserts them as they are.
    """
    indexer = vault.indexer(session)

    def sealed(column: str, value: str | None) -> bytes | None:
        return vault.seal(
            session, resident_id, TABLE, column, resident_id, plaintext=value, key=key
        )

    return {
        "id": resident_id,
        "dong_code": dong,
        "birth_year": identity.rrn.birth_date.year,
        "sex": identity.rrn.sex,
        "is_foreigner": identity.rrn.is_foreigner,
        "household_type": household_type,
        "status": ResidentStatus.ACTIVE.value,
        "name_enc": sealed("name", identity.name),
        "rrn_enc": sealed("rrn", identity.rrn.digits),
        "phone_enc": sealed("phone", identity.phone),
        "address_enc": sealed("address", address),
        "notes_enc": sealed("notes", notes),
        "rrn_index": rrn_index,
        "phone_index": indexer.truncated(PHONE_INDEX, identity.phone, PHONE_INDEX_BITS)
        if identity.phone
        else None,
        "name_index": indexer.truncated(NAME_INDEX, identity.name, NAME_INDEX_BITS),
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def _refuse_duplicate(session: Session, actor: Actor, rrn_index: bytes) -> None:
    existing = session.scalar(select(Resident).where(Resident.rrn_index == rrn_index))
    if existing is None:
        return
    extra: dict[str, Any] = {}
    if access.in_scope(actor, existing.dong_code):
        extra["existing_id"] = str(existing.id)
    raise Conflict(
        "이미 등록된 주민입니다 (resident already registered)", code="resident_exists", extra=extra
    )


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


def update_resident(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    expected_version: int,
    changes: Mapping[str, Any],
    now: datetime,
) -> ResidentView:
    """Change personal fields or move dong, only against the version the caller saw."""
    resident = load(session, actor, resident_id, for_update=True)
    access.check_version(resident, expected_version)
    if "notes" in changes and not access.may_read_notes(actor):
        raise Forbidden("메모를 수정할 권한이 없습니다 (may not edit notes)")
    errors: dict[str, list[str]] = {}
    key = vault.data_key(session, resident.id)
    indexer = vault.indexer(session)

    def sealed(column: str, value: str | None) -> bytes | None:
        return vault.seal(
            session, resident.id, TABLE, column, resident.id, plaintext=value, key=key
        )

    if "name" in changes:
        try:
            name = normalize_name(changes["name"])
            resident.name_enc = sealed("name", name)
            resident.name_index = indexer.truncated(NAME_INDEX, name, NAME_INDEX_BITS)
        except IdentityError as exc:
            errors["name"] = [exc.message]
    if "phone" in changes:
        phone = changes["phone"]
        try:
            normalized = normalize_phone(phone) if phone else None
            resident.phone_enc = sealed("phone", normalized)
            resident.phone_index = (
                indexer.truncated(PHONE_INDEX, normalized, PHONE_INDEX_BITS) if normalized else None
            )
        except IdentityError as exc:
            errors["phone"] = [exc.message]
    if "dong" in changes and changes["dong"] != resident.dong_code:
        check_dong(session, actor, changes["dong"], errors)
        resident.dong_code = changes["dong"]
        if not errors:
            follow_to_dong(session, resident.id, changes["dong"])
    for field in ("address", "notes"):
        if field in changes:
            setattr(resident, f"{field}_enc", sealed(field, changes[field]))
    if "household_type" in changes:
        resident.household_type = changes["household_type"]
    if errors:
        session.rollback()
        raise InvalidInput(errors)
    resident.updated_at = now
    session.flush()
    result = view(session, actor, resident, key=key)
    access.record(session, actor=actor, action="update", resident_ids=[resident.id])
    session.commit()
    return result


def change_status(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    status: str,
    expected_version: int,
    now: datetime,
) -> ResidentView:
    """Record that a resident moved away or died (or is active again)."""
    resident = load(session, actor, resident_id, for_update=True)
    access.check_version(resident, expected_version)
    if ResidentStatus(status) not in SETTABLE_STATUSES:
        raise InvalidInput({"status": ["active, moved_out, deceased 중 하나 (unknown status)"]})
    resident.status = status
    resident.updated_at = now
    if status != ResidentStatus.ACTIVE:
        end_programs(session, resident.id, now)
    session.flush()
    result = view(session, actor, resident)
    access.record(session, actor=actor, action="update", resident_ids=[resident.id])
    session.commit()
    return result


def list_residents(
    session: Session, *, actor: Actor, dong: str | None, cursor: str | None, limit: int
) -> Page[ResidentView]:
    stmt = select(Resident).where(
        access.dong_scope(actor, Resident.dong_code),
        Resident.status != ResidentStatus.ERASED.value,
    )
    if dong:
        stmt = stmt.where(Resident.dong_code == dong)
    page = paginate(session, stmt, BY_ID, cursor=cursor, limit=limit)
    result = page.map(lambda r: view(session, actor, r))
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
            digits = parse_rrn(rrn, today=now.date()).digits
            rrn_index = vault.indexer(session).full(RRN_INDEX, digits)
            matches = list(session.scalars(base.where(Resident.rrn_index == rrn_index)))
        elif phone is not None:
            matches = _confirmed(session, actor, base, "phone", normalize_phone(phone))
        elif name is not None:
            matches = _confirmed(session, actor, base, "name", normalize_name(name))
        else:
            raise InvalidInput({"rrn": ["rrn, phone, name 중 하나가 필요합니다 (one is required)"]})
    except IdentityError as exc:
        field = "rrn" if rrn is not None else "phone" if phone is not None else "name"
        raise InvalidInput({field: [exc.message]}) from None
    items = [view(session, actor, r) for r in matches]
    access.record(session, actor=actor, action="search", resident_ids=[r.id for r in matches])
    session.commit()
    return items


TRUNCATED_INDEXES = {
    "phone": (PHONE_INDEX, PHONE_INDEX_BITS),
    "name": (NAME_INDEX, NAME_INDEX_BITS),
}


def _confirmed(
    session: Session, actor: Actor, base: Select[Resident], field: str, wanted: str
) -> list[Resident]:
    """Residents whose truncated `field` index matches, confirmed by decrypting the field
    (a truncated index only names candidates; SECURITY: it is sized to collide)."""
    index, bits = TRUNCATED_INDEXES[field]
    column = getattr(Resident, f"{field}_index")
    key = vault.indexer(session).truncated(index, wanted, bits)
    return [
        r
        for r in session.scalars(base.where(column == key))
        if _opened(session, actor, r, field) == wanted
    ]


def reveal_rrn(session: Session, *, actor: Actor, resident_id: uuid.UUID, reason: str) -> str:
    """The full RRN, only with a stated reason, itself an access record (PIPA §24-2)."""
    if not reason.strip():
        raise InvalidInput({"reason": ["사유를 입력하세요 (a reason is required)"]})
    resident = load(session, actor, resident_id)
    digits = _opened(session, actor, resident, "rrn") or ""
    access.record(
        session, actor=actor, action="reveal", resident_ids=[resident.id], reason=reason.strip()
    )
    session.commit()
    return f"{digits[:6]}-{digits[6:]}"


def erase_resident(
    session: Session, *, actor: Actor, resident_id: uuid.UUID, reason: str, now: datetime
) -> None:
    """Crypto-shred a resident: destroy the data key, clear blind indexes, keep the id."""
    if actor.role is not Role.SUPERVISOR:
        raise Forbidden("파기는 팀장만 할 수 있습니다 (only supervisors erase)")
    if not reason.strip():
        raise InvalidInput({"reason": ["사유를 입력하세요 (a reason is required)"]})
    resident = load(session, actor, resident_id, for_update=True)
    vault.destroy_data_key(session, resident.id, now)
    for field in ENCRYPTED_FIELDS:
        setattr(resident, f"{field}_enc", None)
    resident.rrn_index = resident.phone_index = resident.name_index = None
    resident.status = ResidentStatus.ERASED.value
    resident.erased_at = resident.updated_at = now
    end_programs(
        session, resident.id, now, close_cases_because="resident_erased", by=actor.staff_id
    )
    access.record(
        session, actor=actor, action="erase", resident_ids=[resident.id], reason=reason.strip()
    )
    session.commit()


def follow_to_dong(session: Session, resident_id: uuid.UUID, dong: str) -> None:
    """A resident who moves within the district takes their records to the new dong's team:
    every scoped row carries the dong it is scoped by."""
    for model in (OngiEnrollment, Contact, Case, FollowUp):
        session.execute(
            update(model)
            .where(model.resident_id == resident_id)
            .values(dong_code=dong)
            .execution_options(synchronize_session=False)
        )


def end_programs(
    session: Session,
    resident_id: uuid.UUID,
    now: datetime,
    *,
    close_cases_because: str | None = None,
    by: uuid.UUID | None = None,
) -> None:
    """A resident who died, moved away or was erased is no longer watched; the next tick
    cancels what was raised, naming why. With `close_cases_because`, open cases close too,
    each with a history entry naming why (Case.end_with_resident)."""
    session.execute(
        update(OngiEnrollment)
        .where(
            OngiEnrollment.resident_id == resident_id,
            in_literals(OngiEnrollment.status, ("active", "paused")),
        )
        .values(
            status=EnrollmentStatus.ENDED.value,
            ended_at=now,
            next_due_at=None,
            version=OngiEnrollment.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if close_cases_because is not None:
        open_cases = session.scalars(
            select(Case)
            .where(Case.resident_id == resident_id, Case.closed_at.is_(None))
            .with_for_update()
        ).all()
        for case in open_cases:
            session.add(case.end_with_resident(why=close_cases_because, by=by, at=now))


def _opened(session: Session, actor: Actor, resident: Resident, field: str) -> str | None:
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


__all__ = ["HouseholdType", "ResidentView"]
