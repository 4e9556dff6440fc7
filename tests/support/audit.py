"""Access-record test helpers: actors, and the DBA-level attacker who can bypass the guards."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, delete, text, update
from sqlalchemy.orm import Session

from welfare.crypto.chain import GENESIS_HASH
from welfare.models import Actor, AuditChainHead, Role
from welfare.models.audit import ChainedRecord

GUARDED_TABLES = ("audit_events", "access_right_changes", "audit_chain_heads")
SQLITE_GUARDS = (
    "audit_events_no_update",
    "audit_events_retention_only",
    "access_right_changes_no_update",
    "access_right_changes_retention_only",
    "audit_chain_heads_no_delete",
    "audit_chain_heads_forward_only",
)

# A chain head as the migration writes it: what anyone who can write to the database can restore.
PRISTINE_HEAD: dict[str, Any] = {
    "last_seq": 0,
    "last_hash": GENESIS_HASH,
    "anchor_seq": 1,
    "anchor_prev_hash": GENESIS_HASH,
    "mac": None,
    "started_at": None,
    "genesis_hash": None,
}


def staff_actor(role: Role = Role.COUNSELOR, staff_id: uuid.UUID | None = None) -> Actor:
    return Actor(
        staff_id=staff_id or uuid.uuid4(),
        role=role,
        dongs=frozenset({"1154551000"}),
        ip="10.20.30.40",
        request_id=f"req-{uuid.uuid4().hex[:12]}",
    )


def act_as_dba(session: Session) -> None:
    """Switch off the append-only triggers inside the test's (rolled-back) transaction, as a
    database administrator could; only the keyed chain is left to notice what follows."""
    if session.get_bind().dialect.name == "postgresql":
        for table in GUARDED_TABLES:
            session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        for trigger in SQLITE_GUARDS:
            session.execute(text(f"DROP TRIGGER {trigger}"))


def _table(model: type[ChainedRecord] | type[AuditChainHead]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def rewrite(session: Session, model: type[ChainedRecord], seq: int, /, **values: Any) -> None:
    """UPDATE one record behind the application's back."""
    table = _table(model)
    session.execute(update(table).where(table.c.seq == seq).values(**values))


def remove(session: Session, model: type[ChainedRecord], *seqs: int) -> None:
    """DELETE records behind the application's back."""
    table = _table(model)
    session.execute(delete(table).where(table.c.seq.in_(seqs)))


def rewrite_head(session: Session, chain: str, **values: Any) -> None:
    table = _table(AuditChainHead)
    session.execute(update(table).where(table.c.chain == chain).values(**values))
