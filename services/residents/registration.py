"""Registering residents: validate and normalize identity, refuse a known RRN, seal every personal
field under a new data key. Bulk import (services/resident_import.py) shares these pieces."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, vault
from services.conflicts import flush_or_conflict
from services.residents.records import (
    NAME_INDEX,
    PHONE_INDEX,
    RRN_INDEX,
    TABLE,
    ResidentView,
    check_dong,
    household_index,
    opened_field,
    view,
)
from welfare.calendar import SEOUL
from welfare.crypto.blind_index import NAME_INDEX_BITS, PHONE_INDEX_BITS
from welfare.errors import Conflict, InvalidInput
from welfare.identity import IdentityError, normalize_name, normalize_phone, parse_rrn
from welfare.models import Actor, Resident, ResidentStatus


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
    rrn_reissued: bool = False,
    possible_duplicate_reason: str | None = None,
) -> ResidentView:
    """Register one resident; a known RRN is a conflict (the blind index is unique).

    Typed by a person, so two typos are caught before they create someone twice: an RRN whose
    legacy check digit fails for someone born before October 2020 needs `rrn_reissued`
    (422 `rrn_checksum_unconfirmed`), and someone of the same name and birth date already in
    the caller's dongs needs a stated `possible_duplicate_reason` (409 `possible_duplicate`,
    naming the candidates), which the access record keeps.
    """
    errors: dict[str, list[str]] = {}
    identity = validate_identity(
        name=name, rrn=rrn, phone=phone, today=seoul_today(now), errors=errors
    )
    check_dong(session, actor, dong, errors)
    if identity is not None and identity.rrn.may_be_a_typo and not rrn_reissued:
        errors["rrn"] = [CHECKSUM_UNCONFIRMED]
    if errors:
        raise (
            InvalidInput(errors)
            if "rrn" not in errors or len(errors) > 1 or errors["rrn"] != [CHECKSUM_UNCONFIRMED]
            else ChecksumUnconfirmed(errors)
        )
    assert identity is not None  # noqa: S101 - no errors means every field parsed
    rrn_index = vault.indexer(session).full(RRN_INDEX, identity.rrn.digits)
    _refuse_duplicate(session, actor, rrn_index)
    reason = (possible_duplicate_reason or "").strip() or None
    if reason is None:
        _refuse_possible_duplicate(session, actor, identity)
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
    access.record(
        session,
        actor=actor,
        action="create",
        resident_ids=[resident.id],
        reason=f"possible duplicate confirmed: {reason}" if reason else None,
    )
    session.commit()
    return result


MAX_AGE_YEARS = 125  # the oldest person ever documented lived 122 years
TOO_OLD = "생년월일이 125년보다 더 전입니다 (birth date more than 125 years ago)"
CHECKSUM_UNCONFIRMED = (
    "주민등록번호 검증번호가 맞지 않습니다. 오타인지 확인하고, 2020년 10월 이후 새로 발급된 "
    "번호가 맞다면 rrn_reissued를 true로 보내세요 (the check digit does not match: likely a "
    "typo; if the number was issued after October 2020, send rrn_reissued: true)"
)


class ChecksumUnconfirmed(InvalidInput):
    code = "rrn_checksum_unconfirmed"


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def seoul_today(now: datetime) -> date:
    """The date in Seoul, which an RRN's birth date is compared with (not UTC's)."""
    return now.astimezone(SEOUL).date()


def _refuse_possible_duplicate(session: Session, actor: Actor, identity: Identity) -> None:
    """409 when someone of the same normalized name and birth date is already in the caller's
    dongs. The name index is truncated (it names candidates), so each is confirmed by
    decrypting its name and RRN; ids are shown, since the caller may see those residents."""
    key = vault.indexer(session).truncated(NAME_INDEX, identity.name, NAME_INDEX_BITS)
    candidates = session.scalars(
        select(Resident).where(
            Resident.name_index == key,
            Resident.birth_year == identity.rrn.birth_date.year,
            access.dong_scope(actor, Resident.dong_code),
            Resident.status != ResidentStatus.ERASED.value,
        )
    ).all()
    same = [
        r.id
        for r in candidates
        if opened_field(session, actor, r, "name") == identity.name
        and (digits := opened_field(session, actor, r, "rrn")) is not None
        and digits[:6] == identity.rrn.digits[:6]
        and digits != identity.rrn.digits  # the same number is the unique index's 409
        and r.sex == identity.rrn.sex
    ]
    if same:
        # Recorded like a duplicate RRN: the attempt read those residents' names and birth dates.
        access.record_refusal(
            session, actor=actor, action="create", resident_ids=same, outcome="conflict"
        )
        raise Conflict(
            "같은 이름과 생년월일의 주민이 이미 있습니다. 같은 사람이 아닌지 확인하고, 다른 "
            "사람이면 possible_duplicate_reason에 사유를 적어 다시 보내세요 (someone with the "
            "same name and birth date is registered: check, and if this is another person, "
            "send possible_duplicate_reason)",
            code="possible_duplicate",
            extra={"candidate_ids": [str(i) for i in same]},
        )


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
        if parsed_rrn.birth_date < years_before(today, MAX_AGE_YEARS):
            errors["rrn"] = [TOO_OLD]
            parsed_rrn = None
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
    sealed = vault.sealer(key, TABLE, resident_id)  # the resident's own row, under their key

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
        "household_index": household_index(session, address),
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def _refuse_duplicate(session: Session, actor: Actor, rrn_index: bytes) -> None:
    """409 for a known RRN, recorded first: the attempt processed that resident's identity.

    The answer must stay (deduplication needs it), and it tells the caller that the person is
    registered somewhere, so the attempt is an access record (`create`, outcome `conflict`)
    naming the existing resident, committed before the error rolls the request back. The
    existing resident's dong reviews it; the caller's own supervisor sees the attempt, not whom
    (services/access_records.py), and the caller gets the id only in their own scope.
    """
    existing = session.execute(
        select(Resident.id, Resident.dong_code).where(Resident.rrn_index == rrn_index)
    ).one_or_none()
    if existing is None:
        return
    access.record_refusal(
        session, actor=actor, action="create", resident_ids=[existing.id], outcome="conflict"
    )
    extra: dict[str, Any] = {}
    if access.in_scope(actor, existing.dong_code):
        extra["existing_id"] = str(existing.id)
    raise Conflict(
        "이미 등록된 주민입니다 (resident already registered)", code="resident_exists", extra=extra
    )
