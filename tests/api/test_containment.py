"""One damaged record never takes down a list: the rest is served, the damaged one is marked
unreadable (id and status, no data), one security record names it, and one data_unreadable
follow-up tells the supervisors of its dong; reading it alone still answers a generic problem."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Uuid, bindparam, func, select, text

from tests.support.casework import register
from tests.support.staff import GASAN
from welfare.database import Database
from welfare.models import AuditEvent, FollowUp

NAMES = ["김가람", "이나래", "박다솜"]


def damage(db: Database, *, source: str, target: str, column: str = "name_enc") -> None:
    """Raw SQL, as an attacker (or a bad restore) with database access would: one resident's
    ciphertext copied onto another, where it fails authentication."""
    statement = text(
        f"UPDATE residents SET {column} = (SELECT r.{column} FROM residents r WHERE r.id = :s) "
        "WHERE id = :t"
    ).bindparams(bindparam("s", type_=Uuid()), bindparam("t", type_=Uuid()))
    with db.new_session() as s:
        s.execute(statement, {"s": uuid.UUID(source), "t": uuid.UUID(target)})
        s.commit()


def integrity_followups(db: Database) -> list[FollowUp]:
    with db.new_session() as s:
        return list(s.scalars(select(FollowUp).where(FollowUp.reason == "data_unreadable")))


def decrypt_failures(db: Database) -> int:
    with db.new_session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "decrypt_failed")
            )
            or 0
        )


def test_the_resident_list_serves_the_rest_and_marks_the_damaged_one(
    login_as: Any, db: Database
) -> None:
    counselor = login_as("counselor", (GASAN,))
    ids = [register(counselor, name=n, phone=f"010-3000-100{i}")["id"] for i, n in enumerate(NAMES)]
    damage(db, source=ids[0], target=ids[1])
    response = counselor.get("/api/v1/residents", query_string={"limit": 200})
    assert response.status_code == 200
    by_id = {r["id"]: r for r in response.get_json()["items"]}
    damaged = by_id[ids[1]]
    assert damaged["unreadable"] is True
    assert [damaged[k] for k in ("name", "rrn_masked", "phone", "address")] == [None] * 4
    assert damaged["status"] == "active"
    assert (by_id[ids[0]]["name"], by_id[ids[2]]["name"]) == (NAMES[0], NAMES[2])
    assert NAMES[0] not in str(damaged)
    assert decrypt_failures(db) == 1
    (alarm,) = integrity_followups(db)
    assert (str(alarm.resident_id), alarm.dong_code, alarm.program) == (ids[1], GASAN, "system")

    supervisor = login_as("supervisor", (GASAN,))
    queue = supervisor.get("/api/v1/followups", query_string={"reason": "data_unreadable"})
    assert [i["resident_id"] for i in queue.get_json()["items"]] == [ids[1]]
    counselor.get("/api/v1/residents", query_string={"limit": 200})
    assert len(integrity_followups(db)) == 1  # the same damage raises no second alarm

    alone = counselor.get(f"/api/v1/residents/{ids[1]}")
    assert (alone.status_code, alone.get_json()["code"]) == (500, "data_unreadable")


def test_a_search_that_meets_a_damaged_candidate_still_answers(login_as: Any, db: Database) -> None:
    counselor = login_as("counselor", (GASAN,))
    first = register(counselor, name="최하늘", phone="010-3100-2000")["id"]
    second = register(counselor, name="최하늘", phone="010-3100-2001")["id"]
    damage(db, source=first, target=second, column="phone_enc")
    by_name = counselor.post("/api/v1/residents/search", json={"name": "최하늘"})
    assert by_name.status_code == 200
    found = {r["id"]: r for r in by_name.get_json()["items"]}
    assert found[first]["name"] == "최하늘" and found[second]["unreadable"] is True
    by_phone = counselor.post("/api/v1/residents/search", json={"phone": "010-3100-2000"})
    assert by_phone.status_code == 200
    assert first in [r["id"] for r in by_phone.get_json()["items"]]
    assert [f.resident_id for f in integrity_followups(db)] == [uuid.UUID(second)]


def test_the_care_handover_serves_the_rest_and_marks_the_damaged_request(
    login_as: Any, db: Database
) -> None:
    from tests.support.casework import care_request

    counselor = login_as("counselor", (GASAN,))
    first = care_request(counselor, caller_name="이웃 김씨").get_json()["id"]
    second = care_request(counselor, caller_name="이웃 박씨").get_json()["id"]
    statement = text(
        "UPDATE care_requests SET caller_name_enc = "
        "(SELECT r.caller_name_enc FROM care_requests r WHERE r.id = :s) WHERE id = :t"
    ).bindparams(bindparam("s", type_=Uuid()), bindparam("t", type_=Uuid()))
    with db.new_session() as s:
        s.execute(statement, {"s": uuid.UUID(first), "t": uuid.UUID(second)})
        s.commit()
    response = counselor.get("/api/v1/care-requests/handover")
    assert response.status_code == 200
    items = {i["id"]: i for i in response.get_json()["items"]}
    assert items[first]["caller_name"] == "이웃 김씨" and items[first]["unreadable"] is False
    damaged = items[second]
    assert damaged["unreadable"] is True
    assert (damaged["caller_name"], damaged["caller_phone"], damaged["summary"]) == (None,) * 3
    (alarm,) = integrity_followups(db)
    assert (alarm.subject_type, str(alarm.subject_id), alarm.resident_id) == (
        "care_request",
        second,
        None,
    )


def test_a_damaged_case_note_is_marked_and_the_other_notes_read(
    login_as: Any, db: Database
) -> None:
    from tests.support.casework import open_case

    counselor = login_as("counselor", (GASAN,))
    case = open_case(counselor, register(counselor)["id"], "care_center").get_json()
    url = f"/api/v1/cases/{case['id']}/notes"
    first = counselor.post(url, json={"body": "첫 상담"}).get_json()["id"]
    second = counselor.post(url, json={"body": "두 번째 상담"}).get_json()["id"]
    statement = text(
        "UPDATE case_notes SET body_enc = (SELECT n.body_enc FROM case_notes n WHERE n.id = :s) "
        "WHERE id = :t"
    ).bindparams(bindparam("s", type_=Uuid()), bindparam("t", type_=Uuid()))
    with db.new_session() as s:
        s.execute(statement, {"s": uuid.UUID(first), "t": uuid.UUID(second)})
        s.commit()
    notes = counselor.get(url)
    assert notes.status_code == 200
    by_id = {n["id"]: n for n in notes.get_json()["items"]}
    assert (by_id[first]["body"], by_id[first]["unreadable"]) == ("첫 상담", False)
    assert (by_id[second]["body"], by_id[second]["unreadable"]) == (None, True)
    assert [str(f.resident_id) for f in integrity_followups(db)] == [case["resident_id"]]
