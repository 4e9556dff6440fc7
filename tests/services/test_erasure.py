"""After erasure nothing about the resident decrypts and searches find nothing
(docs/security-model.md, "Erasure")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from services import audit, ongi, residents, vault
from tests.support.staff import GASAN, make_staff
from welfare.crypto.cipher import DecryptionError, FieldContext, decrypt_field
from welfare.crypto.envelope import WrappedKey, unwrap_data_key
from welfare.database import Database, session_keyring
from welfare.errors import Gone
from welfare.models import Contact, DataKey, Resident

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PERSON = {
    "name": "소멸희",
    "rrn": "480303-2345675",
    "phone": "010-5555-0303",
    "address": "서울특별시 금천구 시흥대로 100",
    "notes": "파기 대상 메모",
}


def test_after_erasure_no_value_about_the_resident_decrypts_under_any_remaining_key(
    app: Flask, db: Database
) -> None:
    counselor = make_staff(app, "counselor", (GASAN,)).actor()
    supervisor = make_staff(app, "supervisor", (GASAN,)).actor()
    with db.new_session() as s:
        created = residents.register_resident(s, actor=counselor, dong=GASAN, now=NOW, **PERSON)
        rid = created.id
        ongi.log_contact(
            s,
            actor=counselor,
            resident_id=rid,
            channel="visit",
            outcome="reached",
            occurred_at=NOW,
            now=NOW,
            note="방문 메모",
        )
        before = s.get_one(Resident, rid)
        sealed = {f: getattr(before, f"{f}_enc") for f in ("name", "rrn", "phone", "address")}
        contact = s.scalars(select(Contact).where(Contact.resident_id == rid)).one()
        note = (contact.id, contact.note_enc)

    with db.new_session() as s:
        residents.erase_resident(
            s, actor=supervisor, resident_id=rid, reason="정보주체 요청", now=NOW
        )

    with db.new_session() as s:
        key_row = s.get_one(DataKey, rid)
        assert key_row.wrapped is None and key_row.master_key_id is None
        assert key_row.destroyed_at is not None
        erased = s.get_one(Resident, rid)
        assert erased.status == "erased"
        assert [erased.name_enc, erased.rrn_enc, erased.phone_enc, erased.address_enc] == [None] * 4
        assert [erased.rrn_index, erased.phone_index, erased.name_index] == [None] * 3
        with pytest.raises(Gone):
            vault.data_key(s, rid)
        # Ciphertexts copied before the erasure (an export, a replica lagging behind) do not
        # open under any data key the database still holds.
        keyring = session_keyring(s)
        remaining = [
            unwrap_data_key(keyring, WrappedKey(k.master_key_id, k.wrapped), str(k.subject_id))
            for k in s.scalars(select(DataKey).where(DataKey.wrapped.is_not(None)))
            if k.master_key_id is not None and k.wrapped is not None
        ]
        copies = [(FieldContext("residents", f, str(rid)), blob) for f, blob in sealed.items()]
        copies.append((FieldContext("contacts", "note", str(note[0])), note[1]))
        for context, blob in copies:
            assert blob is not None
            for key in remaining:
                with pytest.raises(DecryptionError):
                    decrypt_field(key, blob, context)
        for query in ({"rrn": PERSON["rrn"]}, {"phone": PERSON["phone"]}, {"name": PERSON["name"]}):
            assert residents.search_residents(s, actor=supervisor, now=NOW, **query) == []
        assert audit.verify_chain(s, "access").ok


def test_an_erased_resident_reads_and_reveals_as_gone_not_as_an_error(
    app: Flask, db: Database
) -> None:
    counselor = make_staff(app, "counselor", (GASAN,)).actor()
    supervisor = make_staff(app, "supervisor", (GASAN,)).actor()
    with db.new_session() as s:
        rid = residents.register_resident(s, actor=counselor, dong=GASAN, now=NOW, **PERSON).id
        residents.erase_resident(s, actor=supervisor, resident_id=rid, reason="요청", now=NOW)
        with pytest.raises(Gone):
            residents.get_resident(s, actor=supervisor, resident_id=rid)
        with pytest.raises(Gone):
            residents.reveal_rrn(s, actor=supervisor, resident_id=rid, reason="확인")


def test_erasure_closes_open_cases_through_the_case_rules_and_says_why(
    app: Flask, db: Database
) -> None:
    from services import cases
    from welfare.models import Case, CaseEvent

    counselor = make_staff(app, "counselor", (GASAN,)).actor()
    supervisor = make_staff(app, "supervisor", (GASAN,)).actor()
    with db.new_session() as s:
        rid = residents.register_resident(s, actor=counselor, dong=GASAN, now=NOW, **PERSON).id
        case = cases.open_case(s, actor=counselor, resident_id=rid, program="ongi", now=NOW)
        case_id, opened_version = case.id, case.version
    with db.new_session() as s:
        residents.erase_resident(s, actor=supervisor, resident_id=rid, reason="요청", now=NOW)
    with db.new_session() as s:
        closed = s.get_one(Case, case_id)
        assert (closed.status, closed.closed_at, closed.closed_by) == (
            "closed",
            NOW,
            supervisor.staff_id,
        )
        assert closed.version > opened_version  # an If-Match on the old version now fails
        (last,) = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind != "opened")
        ).all()
        assert (last.kind, last.to_status, last.detail, last.actor_staff_id) == (
            "closed_with_resident",
            "closed",
            {"why": "resident_erased"},
            supervisor.staff_id,
        )


def test_erasure_closes_open_care_requests_so_the_handover_list_still_reads(
    app: Flask, db: Database
) -> None:
    from services import care
    from welfare.models import CareRequest, CareRequestEvent

    counselor = make_staff(app, "counselor", (GASAN,)).actor()
    supervisor = make_staff(app, "supervisor", (GASAN,)).actor()
    with db.new_session() as s:
        rid = residents.register_resident(s, actor=counselor, dong=GASAN, now=NOW, **PERSON).id
        linked = care.receive_request(
            s,
            actor=counselor,
            dong=GASAN,
            care_type="elder_care",
            urgency="urgent",
            summary="방문 요청",
            resident_id=rid,
            now=NOW,
        )
        other = care.receive_request(
            s,
            actor=counselor,
            dong=GASAN,
            care_type="meal",
            urgency="normal",
            summary="식사",
            now=NOW,
        )
    with db.new_session() as s:
        residents.erase_resident(s, actor=supervisor, resident_id=rid, reason="요청", now=NOW)
    with db.new_session() as s:
        handover = care.handover_view(s, actor=counselor, now=NOW).items
        assert [r.id for r in handover] == [other.id]
        closed = s.get_one(CareRequest, linked.id)
        assert (closed.state, closed.outcome, closed.outcome_by) == (
            "done",
            "closed",
            supervisor.staff_id,
        )
        kinds = s.scalars(
            select(CareRequestEvent.kind).where(CareRequestEvent.care_request_id == linked.id)
        ).all()
        assert "closed_with_resident" in kinds
