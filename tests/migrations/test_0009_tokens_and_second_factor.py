"""Migration 0009: records written before it verify as before, one chain spans the upgrade,
token ids are covered by the hash once set, and tokens issued before it become `legacy`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.audit import link_chains, record_access, record_right_change, verify_chain
from tests.support.audit import act_as_dba, rewrite, staff_actor
from tests.support.databases import fresh_database
from welfare.crypto.chain import canonical_json, head_mac, link_hash
from welfare.crypto.keyring import Keyring
from welfare.database import Database, session_keyring
from welfare.migrate import downgrade, upgrade
from welfare.models import AccessRightChange, ApiToken, AuditChain, AuditEvent, Role
from welfare.models.audit import ChainedRecord

# The hashed fields as revision 0005 left them, written out so no later edit of the models can
# quietly change what "as before" means.
FIELDS_BEFORE_0009: dict[type[ChainedRecord], tuple[str, ...]] = {
    AuditEvent: (
        "id",
        "seq",
        "at",
        "staff_id",
        "actor_role",
        "action",
        "resident_ids",
        "outcome",
        "ip",
        "request_id",
        "reason",
        "category",
    ),
    AccessRightChange: (
        "id",
        "seq",
        "at",
        "actor_staff_id",
        "actor_role",
        "target_staff_id",
        "change",
        "before",
        "after",
        "ip",
        "request_id",
    ),
}
KEY = bytes(range(32))
PREV = "ab" * 32


def test_a_record_without_a_token_hashes_exactly_as_before_0009() -> None:
    """Golden values computed with the code of revision 0005 (before token ids existed)."""
    event = {
        "id": uuid.UUID(int=1),
        "seq": 7,
        "at": datetime(2026, 11, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "staff_id": uuid.UUID(int=2),
        "actor_role": "counselor",
        "action": "read",
        "resident_ids": [str(uuid.UUID(int=4)), str(uuid.UUID(int=3))],
        "outcome": "ok",
        "ip": "10.0.0.1",
        "request_id": "req-12345678",
        "reason": None,
        "category": "access",
    }
    change = {
        "id": uuid.UUID(int=5),
        "seq": 3,
        "at": datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC),
        "actor_staff_id": uuid.UUID(int=6),
        "actor_role": "admin",
        "target_staff_id": uuid.UUID(int=7),
        "change": "role_changed",
        "before": {"role": "counselor"},
        "after": {"role": "supervisor"},
        "ip": None,
        "request_id": "r" * 12,
    }
    for model, values, expected in (
        (AuditEvent, event, "098d817f4fec95ecff3a648d74f9e7f35592179ad8445406099e8430156be984"),
        (
            AccessRightChange,
            change,
            "5a2850f1bc912d5016659c412aafd9d855dbdf8741e514e44f971c32a5b083ff",
        ),
    ):
        for token_id in ("absent", None):
            row = values if token_id == "absent" else {**values, "token_id": token_id}
            assert link_hash(KEY, PREV, canonical_json(model.link_fields(row))) == expected
        with_token = {**values, "token_id": uuid.UUID(int=9)}
        assert link_hash(KEY, PREV, canonical_json(model.link_fields(with_token))) != expected


def append_as_before_0009(session: Session, model: type[ChainedRecord], **values: Any) -> None:
    """Append one record the way the code before 0009 did: its columns, its hashed fields, and
    its head (read and moved with the columns of that time: no genesis columns yet)."""
    key = session_keyring(session).audit_key
    heads = sa.table(
        "audit_chain_heads",
        *(
            sa.column(name)
            for name in ("chain", "last_seq", "last_hash", "anchor_seq", "anchor_prev_hash", "mac")
        ),
    )
    chain = model.CHAIN.value
    head = session.execute(sa.select(heads).where(heads.c.chain == chain)).one()
    now = datetime.now(UTC).replace(microsecond=0)
    seq = head.last_seq + 1
    values.update(id=uuid.uuid4(), seq=seq, at=now, prev_hash=head.last_hash)
    fields = {name: values[name] for name in FIELDS_BEFORE_0009[model]}
    fields["chain"] = chain
    values["hash"] = link_hash(key, head.last_hash, canonical_json(fields))
    columns = model.__table__.c
    table = sa.table(model.__tablename__, *(sa.column(name, columns[name].type) for name in values))
    session.execute(sa.insert(table).values(**values))
    mac = head_mac(
        key,
        {
            "chain": chain,
            "last_seq": seq,
            "last_hash": values["hash"],
            "anchor_seq": head.anchor_seq,
            "anchor_prev_hash": head.anchor_prev_hash,
        },
    )
    session.execute(
        sa.update(heads)
        .where(heads.c.chain == chain)
        .values(last_seq=seq, last_hash=values["hash"], mac=mac)
    )


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    with fresh_database(tmp_path, "m0009") as url:
        database = Database(url, keyring=Keyring.generate(for_development=False))
        try:
            yield database
        finally:
            database.dispose()


def write_before_0009(database: Database) -> uuid.UUID:
    """Two records in each chain and a staff member with a token, at revision 0005."""
    upgrade(database.engine, "0008")
    staff_id = uuid.uuid4()
    with database.new_session() as s:
        now = datetime.now(UTC)
        s.execute(
            sa.text(
                "INSERT INTO staff (id, username, display_name, role, is_active, failed_logins, "
                "totp_enabled, created_at, updated_at, version) VALUES (:id, 'old.gw', '', "
                "'gateway', :yes, 0, :no, :now, :now, 1)"
            ).bindparams(
                sa.bindparam("id", type_=sa.Uuid()),
                sa.bindparam("now", type_=ApiToken.__table__.c.created_at.type),
            ),
            {"id": staff_id, "yes": True, "no": False, "now": now},
        )
        tokens = sa.table(
            "api_tokens",
            *(
                sa.column(name, ApiToken.__table__.c[name].type)
                for name in ("id", "staff_id", "token_hash", "prefix", "label", "created_at")
            ),
        )
        s.execute(
            sa.insert(tokens).values(
                id=uuid.uuid4(),
                staff_id=staff_id,
                token_hash=b"\x01" * 32,
                prefix="abcdefgh",
                label="old",
                created_at=now - timedelta(days=400),
            )
        )
        for n in range(2):
            append_as_before_0009(
                s,
                AuditEvent,
                staff_id=uuid.uuid4(),
                actor_role="counselor",
                action="read",
                resident_ids=[str(uuid.uuid4())],
                outcome="ok",
                ip="10.1.2.3",
                request_id=f"req-before-{n}",
                reason=None,
                category="access",
            )
            append_as_before_0009(
                s,
                AccessRightChange,
                actor_staff_id=uuid.uuid4(),
                actor_role="admin",
                target_staff_id=staff_id,
                change="dongs_changed",
                before={"dongs": []},
                after={"dongs": ["1154551000"]},
                ip=None,
                request_id=f"req-before-{n}",
            )
        s.commit()
    return staff_id


def test_a_chain_spanning_the_migration_verifies_and_covers_token_ids(database: Database) -> None:
    write_before_0009(database)
    upgrade(database.engine, "head")
    token_id = uuid.uuid4()
    actor = replace(staff_actor(), token_id=token_id)
    with database.new_session() as s:
        for chain in AuditChain:
            assert verify_chain(s, chain).ok, chain
        with_token = record_access(s, actor=actor, action="read", resident_ids=[uuid.uuid4()])
        without = record_access(s, actor=staff_actor(), action="read", resident_ids=[uuid.uuid4()])
        record_right_change(
            s,
            actor=replace(staff_actor(Role.ADMIN), token_id=token_id),
            target_staff_id=uuid.uuid4(),
            change="created",
            before={},
            after={"role": "gateway"},
        )
        link_chains(s)  # the audit_link job's step
        # Appended in one transaction (one `at` on PostgreSQL), linked in id order: 3 and 4.
        token_seq, plain_seq = with_token.seq, without.seq
        assert {token_seq, plain_seq} == {3, 4}
        s.commit()
    with database.new_session() as s:
        results = {chain: verify_chain(s, chain) for chain in AuditChain}
        assert all(r.ok for r in results.values()), results
        assert (results[AuditChain.ACCESS].checked, results[AuditChain.ACCESS_RIGHTS].checked) == (
            4,
            3,
        )
        token_of = sa.select(AuditEvent.token_id).where(AuditEvent.seq == token_seq)
        assert s.scalar(token_of) == token_id
    for model, seq, value in (
        (AuditEvent, token_seq, None),  # a token id removed from a record made with a token
        (AuditEvent, 1, token_id),  # a token id pinned on a record written before 0009
        (AuditEvent, plain_seq, token_id),  # ... or after it, without a token
        (AccessRightChange, 3, None),
        (AccessRightChange, 2, token_id),
    ):
        with database.new_session() as s:
            act_as_dba(s)
            rewrite(s, model, seq, token_id=value)
            result = verify_chain(s, model.CHAIN)
            s.rollback()
        assert (result.ok, result.first_bad_seq, result.kind) == (False, seq, "altered"), (
            model.__tablename__,
            seq,
        )


def test_tokens_issued_before_0009_become_legacy_and_expire_after_a_grace_period(
    database: Database,
) -> None:
    staff_id = write_before_0009(database)
    upgrade(database.engine, "head")
    with database.new_session() as s:
        token = s.scalars(sa.select(ApiToken).where(ApiToken.staff_id == staff_id)).one()
    assert (token.issued_by, token.issued_via) == (None, "legacy")
    grace = token.expires_at - datetime.now(UTC)
    assert timedelta(days=89) < grace <= timedelta(days=90)


def test_downgrading_is_refused_while_a_record_names_a_token(database: Database) -> None:
    # At 0010, whose records were still linked at append (0012 refuses to go back past itself
    # while any record is sealed: tests/services/test_audit_linking.py).
    upgrade(database.engine, "0010")
    with database.new_session() as s:
        append_as_before_0009(
            s,
            AuditEvent,
            staff_id=uuid.uuid4(),
            actor_role="counselor",
            action="read",
            resident_ids=[str(uuid.uuid4())],
            outcome="ok",
            ip=None,
            request_id="req-token",
            reason=None,
            category="access",
            token_id=uuid.uuid4(),
        )
        s.commit()
    with pytest.raises(RuntimeError, match="name an API token"):
        downgrade(database.engine, "0008")
    with database.new_session() as s:
        kept = s.scalar(sa.text("SELECT count(*) FROM audit_events WHERE token_id IS NOT NULL"))
        assert kept == 1
