"""A ciphertext moved to another row or column fails closed and is recorded
(docs/security-model.md, "Field encryption")."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import Uuid, bindparam, select, text

from tests.support.staff import GASAN
from welfare.database import Database
from welfare.models import AuditEvent

ALICE = {"name": "한가람", "rrn": "770707-2345679", "dong": GASAN, "phone": "010-3141-5926"}
BOB = {"name": "윤바다", "rrn": "660606-1876540", "dong": GASAN, "phone": "010-2718-2818"}
SECRETS = ["한가람", "윤바다", "7707072345679", "770707", "6606061876540", "660606", "31415926"]


def copy_column(db: Database, *, source: str, source_column: str, target: str, column: str) -> None:
    """Raw SQL, as an attacker (or a bad migration) with database access would do it."""
    statement = text(
        f"UPDATE residents SET {column} = "
        f"(SELECT r.{source_column} FROM residents r WHERE r.id = :source) WHERE id = :target"
    ).bindparams(bindparam("source", type_=Uuid()), bindparam("target", type_=Uuid()))
    with db.new_session() as s:
        s.execute(statement, {"source": uuid.UUID(source), "target": uuid.UUID(target)})
        s.commit()


@pytest.mark.parametrize(
    ("moved", "source_column"),
    [("to another resident", "rrn_enc"), ("to another column of the same row", "phone_enc")],
)
def test_a_moved_rrn_ciphertext_answers_a_generic_500_and_writes_a_security_event(
    moved: str,
    source_column: str,
    login_as: Any,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = login_as("counselor")
    alice = client.post("/api/v1/residents", json=ALICE).get_json()["id"]
    bob = client.post("/api/v1/residents", json=BOB).get_json()["id"]
    source = alice if moved == "to another resident" else bob
    copy_column(db, source=source, source_column=source_column, target=bob, column="rrn_enc")

    response = client.get(f"/api/v1/residents/{bob}")

    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "data_unreadable"
    assert set(body) <= {"type", "title", "status", "code", "request_id"}
    raw = response.get_data(as_text=True)
    assert "Traceback" not in raw and "Error" not in raw
    for secret in SECRETS:
        assert secret not in raw, secret
        assert secret not in caplog.text, secret
    with db.new_session() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "decrypt_failed")))
        reads = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "read")))
    assert [(e.resident_ids, e.category, e.outcome) for e in events] == [
        ([bob], "security", "error")
    ]
    assert events[0].staff_id == client.staff.id
    assert reads == []  # nothing was disclosed, so no read is recorded
    assert client.get(f"/api/v1/residents/{alice}").status_code == 200  # the source still reads


def test_a_field_rolled_back_to_its_own_older_ciphertext_reads_as_the_older_value(
    login_as: Any, db: Database
) -> None:
    """The documented limit (docs/security-model.md "Rollback of a field to an older value"):
    the associated data binds a value to its table, column and row, not to a version, so a
    database writer who puts back an older ciphertext of the same field is not refused. What
    remains is the access chain: the write that was undone is recorded there, with who and when.
    Binding a version would change this test on purpose."""
    client = login_as("counselor")
    alice = client.post("/api/v1/residents", json=ALICE).get_json()["id"]
    with db.new_session() as s:
        old_phone = s.execute(
            text("SELECT phone_enc FROM residents WHERE id = :id").bindparams(
                bindparam("id", type_=Uuid())
            ),
            {"id": uuid.UUID(alice)},
        ).scalar_one()
    current = client.get(f"/api/v1/residents/{alice}")
    changed = client.patch(
        f"/api/v1/residents/{alice}",
        json={"phone": "010-9999-0000"},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert changed.get_json()["phone"] == "010-9999-0000"

    with db.new_session() as s:  # the attacker: raw SQL, no keys
        s.execute(
            text("UPDATE residents SET phone_enc = :old WHERE id = :id").bindparams(
                bindparam("id", type_=Uuid())
            ),
            {"old": old_phone, "id": uuid.UUID(alice)},
        )
        s.commit()

    assert client.get(f"/api/v1/residents/{alice}").get_json()["phone"] == "010-3141-5926"
    with db.new_session() as s:
        updates = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "update", AuditEvent.outcome == "ok")
        ).all()
    assert [e.resident_ids for e in updates] == [[alice]]  # the undone write is on the record
