"""Verifying a keyed chain: walk it in seq order and name the first bad link; compare the head
with a checkpoint kept outside the database (services/audit/checkpoints.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.audit.chain import CHAIN_MODELS, ChainHead, ChainProblem, read_head
from services.audit.checkpoints import Checkpoint, Finding, compare_head, compare_link
from services.audit.link import pending, seal_matches
from welfare.crypto.chain import (
    GENESIS_HASH,
    canonical_instant,
    canonical_json,
    link_hash,
    reanchor_mac,
    same_digest,
)
from welfare.database import session_keyring
from welfare.models import AuditChain, AuditReanchor
from welfare.models.audit import ChainedRecord

VERIFY_BATCH = 5000


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of walking one chain; `problem` names the first bad link in plain words."""

    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None
    chain: AuditChain
    kind: ChainProblem | None = None
    head_seq: int = 0
    started_at: datetime | None = None  # when the chain's keyed genesis was written
    unlinked: int = 0  # records appended and sealed, not linked into the chain yet
    oldest_unlinked_at: datetime | None = None  # when the oldest of them was appended
    # Links retention dropped with their monthly partitions (PostgreSQL), oldest first, each
    # from a re-anchor record whose MAC matched: not tampering.
    dropped: tuple[RetentionDrop, ...] = ()


@dataclass(frozen=True, slots=True)
class RetentionDrop:
    """Links a retention run dropped with their months' partitions, from its re-anchor record."""

    first_seq: int
    last_seq: int
    months: tuple[str, ...]
    at: datetime

    def describe(self) -> str:
        months = self.months[0] if len(self.months) == 1 else f"{self.months[0]}–{self.months[-1]}"
        count = self.last_seq - self.first_seq + 1
        return (
            f"seq {self.first_seq}–{self.last_seq} ({count:,} record{'s' * (count != 1)} of "
            f"{months}) dropped by "
            f"retention on {self.at.date().isoformat()}, re-anchored at seq {self.last_seq + 1}"
        )


Progress = Callable[[int, int], None]


@dataclass(slots=True)
class _Walk:
    checked: int = 0
    next_seq: int = 1
    last_hash: str = GENESIS_HASH
    failure: Finding | None = field(default=None)


def verify_chain(
    session: Session,
    chain: AuditChain | str,
    *,
    progress: Progress | None = None,
    batch_size: int = VERIFY_BATCH,
    checkpoint: Checkpoint | None = None,
) -> VerifyResult:
    """Walk one chain in seq order, streaming, and name the first bad link.

    Detects an altered row (hash mismatch), a broken link (prev_hash mismatch), a missing seq,
    missing oldest rows (the MAC'd anchor names an earlier seq), missing newest rows (the MAC'd
    head names a later seq) and rows past the head (a head rewound with its rows kept). A head
    without a MAC (the freshly migrated state) never verifies: a database writer can put it back.
    With a `checkpoint` taken earlier and kept off-site, it also detects a head rolled back
    behind it, a checkpointed link that was replaced, and a chain started again since.
    Records appended but not linked yet are checked against their seals (altered before
    linking), and counted with the oldest one's append time (`unlinked`,
    `oldest_unlinked_at`); waiting to be linked is not a failure.
    `progress(checked, expected)` is called every `batch_size` links. Run it in one snapshot
    (`Database.snapshot()`), or concurrent pruning can look like a gap.
    """
    chain = AuditChain(chain)
    model = CHAIN_MODELS[chain]
    key = session_keyring(session).audit_key
    head = read_head(session, chain)
    if head is None:
        return _failed(chain, 0, ChainProblem.HEAD_MISSING, None, "the chain head is missing")
    if head.is_pristine:
        return _unstarted(session, model, head, checkpoint)
    failed = _head_failure(head, key, checkpoint)
    dropped: tuple[RetentionDrop, ...] = ()
    if failed is None:
        dropped, failed = _retention_drops(session, head, key)
    if failed is not None:
        kind, seq, problem = failed
        return _failed(chain, 0, kind, seq, problem, head=head)
    seq_column = model.__table__.c.seq
    stray = session.scalar(select(func.min(seq_column)).where(seq_column < head.anchor_seq))
    if stray is not None:
        return _failed(
            chain,
            0,
            ChainProblem.BEFORE_ANCHOR,
            stray,
            f"seq {stray} lies before the chain's anchor (seq {head.anchor_seq})",
            head=head,
        )
    walk = walk_chain(
        session,
        model,
        key,
        first_seq=head.anchor_seq,
        first_prev=head.anchor_prev_hash,
        last_seq=head.last_seq,
        progress=progress,
        batch_size=batch_size,
    )
    if walk.failure is None and walk.next_seq <= head.last_seq:
        walk.failure = (
            ChainProblem.TRUNCATED,
            walk.next_seq,
            f"the newest records are missing: seq {walk.next_seq}–{head.last_seq} "
            f"(the table ends at seq {walk.next_seq - 1}, the chain head says {head.last_seq})",
        )
    if walk.failure is None and not same_digest(walk.last_hash, head.last_hash):
        walk.failure = (
            ChainProblem.HEAD_MISMATCH,
            head.last_seq,
            f"seq {head.last_seq} is not the record the chain head names",
        )
    if walk.failure is None:
        walk.failure = _beyond_head(session, model, head)
    if walk.failure is None and checkpoint is not None:
        walk.failure = compare_link(session, head, checkpoint)
    waiting = pending(session, chain)
    if walk.failure is None:
        walk.failure = _unlinked_failure(session, model, key, batch_size)
    if walk.failure is not None:
        kind, seq, problem = walk.failure
        return replace(
            _failed(chain, walk.checked, kind, seq, problem, head=head),
            unlinked=waiting.count,
            oldest_unlinked_at=waiting.oldest_at,
            dropped=dropped,
        )
    return VerifyResult(
        ok=True,
        checked=walk.checked,
        first_bad_seq=None,
        problem=None,
        chain=chain,
        head_seq=head.last_seq,
        started_at=head.started_at,
        unlinked=waiting.count,
        oldest_unlinked_at=waiting.oldest_at,
        dropped=dropped,
    )


def _retention_drops(
    session: Session, head: ChainHead, key: bytes
) -> tuple[tuple[RetentionDrop, ...], Finding | None]:
    """The chain's re-anchor records, each checked against its MAC and against the head: the
    links a record names must lie before the head's anchor, and the latest record's last link
    is the anchor's `prev_hash` when the anchor has not moved since."""
    records = session.scalars(
        select(AuditReanchor)
        .where(AuditReanchor.chain == head.chain.value)
        .order_by(AuditReanchor.first_seq)
    ).all()
    drops = []
    for record in records:
        if not same_digest(record.mac, reanchor_mac(key, reanchor_fields(record))):
            return (), (
                ChainProblem.REANCHOR_ALTERED,
                record.first_seq,
                f"the re-anchor record of seq {record.first_seq}–{record.last_seq} was altered: "
                "its MAC does not match",
            )
        if record.last_seq >= head.anchor_seq or (
            record.last_seq == head.anchor_seq - 1
            and not same_digest(record.last_hash, head.anchor_prev_hash)
        ):
            return (), (
                ChainProblem.REANCHOR_ALTERED,
                record.first_seq,
                f"the re-anchor record of seq {record.first_seq}–{record.last_seq} does not "
                f"agree with the chain's anchor (seq {head.anchor_seq})",
            )
        drops.append(
            RetentionDrop(
                first_seq=record.first_seq,
                last_seq=record.last_seq,
                months=tuple(record.months),
                at=record.at,
            )
        )
    return tuple(drops), None


def _unlinked_failure(
    session: Session, model: type[ChainedRecord], key: bytes, batch_size: int
) -> Finding | None:
    """The first record not linked yet whose seal does not match (altered before linking)."""
    t = model.__table__
    columns = [t.c[name] for name in dict.fromkeys(("id", *model.hashed_columns()))]
    stmt = (
        select(*columns)
        .where(t.c.seq.is_(None))
        .order_by(t.c.at, t.c.id)
        .execution_options(yield_per=batch_size)
    )
    result = session.execute(stmt)
    try:
        for row in result:
            values = row._mapping
            if not seal_matches(model, key, values):
                return (
                    ChainProblem.ALTERED,
                    None,
                    f"the record {values['id']} appended at {values['at'].isoformat()}, not "
                    "linked yet, was altered: its seal does not match",
                )
    finally:
        result.close()
    return None


def _unstarted(
    session: Session,
    model: type[ChainedRecord],
    head: ChainHead,
    checkpoint: Checkpoint | None,
) -> VerifyResult:
    """A head in the freshly migrated state: reported, never passed.

    Whoever can write to the database can restore this state after deleting every record, so
    it is evidence of nothing; the records left behind or a checkpoint say which case it is.
    """
    chain = head.chain
    beyond = _beyond_head(session, model, head)
    if beyond is not None:
        kind, seq, problem = beyond
        return _failed(chain, 0, kind, seq, problem, head=head)
    if checkpoint is not None and not checkpoint.is_of_an_unstarted_chain:
        return _failed(
            chain,
            0,
            ChainProblem.RESET,
            1,
            "the chain head is back in its freshly migrated state (seq 0, no MAC), but a "
            f"checkpoint names seq {checkpoint.seq}: every record was removed and the head reset",
            head=head,
        )
    return _failed(
        chain,
        0,
        ChainProblem.NOT_STARTED,
        None,
        "the chain has no keyed genesis (seq 0, no MAC): if this database was in use, its "
        "records were removed and the head reset; if it was only just migrated, "
        "`welfare db upgrade` starts the chain",
        head=head,
    )


def _head_failure(head: ChainHead, key: bytes, checkpoint: Checkpoint | None) -> Finding | None:
    problem = head.problem(key)
    if problem is not None:
        return (ChainProblem.HEAD_ALTERED, None, problem)
    return compare_head(head, checkpoint) if checkpoint is not None else None


def _beyond_head(session: Session, model: type[ChainedRecord], head: ChainHead) -> Finding | None:
    """Rows numbered past the head: the head was rewound (or replayed) and the rows kept."""
    seq_column = model.__table__.c.seq
    beyond = session.scalar(select(func.min(seq_column)).where(seq_column > head.last_seq))
    if beyond is None:
        return None
    where = (
        "which is back in its freshly migrated state (seq 0, no MAC)"
        if head.is_pristine
        else f"(seq {head.last_seq})"
    )
    return (
        ChainProblem.BEYOND_HEAD,
        beyond,
        f"seq {beyond} lies beyond the chain head {where}: the head was rewound",
    )


def _failed(
    chain: AuditChain,
    checked: int,
    kind: ChainProblem,
    seq: int | None,
    problem: str,
    *,
    head: ChainHead | None = None,
) -> VerifyResult:
    return VerifyResult(
        ok=False,
        checked=checked,
        first_bad_seq=seq,
        problem=problem,
        chain=chain,
        kind=kind,
        head_seq=head.last_seq if head is not None else 0,
        started_at=head.started_at if head is not None else None,
    )


def walk_chain(
    session: Session,
    model: type[ChainedRecord],
    key: bytes,
    *,
    first_seq: int,
    first_prev: str,
    last_seq: int,
    progress: Progress | None = None,
    batch_size: int = VERIFY_BATCH,
) -> _Walk:
    """Check the links first_seq..last_seq (or up to the last row present) and stop at the
    first bad one."""
    t = model.__table__
    columns = [t.c[name] for name in (*model.hashed_columns(), "prev_hash", "hash")]
    stmt = (
        select(*columns)
        .where(t.c.seq >= first_seq, t.c.seq <= last_seq)
        .order_by(t.c.seq)
        .execution_options(yield_per=batch_size)
    )
    walk = _Walk(next_seq=first_seq, last_hash=first_prev)
    expected_total = max(last_seq - first_seq + 1, 0)
    result = session.execute(stmt)
    try:
        for row in result:
            values = row._mapping
            seq = values["seq"]
            walk.failure = _check_link(model, key, values, walk, first_seq)
            if walk.failure is not None:
                return walk
            walk.last_hash = values["hash"]
            walk.next_seq = seq + 1
            walk.checked += 1
            if progress is not None and walk.checked % batch_size == 0:
                progress(walk.checked, expected_total)
    finally:
        result.close()
    if progress is not None:
        progress(walk.checked, expected_total)
    return walk


def _link_matches(
    model: type[ChainedRecord], key: bytes, values: Mapping[Any, Any], *, sealed: bool
) -> bool:
    try:
        payload = canonical_json(model.link_fields(values, sealed=sealed))
        expected = link_hash(key, values["prev_hash"], payload)
    except (TypeError, ValueError, UnicodeError):
        expected = None  # a field rewritten into something that no longer even serializes
    return same_digest(expected, values["hash"])


def _out_of_sequence(seq: int, expected: int, first_seq: int) -> Finding:
    if seq < expected:
        # Only PostgreSQL's partitioned table lacks a unique seq (the chain lock keeps it).
        return (ChainProblem.BROKEN_LINK, seq, f"seq {seq} appears more than once")
    missing = f"seq {expected}" + (f"–{seq - 1}" if seq - 1 > expected else "")
    where = "the oldest kept records" if expected == first_seq else "records"
    return (ChainProblem.MISSING, expected, f"{where} missing: {missing}")


def _check_link(
    model: type[ChainedRecord],
    key: bytes,
    values: Mapping[Any, Any],
    walk: _Walk,
    first_seq: int,
) -> Finding | None:
    seq = values["seq"]
    if seq != walk.next_seq:
        return _out_of_sequence(seq, walk.next_seq, first_seq)
    sealed = values[model.SEAL_FIELD] is not None
    if not _link_matches(model, key, values, sealed=sealed):
        if not sealed and _link_matches(model, key, values, sealed=True):
            # Linked by the job without a seal: a row appended since seals exist always has
            # one, so it was stripped (and the row most likely rewritten) before linking.
            return (
                ChainProblem.ALTERED,
                seq,
                f"seq {seq} was altered before it was linked: it was linked without its seal",
            )
        return (ChainProblem.ALTERED, seq, f"seq {seq} was altered: its hash does not match")
    if sealed and not seal_matches(model, key, values):
        return (
            ChainProblem.ALTERED,
            seq,
            f"seq {seq} was altered before it was linked: its seal does not match",
        )
    if not same_digest(values["prev_hash"], walk.last_hash):
        previous = "the chain's anchor" if seq == first_seq else f"seq {seq - 1}"
        return (ChainProblem.BROKEN_LINK, seq, f"seq {seq} does not link to {previous}")
    return None


def reanchor_fields(record: AuditReanchor) -> dict[str, Any]:
    """What a re-anchor record's MAC covers."""
    return {
        "id": str(record.id),
        "chain": record.chain,
        "first_seq": record.first_seq,
        "last_seq": record.last_seq,
        "last_hash": record.last_hash,
        "months": list(record.months),
        "dropped_before": canonical_instant(record.dropped_before),
        "at": canonical_instant(record.at),
    }
