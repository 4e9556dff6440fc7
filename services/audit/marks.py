"""Verified-up-to marks: each chain verified a slice at a time, ahead of retention.

Retention must verify the links it drops before they go (a tampered segment stops the drop, so
retention never erases the evidence). At a city's scale a month of access records is many
millions of links, hours of walking in one run. The `audit_verify_ahead` job walks each chain a
bounded slice per run, from the latest valid mark (or the anchor), and appends a MAC'd mark of
the last link it found whole (`AuditVerifiedMark`); retention then walks only what lies past the
latest valid mark.

A mark is MAC'd with the audit key over its chain, seq, hash, instant and the chain's genesis: a
forged or edited mark, or one from a chain started again, fails its MAC and is skipped (the walk
starts further back, never further on). A mark below the anchor (the links it covered were
dropped) is simply no longer used. What a mark does not cover: a link altered after it was
verified and before retention drops it is dropped unexamined; `welfare audit verify` walks
everything and catches it until then (docs/security-model.md, "Verified-up-to marks").
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.audit.chain import (
    CHAIN_MODELS,
    AuditChainBroken,
    ChainHead,
    ChainProblem,
    authentic_head,
    read_head,
)
from services.audit.verify import walk_chain
from welfare.crypto.chain import canonical_instant, same_digest, verified_mark_mac
from welfare.database import database_now, session_keyring
from welfare.models import AuditChain, AuditVerifiedMark

log = logging.getLogger("welfare.audit")

# Links walked per chain and run: about ten seconds on a small machine, so the job never holds
# up the follow-up tick that shares the scheduler's loop for long. On SQLite the job's
# transaction holds the database's one write lock (its lease) while it walks, so a run walks
# a tenth of that: about a second, still millions of links a day.
VERIFY_AHEAD_LINKS = 100_000
VERIFY_AHEAD_LINKS_SQLITE = 10_000
# Marks looked at, newest first, for the latest one whose MAC holds.
MARKS_CONSIDERED = 10


@dataclass(frozen=True, slots=True)
class Mark:
    """Links up to `seq` were found whole; link `seq` hashes to `hash`."""

    seq: int
    hash: str


def mark_fields(record: AuditVerifiedMark, head: ChainHead) -> dict[str, Any]:
    """What a mark's MAC covers: the mark, and the genesis of the chain it was walked on."""
    return {
        "id": str(record.id),
        "chain": record.chain,
        "seq": record.seq,
        "hash": record.hash,
        "at": canonical_instant(record.at),
        "genesis": head.genesis_hash,
    }


def latest_mark(session: Session, head: ChainHead, key: bytes) -> Mark | None:
    """The newest mark of the chain whose MAC holds and that lies within the kept chain
    (`anchor_seq` .. `last_seq`), or None: the walk then starts at the anchor."""
    rows = session.scalars(
        select(AuditVerifiedMark)
        .where(
            AuditVerifiedMark.chain == head.chain.value,
            AuditVerifiedMark.seq >= head.anchor_seq,
            AuditVerifiedMark.seq <= head.last_seq,
        )
        .order_by(AuditVerifiedMark.seq.desc())
        .limit(MARKS_CONSIDERED)
    ).all()
    for row in rows:
        if same_digest(row.mac, verified_mark_mac(key, mark_fields(row, head))):
            return Mark(seq=row.seq, hash=row.hash)
        log.warning(
            "a verified mark fails its MAC and is skipped",
            extra={"chain": head.chain.value, "mark_seq": row.seq},
        )
    return None


def verify_ahead(session: Session, chain: AuditChain | str, *, limit: int | None = None) -> int:
    """Walk the next `limit` links of a chain past its latest valid mark (without any lock:
    links below the head never change) and append a mark after the last one; returns how many
    were walked. A bad link raises AuditChainBroken and appends nothing, every run, until
    someone looks (`welfare audit verify` names it)."""
    if limit is None:
        sqlite = session.get_bind().dialect.name == "sqlite"
        limit = VERIFY_AHEAD_LINKS_SQLITE if sqlite else VERIFY_AHEAD_LINKS
    chain = AuditChain(chain)
    head = read_head(session, chain)
    if head is None or head.is_pristine:
        return 0  # missing (verify and linking say so) or never started: nothing to walk
    key = session_keyring(session).audit_key
    head = authentic_head(session, chain, key)
    mark = latest_mark(session, head, key)
    first = mark.seq + 1 if mark else head.anchor_seq
    last = min(head.last_seq, first + limit - 1)
    if last < first:
        return 0
    walk = walk_chain(
        session,
        CHAIN_MODELS[chain],
        key,
        first_seq=first,
        first_prev=mark.hash if mark else head.anchor_prev_hash,
        last_seq=last,
    )
    if walk.failure is None and walk.next_seq != last + 1:
        walk.failure = (ChainProblem.MISSING, walk.next_seq, "records missing")
    if walk.failure is not None:
        _, seq, problem = walk.failure
        raise AuditChainBroken(f"{chain.label}: verifying ahead stopped at seq {seq}: {problem}")
    record = AuditVerifiedMark(
        id=uuid.uuid4(),
        chain=chain.value,
        seq=last,
        hash=walk.last_hash,
        at=database_now(session),
        mac="",
    )
    record.mac = verified_mark_mac(key, mark_fields(record, head))
    session.add(record)
    session.flush()
    return last - first + 1
