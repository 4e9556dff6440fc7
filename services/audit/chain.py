"""The keyed chains' shared state: each chain's head (MAC'd with the audit key), reading it,
refusing a head that was tampered with, locking the chain and moving the head by compare-and-set.

Moving a head is serialized: PostgreSQL takes a transaction-scoped advisory lock per chain before
reading the head, SQLite already holds the write lock from `BEGIN IMMEDIATE`. Only the linking
job (services/audit/link.py), retention and a chain's start take it; appends never do (they write
sealed, unlinked records). Correctness does not rest on the lock alone: `seq` is unique and the
head moves by compare-and-set, so a linker that somehow raced would fail, never fork the chain.
The HMAC key is the keyring's audit key, which never lives in the database.

A freshly migrated head has no MAC: a migration never holds the key. The first writer that does
(`welfare db upgrade`, the linking job, the checkpoint job) opens the chain with a keyed
genesis naming the chain and the instant it started, and refuses to when records already exist
(a head reset behind them). Verification never accepts an unkeyed head: the unkeyed state is the
one a database writer can reproduce, so it proves nothing (docs/security-model.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, select, text, update
from sqlalchemy.orm import Session

from welfare.crypto.chain import GENESIS_HASH, genesis_hash, head_mac, same_digest
from welfare.database import database_now, session_keyring
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


class ChainProblem(StrEnum):
    """What verification (or a checkpoint comparison) found wrong, first problem first."""

    HEAD_MISSING = "head_missing"
    HEAD_ALTERED = "head_altered"  # the head's MAC or its genesis does not match
    NOT_STARTED = "not_started"  # an unkeyed, freshly migrated head: never started, or reset
    RESET = "reset"  # an unkeyed head, but a checkpoint shows the chain was in use
    RECREATED = "recreated"  # the chain started again after a checkpoint was taken
    BEFORE_ANCHOR = "before_anchor"  # a row older than the oldest link the head vouches for
    MISSING = "missing"  # a seq is absent between the anchor and the newest row present
    ALTERED = "altered"  # a row's fields or hash no longer match its MAC
    BROKEN_LINK = "broken_link"  # a row's prev_hash is not the previous link's hash
    TRUNCATED = "truncated"  # the newest rows are gone: the head names a later seq
    HEAD_MISMATCH = "head_mismatch"  # the newest row is not the one the head names
    BEYOND_HEAD = "beyond_head"  # rows past the head: it was rewound with the rows kept
    ROLLED_BACK = "rolled_back"  # the head is behind an off-site checkpoint (an old head replayed)
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # the checkpointed link was replaced
    REANCHOR_ALTERED = "reanchor_altered"  # a record of a retention drop fails its MAC or the head


@dataclass(frozen=True, slots=True)
class ChainHead:
    """A chain's head as read from `audit_chain_heads`."""

    chain: AuditChain
    last_seq: int
    last_hash: str
    anchor_seq: int
    anchor_prev_hash: str
    mac: str | None
    started_at: datetime | None = None
    genesis_hash: str | None = None

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
        """The state the migration writes: nothing appended, nothing pruned, no MAC, no genesis.

        Anyone who can write to the database can put a head back into this state, so it is
        never taken as authentic: only a writer holding the key may start a chain from it.
        """
        return (
            self.mac is None
            and self.last_seq == 0
            and self.anchor_seq == 1
            and self.last_hash == GENESIS_HASH
            and self.anchor_prev_hash == GENESIS_HASH
            and self.started_at is None
            and self.genesis_hash is None
        )

    def problem(self, key: bytes) -> str | None:
        """Why this head cannot be trusted, in plain words, or None when it can."""
        if self.mac is None:
            return "the chain head has no MAC (it is not a head written with the key)"
        if not same_digest(self.mac, head_mac(key, self.mac_fields())):
            return "the chain head was altered: its MAC does not match (rewound or forged)"
        if self.genesis_hash is None and self.started_at is None:
            # Started before keyed geneses (it links to the unkeyed placeholder), or migrated
            # down and up again, which drops the genesis columns: the start is unknown, and the
            # links and checkpoints still say everything else.
            return None
        if (
            self.genesis_hash is None
            or self.started_at is None
            or not same_digest(
                self.genesis_hash,
                genesis_hash(key, chain=self.chain.value, started_at=self.started_at),
            )
        ):
            return "the chain's genesis was altered: its MAC does not match"
        if self.anchor_seq == 1 and not same_digest(self.anchor_prev_hash, self.genesis_hash):
            return "the chain does not start at its genesis"
        return None

    def is_authentic(self, key: bytes) -> bool:
        return self.problem(key) is None


def read_head(session: Session, chain: AuditChain | str) -> ChainHead | None:
    """The chain's head row, or None when it is missing (which means tampering)."""
    chain = AuditChain(chain)
    t = AuditChainHead.__table__
    row = session.execute(
        select(
            t.c.last_seq,
            t.c.last_hash,
            t.c.anchor_seq,
            t.c.anchor_prev_hash,
            t.c.mac,
            t.c.started_at,
            t.c.genesis_hash,
        ).where(t.c.chain == chain.value)
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
        started_at=row.started_at,
        genesis_hash=row.genesis_hash,
    )


def table_of(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def lock_chain(session: Session, chain: AuditChain) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEYS[chain]})


def authentic_head(session: Session, chain: AuditChain, key: bytes) -> ChainHead:
    """The head, refusing to build on one that was tampered with: extending a rewound head
    would re-MAC it and launder a truncation. An unstarted head is refused too."""
    head = read_head(session, chain)
    if head is None:
        raise AuditChainBroken(f"{chain.label}: the chain head is missing")
    problem = head.problem(key)
    if problem is not None:
        raise AuditChainBroken(f"{chain.label}: {problem}")
    return head


def open_chain(session: Session, chain: AuditChain, key: bytes) -> ChainHead:
    """Lock the chain and return its authentic head, starting the chain first when its head is
    still the one the migration wrote (see `start_chain`). Every writer that holds the key
    opens a chain this way; verification only reads."""
    lock_chain(session, chain)
    head = read_head(session, chain)
    if head is not None and head.is_pristine:
        return start_chain(session, head, key)
    return authentic_head(session, chain, key)


def start_chain(session: Session, head: ChainHead, key: bytes) -> ChainHead:
    """Write the keyed genesis of a chain whose head is still unkeyed; call with the chain locked.

    The genesis names the chain and the instant it starts (database clock) and is MAC'd with the
    audit key; it becomes the `prev_hash` of the first link and the head is MAC'd over it. A
    chain that already holds records is refused: an unkeyed head in front of records means the
    head was reset, and starting it again would bury them.
    """
    chain = head.chain
    if not head.is_pristine:
        raise AuditChainBroken(f"{chain.label}: the chain was already started")
    t = table_of(CHAIN_MODELS[chain])
    stray = session.scalar(select(func.min(t.c.seq)))
    if stray is not None:
        raise AuditChainBroken(
            f"{chain.label}: seq {stray} exists but the chain head is back in its freshly "
            "migrated state: the head was reset; refusing to start the chain over it"
        )
    now = database_now(session)
    genesis = genesis_hash(key, chain=chain.value, started_at=now)
    started = replace(
        head, last_hash=genesis, anchor_prev_hash=genesis, started_at=now, genesis_hash=genesis
    )
    mac = head_mac(key, started.mac_fields())
    heads = table_of(AuditChainHead)
    result = session.execute(
        update(heads)
        .where(heads.c.chain == chain.value, heads.c.mac.is_(None), heads.c.last_seq == 0)
        .values(
            last_hash=genesis,
            anchor_prev_hash=genesis,
            started_at=now,
            genesis_hash=genesis,
            mac=mac,
            updated_at=now,
        )
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise AuditChainBroken(f"{chain.label}: the chain head moved under a writer")
    return replace(started, mac=mac)


def start_chains(session: Session) -> dict[AuditChain, ChainHead]:
    """Open every chain, starting those still unkeyed, as `welfare db upgrade` does."""
    key = session_keyring(session).audit_key
    return {chain: open_chain(session, chain, key) for chain in AuditChain}


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
