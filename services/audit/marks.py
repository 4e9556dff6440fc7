"""Verified-up-to marks: each chain verified a slice at a time, ahead of retention.

Retention must verify the links it drops before they go (a tampered segment stops the drop, so
retention never erases the evidence). At a city's scale a month of access records is many
millions of links, hours of walking in one run. The `audit_verify_ahead` job walks each chain a
bounded slice per run and appends a MAC'd mark of the last link it found whole
(`AuditVerifiedMark`). It walks in passes: a pass starts at the anchor and goes on, run after
run, towards the head; once the pass is a day old the next run starts a new one at the anchor,
so every link is walked again every day (as far as a day's runs reach, the oldest first, which
is what retention drops next). Retention walks only the links past the current pass's mark,
and only while that pass is less than a day old (`TRUSTED_FOR`): a link altered after a pass
walked it is found by the next pass, which then fails at it every run and never marks past it;
the older pass is no longer trusted by then, so retention walks into the altered link and
refuses the drop.

A mark is MAC'd with the audit key over its chain, seq, hash, pass, instant and the chain's
genesis: a forged or edited mark, or one from a chain started again, fails its MAC and is
skipped (the walk starts further back, never further on); so is a mark whose link no longer
hashes as marked. What the marks leave open: a link altered after the current pass walked it,
within the day before retention drops it, goes unexamined by retention (the next pass and
`welfare audit verify` still catch it until the drop); docs/security-model.md, "Verified-up-to
marks".
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.audit.chain import (
    CHAIN_MODELS,
    AuditChainBroken,
    ChainHead,
    ChainProblem,
    authentic_head,
    read_head,
    table_of,
)
from services.audit.verify import walk_chain
from welfare.crypto.chain import canonical_instant, same_digest, verified_mark_mac
from welfare.database import database_now, session_keyring
from welfare.models import AuditChain, AuditVerifiedMark

log = logging.getLogger("welfare.audit")

# Links walked per chain and run: about ten seconds on a small machine, so the job never holds
# up the follow-up tick that shares the scheduler's loop for long: 1.2 million links an hour,
# about 29 million a day at the job's 5 minutes. On SQLite the job's transaction holds the
# database's one write lock (its lease) while it walks, so a run walks a tenth of that.
VERIFY_AHEAD_LINKS = 100_000
VERIFY_AHEAD_LINKS_SQLITE = 10_000
# A pass older than this ends: the next run starts a new one at the anchor.
PASS_AGE = timedelta(days=1)
# Retention trusts the newest pass's mark only while that pass is current: a pass older than
# this should have been followed by a new one, which may be failing at a link altered since
# (and so has no mark yet); the old pass's marks are not trusted then.
TRUSTED_FOR = PASS_AGE
# Marks looked at, newest first, for one whose MAC holds (forged ones are skipped, not trusted).
MARKS_CONSIDERED = 1_000


@dataclass(frozen=True, slots=True)
class Mark:
    """Links from `pass_from` up to `seq` were found whole by a pass started at
    `pass_started_at`; link `seq` hashes to `hash`."""

    seq: int
    hash: str
    pass_from: int
    pass_started_at: datetime


def mark_fields(record: AuditVerifiedMark, head: ChainHead) -> dict[str, Any]:
    """What a mark's MAC covers: the mark, its pass, and the genesis of the chain it was walked
    on."""
    return {
        "id": str(record.id),
        "chain": record.chain,
        "seq": record.seq,
        "hash": record.hash,
        "pass_from": record.pass_from,
        "pass_started_at": canonical_instant(record.pass_started_at),
        "at": canonical_instant(record.at),
        "genesis": head.genesis_hash,
    }


def _first_valid(
    session: Session, head: ChainHead, key: bytes, stmt: Select[AuditVerifiedMark]
) -> Mark | None:
    """The first mark of `stmt` whose MAC holds and whose link still hashes as marked."""
    t = table_of(CHAIN_MODELS[head.chain])
    skipped = 0
    for row in session.scalars(stmt.limit(MARKS_CONSIDERED)):
        if same_digest(row.mac, verified_mark_mac(key, mark_fields(row, head))) and same_digest(
            session.scalar(select(t.c.hash).where(t.c.seq == row.seq).limit(1)), row.hash
        ):
            if skipped:
                log.warning(
                    "verified marks that fail their MAC or their link were skipped",
                    extra={"chain": head.chain.value, "skipped": skipped},
                )
            return Mark(row.seq, row.hash, row.pass_from, row.pass_started_at)
        skipped += 1
    if skipped:
        log.warning(
            "no verified mark holds: each fails its MAC or its link",
            extra={"chain": head.chain.value, "skipped": skipped},
        )
    return None


def _kept(head: ChainHead) -> Select[AuditVerifiedMark]:
    """Marks of the chain that lie within what it keeps (`anchor_seq` .. `last_seq`)."""
    return select(AuditVerifiedMark).where(
        AuditVerifiedMark.chain == head.chain.value,
        AuditVerifiedMark.seq >= head.anchor_seq,
        AuditVerifiedMark.seq <= head.last_seq,
    )


def current_pass(session: Session, head: ChainHead, key: bytes) -> Mark | None:
    """The newest pass's furthest valid mark (where the job goes on from), or None."""
    stmt = _kept(head).order_by(
        AuditVerifiedMark.pass_started_at.desc(), AuditVerifiedMark.seq.desc()
    )
    return _first_valid(session, head, key, stmt)


def trusted_mark(session: Session, head: ChainHead, key: bytes, now: datetime) -> Mark | None:
    """The mark retention may start its walk after: the newest pass's furthest valid mark, if
    that pass started within `TRUSTED_FOR` at or below the anchor (so every link from the
    anchor to the mark was walked since); otherwise None (retention walks from the anchor)."""
    mark = current_pass(session, head, key)
    if mark is None or mark.pass_started_at < now - TRUSTED_FOR:
        return None
    return mark if mark.pass_from <= head.anchor_seq else None


def verify_ahead(session: Session, chain: AuditChain | str, *, limit: int | None = None) -> int:
    """Walk the next `limit` links of the current pass (a new pass from the anchor once it is
    `PASS_AGE` old), without any lock (links below the head never change), and append a mark
    after the last one; returns how many were walked. A bad link raises AuditChainBroken and
    appends nothing, every run, until someone looks (`welfare audit verify` names it); a walk
    that lost its start to a retention drop meanwhile walks nothing this run."""
    if limit is None:
        sqlite = session.get_bind().dialect.name == "sqlite"
        limit = VERIFY_AHEAD_LINKS_SQLITE if sqlite else VERIFY_AHEAD_LINKS
    chain = AuditChain(chain)
    head = read_head(session, chain)
    if head is None or head.is_pristine:
        return 0  # missing (verify and linking say so) or never started: nothing to walk
    key = session_keyring(session).audit_key
    head = authentic_head(session, chain, key)
    now = database_now(session)
    mark = current_pass(session, head, key)
    if mark is None or mark.pass_started_at < now - PASS_AGE:
        first, prev, pass_from, started = (
            head.anchor_seq,
            head.anchor_prev_hash,
            head.anchor_seq,
            now,
        )
    else:
        first, prev, pass_from, started = (
            mark.seq + 1,
            mark.hash,
            mark.pass_from,
            mark.pass_started_at,
        )
    last = min(head.last_seq, first + limit - 1)
    if last < first:
        return 0
    walk = walk_chain(
        session, CHAIN_MODELS[chain], key, first_seq=first, first_prev=prev, last_seq=last
    )
    if walk.failure is None and walk.next_seq != last + 1:
        walk.failure = (ChainProblem.MISSING, walk.next_seq, "records missing")
    if walk.failure is not None:
        again = read_head(session, chain)
        if again is not None and again.anchor_seq != head.anchor_seq:
            return 0  # retention dropped the start of this walk meanwhile: not tampering
        _, seq, problem = walk.failure
        raise AuditChainBroken(f"{chain.label}: verifying ahead stopped at seq {seq}: {problem}")
    record = AuditVerifiedMark(
        id=uuid.uuid4(),
        chain=chain.value,
        seq=last,
        hash=walk.last_hash,
        pass_from=pass_from,
        pass_started_at=started,
        at=now,
        mac="",
    )
    record.mac = verified_mark_mac(key, mark_fields(record, head))
    session.add(record)
    session.flush()
    return last - first + 1
