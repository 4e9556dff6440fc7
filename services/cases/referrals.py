"""Referrals: a resident sent from one program's case to another with recorded consent; the
target program gets a case in its intake status. Reasons and consent details are sealed."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services import access, residents, vault
from services.cases.lifecycle import new_case
from services.cases.records import add_event, load, require_note_reader, workflow_for
from welfare.errors import InvalidInput
from welfare.models import Actor, Case, Referral

CLOCK_SKEW = timedelta(minutes=2)
REFERRALS_TABLE = "referrals"


@dataclass(frozen=True, slots=True)
class ReferralView:
    id: uuid.UUID
    resident_id: uuid.UUID
    from_case_id: uuid.UUID
    to_case_id: uuid.UUID
    from_program: str
    to_program: str
    reason: str | None
    consent_given_by: str | None
    consent_given_at: datetime
    consent_scope: str | None
    referred_at: datetime
    referred_by: uuid.UUID | None


def refer(
    session: Session,
    *,
    actor: Actor,
    case_id: uuid.UUID,
    program: str,
    reason: str,
    consent: Mapping[str, Any] | None,
    now: datetime,
) -> tuple[Case, ReferralView]:
    """Refer the resident to another program with their recorded consent: the target program
    gets a case in its first (intake) status, in its staff's queue. No consent, no referral."""
    given_by, given_at, scope = _consent(consent, now)
    if not reason.strip():
        raise InvalidInput({"reason": ["의뢰 사유를 입력하세요 (a reason is required)"]})
    source = load(session, actor, case_id, for_update=True)
    source.ensure_open()
    target = workflow_for(program)
    if program == source.program:
        raise InvalidInput({"program": ["같은 사업으로는 의뢰할 수 없습니다 (same program)"]})
    resident = residents.load(session, actor, source.resident_id, for_update=True)
    opened = new_case(
        session,
        actor=actor,
        resident=resident,
        workflow=target,
        now=now,
        referred_from=source,
    )
    referral_id = uuid.uuid4()
    key = vault.data_key(session, resident.id)

    def sealed(column: str, value: str) -> bytes:
        blob = vault.seal(
            session, resident.id, REFERRALS_TABLE, column, referral_id, plaintext=value, key=key
        )
        assert blob is not None  # noqa: S101 - a str always seals to bytes
        return blob

    referral = Referral(
        id=referral_id,
        resident_id=resident.id,
        dong_code=source.dong_code,
        from_case_id=source.id,
        to_case_id=opened.id,
        from_program=source.program,
        to_program=program,
        reason_enc=sealed("reason", reason.strip()),
        consent_given_by_enc=sealed("consent_given_by", given_by),
        consent_given_at=given_at,
        consent_scope_enc=sealed("consent_scope", scope),
        referred_at=now,
        referred_by=actor.staff_id,
    )
    session.add(referral)
    add_event(
        session,
        source,
        "referred_out",
        at=now,
        actor=actor,
        detail={"referral_id": str(referral_id), "to_case_id": str(opened.id), "program": program},
    )
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[resident.id])
    return opened, _referral_view(session, actor, referral, key=key)


def list_referrals(session: Session, *, actor: Actor, case_id: uuid.UUID) -> list[ReferralView]:
    """Referrals out of and into this case, oldest first; consent details for note readers."""
    require_note_reader(actor)
    case = load(session, actor, case_id)
    access.record(session, actor=actor, action="read", resident_ids=[case.resident_id])
    rows = list(
        session.scalars(
            select(Referral)
            .where(or_(Referral.from_case_id == case.id, Referral.to_case_id == case.id))
            .order_by(Referral.referred_at, Referral.id)
        )
    )
    views = [_referral_view(session, actor, r) for r in rows]
    session.commit()
    return views


def _consent(consent: Mapping[str, Any] | None, now: datetime) -> tuple[str, datetime, str]:
    if not consent:
        raise InvalidInput({"consent": ["동의 없이 의뢰할 수 없습니다 (consent is required)"]})
    errors: dict[str, list[str]] = {}
    given_by = str(consent.get("given_by") or "").strip()
    scope = str(consent.get("scope") or "").strip()
    given_at = consent.get("given_at")
    if not given_by:
        errors["consent.given_by"] = ["동의한 사람을 입력하세요 (who consented)"]
    if not scope:
        errors["consent.scope"] = ["동의 범위를 입력하세요 (the scope of consent)"]
    if not isinstance(given_at, datetime) or given_at.tzinfo is None:
        errors["consent.given_at"] = ["동의 시각이 필요합니다 (when consent was given)"]
    elif given_at > now + CLOCK_SKEW:
        errors["consent.given_at"] = ["미래 시각은 안 됩니다 (in the future)"]
    if errors:
        raise InvalidInput(errors)
    assert isinstance(given_at, datetime)  # noqa: S101 - checked above
    return given_by, given_at, scope


def _referral_view(
    session: Session, actor: Actor, referral: Referral, *, key: bytes | None = None
) -> ReferralView:
    readable = access.may_read_notes(actor)

    def opened(column: str) -> str | None:
        if not readable:
            return None
        return vault.open_value(
            session,
            actor=actor,
            subject_id=referral.resident_id,
            table=REFERRALS_TABLE,
            column=column,
            row_id=referral.id,
            blob=getattr(referral, f"{column}_enc"),
            key=key,
        )

    return ReferralView(
        id=referral.id,
        resident_id=referral.resident_id,
        from_case_id=referral.from_case_id,
        to_case_id=referral.to_case_id,
        from_program=referral.from_program,
        to_program=referral.to_program,
        reason=opened("reason"),
        consent_given_by=opened("consent_given_by"),
        consent_given_at=referral.consent_given_at,
        consent_scope=opened("consent_scope"),
        referred_at=referral.referred_at,
        referred_by=referral.referred_by,
    )
