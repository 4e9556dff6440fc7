"""The keyed chains' shared state: each chain's head (MAC'd with the audit key), reading it,
refusing a head that was tampered with, locking the chain and moving the head by compare-and-set.

Appends to one chain are serialized: PostgreSQL takes a transaction-scoped advisory lock per chain
before reading the head (writers in several processes and nodes queue there), SQLite already holds
the write lock from `BEGIN IMMEDIATE`. Correctness does not rest on the lock alone: `seq` is unique
and the head moves by compare-and-set, so a writer that somehow raced would fail, never fork the
chain. The HMAC key is the keyring's audit key, which never lives in the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, select, text, update
from sqlalchemy.orm import Session

from welfare.crypto.chain import GENESIS_HASH, head_mac, same_digest
from welfare.models import AccessRightChange, AuditChain, AuditChainHead, AuditEvent
from welfare.models.audit import ChainedRecord
from welfare.models.base import Base

CHAIN_MODELS: Mapping[AuditChain, type[ChainedRecord]] = {
    AuditChain.ACCESS: AuditEvent,
    AuditChain.ACCESS_RIGHTS: AccessRightChange,
}


def _advisory_key(chain: AuditChain) -> int:
    """A stable signed 64-bit key per chain for pg_advisory_xact_lock."""
    digest = hashlib.sha256(f"welfare:audit-chain:{chain.value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


CHAIN_LOCK_KEYS: Mapping[AuditChain, int] = {chain: _advisory_key(chain) for chain in AuditChain}


class AuditChainBroken(RuntimeError):
    """The chain cannot be extended or pruned safely; the message names the chain and the seq,
    never anyone's data."""


@dataclass(frozen=True, slots=True)
class ChainHead:
    """A chain's head as read from `audit_chain_heads`."""

    chain: AuditChain
    last_seq: int
    last_hash: str
    anchor_seq: int
    anchor_prev_hash: str
    mac: str | None

    def mac_fields(self) -> dict[str, Any]:
        return {
            "chain": self.chain.value,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "anchor_seq": self.anchor_seq,
            "anchor_prev_hash": self.anchor_prev_hash,
        }

    @property
    def is_pristine(self) -> bool:
        """The state the migration writes: nothing appended, nothing pruned, no MAC yet."""
        return (
            self.mac is None
            and self.last_seq == 0
            and self.anchor_seq == 1
            and self.last_hash == GENESIS_HASH
            and self.anchor_prev_hash == GENESIS_HASH
        )

    def is_authentic(self, key: bytes) -> bool:
        return self.is_pristine or same_digest(self.mac, head_mac(key, self.mac_fields()))


def read_head(session: Session, chain: AuditChain | str) -> ChainHead | None:
    """The chain's head row, or None when it is missing (which means tampering)."""
    chain = AuditChain(chain)
    t = AuditChainHead.__table__
    row = session.execute(
        select(t.c.last_seq, t.c.last_hash, t.c.anchor_seq, t.c.anchor_prev_hash, t.c.mac).where(
            t.c.chain == chain.value
        )
    ).one_or_none()
    if row is None:
        return None
    return ChainHead(
        chain=chain,
        last_seq=row.last_seq,
        last_hash=row.last_hash,
        anchor_seq=row.anchor_seq,
        anchor_prev_hash=row.anchor_prev_hash,
        mac=row.mac,
    )


def table_of(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def lock_chain(session: Session, chain: AuditChain) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEYS[chain]})


def authentic_head(session: Session, chain: AuditChain, key: bytes) -> ChainHead:
    """The head, refusing to build on one that was tampered with: extending a rewound head
    would re-MAC it and launder a truncation."""
    head = read_head(session, chain)
    if head is None:
        raise AuditChainBroken(f"{chain.label}: the chain head is missing")
    if not head.is_authentic(key):
        raise AuditChainBroken(f"{chain.label}: the chain head was altered (MAC mismatch)")
    return head


def move_head(session: Session, old: ChainHead, new: ChainHead, key: bytes, now: datetime) -> None:
    t = table_of(AuditChainHead)
    result = session.execute(
        update(t)
        .where(
            t.c.chain == old.chain.value,
            t.c.last_seq == old.last_seq,
            t.c.anchor_seq == old.anchor_seq,
        )
        .values(
            last_seq=new.last_seq,
            last_hash=new.last_hash,
            anchor_seq=new.anchor_seq,
            anchor_prev_hash=new.anchor_prev_hash,
            mac=head_mac(key, new.mac_fields()),
            updated_at=now,
        )
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise AuditChainBroken(f"{old.chain.label}: the chain head moved under a writer")
