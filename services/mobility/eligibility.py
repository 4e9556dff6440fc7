"""Ride eligibility: who may use the center, on what basis, until when, with which needs.

Counselors manage it for residents of their dongs. A ride is refused (422 `not_eligible`) when no
eligibility of its resident covers its Seoul date; the tick raises `eligibility_expiring` for the
resident's counselor a configured number of days before one ends (schedulers/rules/mobility.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, residents, vault
from services.mobility.common import seoul_today
from welfare.errors import InvalidInput
from welfare.models import Actor, Eligibility, EligibilityBasis, Resident

TABLE = "mobility_eligibilities"
MAX_PERIOD = timedelta(days=366 * 5)


class NotEligible(InvalidInput):
    code = "not_eligible"


@dataclass(frozen=True, slots=True)
class EligibilityView:
    id: uuid.UUID
    resident_id: uuid.UUID
    dong: str
    basis: str
    valid_from: date
    valid_until: date
    wheelchair: bool
    companion_allowed: bool
    created_at: datetime
    updated_at: datetime
    version: int
    evidence: str | None = None


def view(eligibility: Eligibility, evidence: str | None) -> EligibilityView:
    return EligibilityView(
        id=eligibility.id,
        resident_id=eligibility.resident_id,
        dong=eligibility.dong_code,
        basis=eligibility.basis,
        valid_from=eligibility.valid_from,
        valid_until=eligibility.valid_until,
        wheelchair=eligibility.wheelchair,
        companion_allowed=eligibility.companion_allowed,
        created_at=eligibility.created_at,
        updated_at=eligibility.updated_at,
        version=eligibility.version,
        evidence=evidence,
    )


def grant(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    basis: str,
    valid_from: date,
    valid_until: date,
    now: datetime,
    wheelchair: bool = False,
    companion_allowed: bool = False,
    evidence: str | None = None,
) -> EligibilityView:
    """Record that a resident may ride from `valid_from` to `valid_until` (Seoul dates)."""
    errors: dict[str, list[str]] = {}
    if basis not in {b.value for b in EligibilityBasis}:
        errors["basis"] = ["알 수 없는 자격 근거입니다 (unknown basis)"]
    if valid_until < valid_from:
        errors["valid_until"] = [
            "종료일이 시작일보다 앞설 수 없습니다 (valid_until before valid_from)"
        ]
    elif valid_until - valid_from > MAX_PERIOD:
        errors["valid_until"] = ["자격 기간은 5년 이내여야 합니다 (at most five years)"]
    elif valid_until < seoul_today(now):
        errors["valid_until"] = ["이미 지난 기간입니다 (period already over)"]
    evidence = (evidence or "").strip() or None
    if basis == EligibilityBasis.TEMPORARY and evidence is None:
        errors["evidence"] = [
            "일시적 교통약자는 의사 소견 내용을 기록하세요 (a temporary basis needs the "
            "doctor's note)"
        ]
    if errors:
        raise InvalidInput(errors)
    resident = residents.load(session, actor, resident_id)
    eligibility_id = uuid.uuid4()
    eligibility = Eligibility(
        id=eligibility_id,
        resident_id=resident.id,
        dong_code=resident.dong_code,
        basis=basis,
        valid_from=valid_from,
        valid_until=valid_until,
        wheelchair=wheelchair,
        companion_allowed=companion_allowed,
        evidence_enc=vault.seal(
            session, resident.id, TABLE, "evidence", eligibility_id, plaintext=evidence
        ),
        created_by=actor.staff_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(eligibility)
    session.flush()
    result = view(eligibility, evidence if access.may_read_notes(actor) else None)
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[resident.id])
    return result


def covering(session: Session, resident: Resident, day: date) -> Eligibility | None:
    """The eligibility of `resident` that covers `day`, the one lasting longest if several."""
    return session.scalar(
        select(Eligibility)
        .where(
            Eligibility.resident_id == resident.id,
            Eligibility.valid_from <= day,
            Eligibility.valid_until >= day,
        )
        .order_by(Eligibility.valid_until.desc(), Eligibility.id)
        .limit(1)
    )


def of_resident(session: Session, actor: Actor, resident: Resident) -> list[EligibilityView]:
    rows = list(
        session.scalars(
            select(Eligibility)
            .where(
                Eligibility.resident_id == resident.id,
                access.dong_scope(actor, Eligibility.dong_code),
            )
            .order_by(Eligibility.valid_from.desc(), Eligibility.id)
        )
    )
    if not access.may_read_notes(actor):
        return [view(e, None) for e in rows]
    opened = vault.open_many(
        session,
        actor=actor,
        values=[vault.Sealed(e.resident_id, TABLE, "evidence", e.id, e.evidence_enc) for e in rows],
    )
    return [view(e, o if isinstance(o, str) else None) for e, o in zip(rows, opened, strict=True)]
