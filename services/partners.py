"""External referrals to partner agencies (docs/domain.md, "Partner agencies").

A counselor refers a resident, with recorded consent, to a partner of `config/partners.json`.
What leaves is a referral sheet holding only what the consent scope allows (and the reason),
sealed with the resident's key and recorded as an `export` each time it is shown. Partners have
no accounts: staff record the partner's answer (accepted, declined) and completion. A referral
without an answer after the configured business days raises `partner_unanswered`
(`schedulers/rules/partners.py`); the answer resolves it in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.partners import ConsentScope, Partner, PartnerBook, load_partners
from services import access, followups, history, idempotency, residents, vault
from services.cases import records as case_records
from services.pagination import KeyKind, Keyset, Page, paginate
from services.residents.labels import Labelled, label_page
from welfare.errors import InvalidInput
from welfare.models import Actor, ExternalReferral, FollowUpReason, ReferralState

TABLE = "external_referrals"
SEOUL = ZoneInfo("Asia/Seoul")
CLOCK_SKEW = timedelta(minutes=2)
REASON = FollowUpReason.PARTNER_UNANSWERED.value
LIST_ORDER = Keyset.of(
    (ExternalReferral.sent_at, KeyKind.INSTANT),
    (ExternalReferral.id, KeyKind.UUID),
    descending=True,
)


@cache
def partner_book() -> PartnerBook:
    return load_partners()


@dataclass(frozen=True, slots=True)
class PartnerChoice:
    partner: Partner
    selectable: bool


def list_partners(now: datetime) -> list[PartnerChoice]:
    """Every partner, and whether it may be chosen today (a partner not yet open may not)."""
    today = now.astimezone(SEOUL).date()
    return [PartnerChoice(p, p.open_on(today)) for p in partner_book().partners.values()]


@dataclass(frozen=True, slots=True)
class ExternalReferralView:
    id: uuid.UUID
    resident_id: uuid.UUID
    case_id: uuid.UUID | None
    dong: str
    partner: str
    partner_name: str
    consent_scope: str
    consent_given_by: str | None
    consent_given_at: datetime
    reason: str | None
    sheet: Mapping[str, Any] | None  # what was sent; shown to note readers, recorded as export
    state: str
    sent_at: datetime
    sent_by: uuid.UUID | None
    answer_due_at: datetime
    answered_at: datetime | None
    completed_at: datetime | None
    note: str | None
    version: int
    events: tuple[history.EventView, ...] = ()  # the history, in a single referral's view


def _partner(code: str, now: datetime) -> Partner:
    partner = partner_book().partners.get(code)
    if partner is None:
        known = ", ".join(partner_book().partners)
        raise InvalidInput({"partner": [f"등록된 협력기관이 아닙니다: {known} (unknown partner)"]})
    if not partner.open_on(now.astimezone(SEOUL).date()):
        assert partner.available_from is not None  # noqa: S101 - open_on says so
        opens = partner.available_from.isoformat()
        raise InvalidInput(
            {
                "partner": [
                    f"{partner.name}는 {opens}부터 의뢰할 수 있습니다 "
                    f"(this partner accepts referrals from {opens})"
                ]
            }
        )
    return partner


def _consent(
    consent: Mapping[str, Any] | None, now: datetime
) -> tuple[str, datetime, ConsentScope]:
    if not consent:
        raise InvalidInput({"consent": ["동의 없이 의뢰할 수 없습니다 (consent is required)"]})
    errors: dict[str, list[str]] = {}
    given_by = str(consent.get("given_by") or "").strip()
    given_at = consent.get("given_at")
    scope = partner_book().scopes.get(str(consent.get("scope") or ""))
    if not given_by:
        errors["consent.given_by"] = ["동의한 사람을 입력하세요 (who consented)"]
    if scope is None:
        known = ", ".join(partner_book().scopes)
        errors["consent.scope"] = [f"동의 범위 코드가 아닙니다: {known} (unknown consent scope)"]
    if not isinstance(given_at, datetime) or given_at.tzinfo is None:
        errors["consent.given_at"] = ["동의 시각이 필요합니다 (when consent was given)"]
    elif given_at > now + CLOCK_SKEW:
        errors["consent.given_at"] = ["미래 시각은 안 됩니다 (in the future)"]
    if errors:
        raise InvalidInput(errors)
    assert isinstance(given_at, datetime)  # noqa: S101 - checked above
    assert scope is not None  # noqa: S101 - checked above
    return given_by, given_at, scope


def refer(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    partner: str,
    consent: Mapping[str, Any] | None,
    reason: str,
    now: datetime,
    case_id: uuid.UUID | None = None,
    client_ref: str | None = None,
) -> tuple[ExternalReferralView, bool]:
    """Send a referral sheet to a partner; returns it and whether it was created (a retried
    request with the same client_ref returns the first, unchanged)."""
    chosen = _partner(partner, now)
    given_by, given_at, scope = _consent(consent, now)
    reason = reason.strip()
    if not reason:
        raise InvalidInput({"reason": ["의뢰 사유를 입력하세요 (a reason is required)"]})
    mac = None
    if client_ref:
        mac = idempotency.request_mac(
            session,
            "external_referral",
            {
                "resident_id": resident_id,
                "partner": partner,
                "given_by": given_by,
                "given_at": given_at,
                "scope": scope.code,
                "reason": reason,
                "case_id": case_id,
            },
        )
        existing = _by_ref(session, actor, client_ref)
        if existing is not None:
            return _replayed(session, actor, existing, mac), False
    resident = residents.load(session, actor, resident_id, for_update=True)
    if case_id is not None:
        # Locked: a closure committed meanwhile waits, or is seen.
        case = case_records.load(session, actor, case_id, for_update=True)
        if case.resident_id != resident.id:
            raise InvalidInput(
                {"case_id": ["이 주민의 사례가 아닙니다 (not this resident's case)"]}
            )
        case.ensure_open()  # a closed case takes no new referral, as a case referral
    key = vault.data_key(session, resident.id)
    person = residents.view(session, actor, resident, key=key)
    available: dict[str, Any] = {
        "name": person.name,
        "phone": person.phone,
        "address": person.address,
        "birth_year": resident.birth_year,
        "sex": resident.sex,
    }
    # The minimum the consent allows, and nothing else: the scope's fields and the reason.
    sheet = {field: available[field] for field in scope.fields} | {"reason": reason}
    referral_id = uuid.uuid4()

    def sealed(column: str, value: str) -> bytes:
        blob = vault.seal(
            session, resident.id, TABLE, column, referral_id, plaintext=value, key=key
        )
        assert blob is not None  # noqa: S101 - a str always seals to bytes
        return blob

    calendar = followups.business_calendar(session)
    referral = ExternalReferral(
        id=referral_id,
        resident_id=resident.id,
        dong_code=resident.dong_code,
        case_id=case_id,
        partner_code=chosen.code,
        consent_scope=scope.code,
        consent_given_by_enc=sealed("consent_given_by", given_by),
        consent_given_at=given_at,
        reason_enc=sealed("reason", reason),
        sheet_enc=sealed("sheet", json.dumps(sheet, ensure_ascii=False, sort_keys=True)),
        state=ReferralState.SENT.value,
        sent_at=now,
        sent_by=actor.staff_id,
        answer_due_at=calendar.add_business_days(now, partner_book().answer_business_days),
        client_ref=client_ref,
        request_mac=mac,
    )
    session.add(referral)
    try:
        session.flush()
    except IntegrityError:
        # The same ref sent twice at once: the other request won the unique index.
        session.rollback()
        again = _by_ref(session, actor, client_ref) if client_ref else None
        if again is None or mac is None:
            raise
        return _replayed(session, actor, again, mac), False
    session.add(
        referral.event(
            "sent", by=actor.staff_id, at=now, partner=chosen.code, consent_scope=scope.code
        )
    )
    session.flush()
    view = _view(session, actor, referral, key=key, with_events=True)
    # What left the system is recorded as an export of the resident's data.
    access.commit_recorded(
        session,
        actor=actor,
        action="export",
        resident_ids=[resident.id],
        reason=export_reason(referral),
    )
    return view, True


def _by_ref(session: Session, actor: Actor, client_ref: str) -> ExternalReferral | None:
    return session.scalar(
        select(ExternalReferral).where(
            ExternalReferral.sent_by == actor.staff_id, ExternalReferral.client_ref == client_ref
        )
    )


def _replayed(
    session: Session, actor: Actor, existing: ExternalReferral, mac: bytes
) -> ExternalReferralView:
    if not idempotency.same_request(existing.request_mac, mac):
        raise idempotency.IdempotencyKeyReused
    referral = load(session, actor, existing.id)
    view = _view(session, actor, referral, with_events=True)
    _record_shown(session, actor, referral)
    return view


def export_reason(referral: ExternalReferral) -> str:
    """Why the sheet left (or was shown again): codes and ids only, never personal data."""
    return (
        f"external_referral {referral.id} to {referral.partner_code} "
        f"(consent scope {referral.consent_scope})"
    )


def _record_shown(session: Session, actor: Actor, referral: ExternalReferral) -> None:
    """Showing the sheet again is an export; others see no sheet, so a read."""
    if access.may_read_notes(actor):
        access.commit_recorded(
            session,
            actor=actor,
            action="export",
            resident_ids=[referral.resident_id],
            reason=export_reason(referral),
        )
    else:
        access.commit_recorded(
            session, actor=actor, action="read", resident_ids=[referral.resident_id]
        )


def load(
    session: Session, actor: Actor, referral_id: uuid.UUID, *, for_update: bool = False
) -> ExternalReferral:
    return access.load_scoped(
        session,
        ExternalReferral,
        referral_id,
        actor=actor,
        resident_id_of=lambda r: r.resident_id,
        for_update=for_update,
    )


def get_referral(session: Session, *, actor: Actor, referral_id: uuid.UUID) -> ExternalReferralView:
    referral = load(session, actor, referral_id)
    view = _view(session, actor, referral, with_events=True)
    _record_shown(session, actor, referral)
    return view


def list_referrals(
    session: Session,
    *,
    actor: Actor,
    state: str | None = None,
    partner: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[ExternalReferralView]:
    """Referrals of the caller's dongs, newest first; no sheet or personal detail in a list."""
    page = _referral_page(session, actor, state=state, partner=partner, cursor=cursor, limit=limit)
    views = page.map(lambda r: _view(session, actor, r, opened=False))
    access.commit_recorded(
        session, actor=actor, action="search", resident_ids=[r.resident_id for r in page.items]
    )
    return views


def list_referrals_labelled(
    session: Session,
    *,
    actor: Actor,
    state: str | None = None,
    partner: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Labelled[ExternalReferralView]]:
    """The same page with each referral's resident label (display name, masked phone), as the
    queues show them: one batch, one record."""
    page = _referral_page(session, actor, state=state, partner=partner, cursor=cursor, limit=limit)
    views = page.map(lambda r: _view(session, actor, r, opened=False))
    return label_page(session, actor, views, lambda v: v.resident_id)


def _referral_page(
    session: Session,
    actor: Actor,
    *,
    state: str | None,
    partner: str | None,
    cursor: str | None,
    limit: int,
) -> Page[ExternalReferral]:
    stmt = select(ExternalReferral).where(access.dong_scope(actor, ExternalReferral.dong_code))
    if state is not None:
        stmt = stmt.where(ExternalReferral.state == state)
    if partner is not None:
        stmt = stmt.where(ExternalReferral.partner_code == partner)
    return paginate(session, stmt, LIST_ORDER, cursor=cursor, limit=limit)


def answer(
    session: Session,
    *,
    actor: Actor,
    referral_id: uuid.UUID,
    accepted: bool,
    note: str | None,
    now: datetime,
    expected_version: int | None = None,
) -> ExternalReferralView:
    """Record the partner's answer (by phone, mail or fax); it resolves a live
    `partner_unanswered` follow-up in the same transaction."""
    referral = access.load_for_change(
        session,
        ExternalReferral,
        referral_id,
        actor=actor,
        expected_version=expected_version,
        resident_id_of=lambda r: r.resident_id,
    )
    referral.answer(accepted=accepted, by=actor.staff_id, at=now)
    session.add(referral.event(referral.state, by=actor.staff_id, at=now))
    _note(session, referral, note)
    followups.resolve_live(
        session,
        subject_id=referral.id,
        reason=REASON,
        outcome="partner_answered",
        now=now,
        actor=actor,
        detail={"state": referral.state},
    )
    session.flush()
    view = _view(session, actor, referral, with_events=True)
    access.commit_recorded(
        session, actor=actor, action="update", resident_ids=[referral.resident_id]
    )
    return view


def complete(
    session: Session,
    *,
    actor: Actor,
    referral_id: uuid.UUID,
    note: str | None,
    now: datetime,
    expected_version: int | None = None,
) -> ExternalReferralView:
    referral = access.load_for_change(
        session,
        ExternalReferral,
        referral_id,
        actor=actor,
        expected_version=expected_version,
        resident_id_of=lambda r: r.resident_id,
    )
    referral.complete(at=now)
    session.add(referral.event("completed", by=actor.staff_id, at=now))
    _note(session, referral, note)
    session.flush()
    view = _view(session, actor, referral, with_events=True)
    access.commit_recorded(
        session, actor=actor, action="update", resident_ids=[referral.resident_id]
    )
    return view


def _note(session: Session, referral: ExternalReferral, note: str | None) -> None:
    if note and note.strip():
        referral.note_enc = vault.seal(
            session, referral.resident_id, TABLE, "note", referral.id, plaintext=note.strip()
        )


def _view(
    session: Session,
    actor: Actor,
    referral: ExternalReferral,
    *,
    key: bytes | None = None,
    opened: bool = True,
    with_events: bool = False,
) -> ExternalReferralView:
    readable = opened and access.may_read_notes(actor)

    def value(column: str) -> str | None:
        if not readable:
            return None
        blob = getattr(referral, f"{column}_enc")
        if blob is None:
            return None
        return vault.open_value(
            session,
            actor=actor,
            subject_id=referral.resident_id,
            table=TABLE,
            column=column,
            row_id=referral.id,
            blob=blob,
            key=key,
        )

    sheet = value("sheet")
    partner = partner_book().partners.get(referral.partner_code)
    return ExternalReferralView(
        id=referral.id,
        resident_id=referral.resident_id,
        case_id=referral.case_id,
        dong=referral.dong_code,
        partner=referral.partner_code,
        partner_name=partner.name if partner else referral.partner_code,
        consent_scope=referral.consent_scope,
        consent_given_by=value("consent_given_by"),
        consent_given_at=referral.consent_given_at,
        reason=value("reason"),
        sheet=json.loads(sheet) if sheet else None,
        state=referral.state,
        sent_at=referral.sent_at,
        sent_by=referral.sent_by,
        answer_due_at=referral.answer_due_at,
        answered_at=referral.answered_at,
        completed_at=referral.completed_at,
        note=value("note"),
        version=referral.version,
        events=history.of_referral(session, referral.id) if with_events else (),
    )
