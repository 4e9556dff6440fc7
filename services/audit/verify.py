"""Verifying a keyed chain: walk it in seq order and name the first bad link; compare the head
with a checkpoint kept outside the database."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.audit.chain import CHAIN_MODELS, ChainHead, authentic_head, read_head, table_of
from welfare.crypto.chain import GENESIS_HASH, canonical_json, link_hash, same_digest
from welfare.database import session_keyring
from welfare.models import AuditChain
from welfare.models.audit import ChainedRecord

VERIFY_BATCH = 5000


class ChainProblem(StrEnum):
    HEAD_MISSING = "head_missing"
    HEAD_ALTERED = "head_altered"  # the head's MAC does not match (rewound or forged)
    BEFORE_ANCHOR = "before_anchor"  # a row older than the oldest link the head vouches for
    MISSING = "missing"  # a seq is absent between the anchor and the newest row present
    ALTERED = "altered"  # a row's fields or hash no longer match its MAC
    BROKEN_LINK = "broken_link"  # a row's prev_hash is not the previous link's hash
    TRUNCATED = "truncated"  # the newest rows are gone: the head names a later seq
    HEAD_MISMATCH = "head_mismatch"  # the newest row is not the one the head names
    ROLLED_BACK = "rolled_back"  # the head is behind an off-site checkpoint (an old head replayed)
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # the checkpointed link was replaced


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain's head as shipped off-site; verifying against it later catches what the database
    alone cannot: a head restored from an old backup together with a truncated table."""

    chain: AuditChain
    seq: int
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {"chain": self.chain.value, "seq": self.seq, "hash": self.hash}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        seq, digest = data["seq"], data["hash"]
        if not isinstance(seq, int) or seq < 0 or not isinstance(digest, str):
            raise ValueError("a checkpoint has an integer seq and a hex hash")
        return cls(chain=AuditChain(data["chain"]), seq=seq, hash=digest)


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


Progress = Callable[[int, int], None]


@dataclass(slots=True)
class _Walk:
    checked: int = 0
    next_seq: int = 1
    last_hash: str = GENESIS_HASH
    failure: tuple[ChainProblem, int | None, str] | None = field(default=None)


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
    missing oldest rows (the MAC'd anchor names an earlier seq) and missing newest rows (the MAC'd
    head names a later seq). With a `checkpoint` taken earlier and kept off-site, it also detects
    a head rolled back behind it, and a checkpointed link that was replaced.
    `progress(checked, expected)` is called every `batch_size` links. Run it in one snapshot
    (`Database.snapshot()`), or concurrent pruning can look like a gap.
    """
    chain = AuditChain(chain)
    model = CHAIN_MODELS[chain]
    key = session_keyring(session).audit_key
    head = read_head(session, chain)
    if head is None:
        return _failed(chain, 0, ChainProblem.HEAD_MISSING, None, "the chain head is missing")
    if not head.is_authentic(key):
        return _failed(
            chain,
            0,
            ChainProblem.HEAD_ALTERED,
            None,
            "the chain head was altered: its MAC does not match (rewound or forged)",
            head_seq=head.last_seq,
        )
    if checkpoint is not None and checkpoint.seq > head.last_seq:
        return _failed(
            chain,
            0,
            ChainProblem.ROLLED_BACK,
            head.last_seq + 1,
            f"the chain head (seq {head.last_seq}) is behind the checkpoint (seq "
            f"{checkpoint.seq}): records from seq {head.last_seq + 1} were removed",
            head_seq=head.last_seq,
        )
    seq_column = model.__table__.c.seq
    stray = session.scalar(select(func.min(seq_column)).where(seq_column < head.anchor_seq))
    if stray is not None:
        return _failed(
            chain,
            0,
            ChainProblem.BEFORE_ANCHOR,
            stray,
            f"seq {stray} lies before the chain's anchor (seq {head.anchor_seq})",
            head_seq=head.last_seq,
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
    if walk.failure is None and checkpoint is not None:
        walk.failure = _check_checkpoint(session, model, head, checkpoint)
    if walk.failure is not None:
        kind, seq, problem = walk.failure
        return _failed(chain, walk.checked, kind, seq, problem, head_seq=head.last_seq)
    return VerifyResult(
        ok=True,
        checked=walk.checked,
        first_bad_seq=None,
        problem=None,
        chain=chain,
        head_seq=head.last_seq,
    )


def take_checkpoint(session: Session, chain: AuditChain | str) -> Checkpoint:
    """The chain's current head, to be kept outside the database (another system, another
    administrator) and passed to `verify_chain` later."""
    chain = AuditChain(chain)
    head = authentic_head(session, chain, session_keyring(session).audit_key)
    return Checkpoint(chain=chain, seq=head.last_seq, hash=head.last_hash)


def _check_checkpoint(
    session: Session, model: type[ChainedRecord], head: ChainHead, checkpoint: Checkpoint
) -> tuple[ChainProblem, int | None, str] | None:
    if checkpoint.seq < head.anchor_seq:
        return None  # pruned since (the anchor is MAC'd, so that move was the retention job's)
    t = table_of(model)
    stored = session.scalar(select(t.c.hash).where(t.c.seq == checkpoint.seq))
    if same_digest(stored, checkpoint.hash):
        return None
    return (
        ChainProblem.CHECKPOINT_MISMATCH,
        checkpoint.seq,
        f"seq {checkpoint.seq} is not the record the checkpoint names (the chain was rebuilt)",
    )


def _failed(
    chain: AuditChain,
    checked: int,
    kind: ChainProblem,
    seq: int | None,
    problem: str,
    *,
    head_seq: int = 0,
) -> VerifyResult:
    return VerifyResult(
        ok=False,
        checked=checked,
        first_bad_seq=seq,
        problem=problem,
        chain=chain,
        kind=kind,
        head_seq=head_seq,
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


def _check_link(
    model: type[ChainedRecord],
    key: bytes,
    values: Mapping[Any, Any],
    walk: _Walk,
    first_seq: int,
) -> tuple[ChainProblem, int | None, str] | None:
    seq = values["seq"]
    if seq != walk.next_seq:
        missing = f"seq {walk.next_seq}" + (f"–{seq - 1}" if seq - 1 > walk.next_seq else "")
        where = "the oldest kept records" if walk.next_seq == first_seq else "records"
        return (ChainProblem.MISSING, walk.next_seq, f"{where} missing: {missing}")
    try:
        expected = link_hash(key, values["prev_hash"], canonical_json(model.link_fields(values)))
    except (TypeError, ValueError, UnicodeError):
        expected = None  # a field rewritten into something that no longer even serializes
    if not same_digest(expected, values["hash"]):
        return (ChainProblem.ALTERED, seq, f"seq {seq} was altered: its hash does not match")
    if not same_digest(values["prev_hash"], walk.last_hash):
        previous = "the chain's anchor" if seq == first_seq else f"seq {seq - 1}"
        return (ChainProblem.BROKEN_LINK, seq, f"seq {seq} does not link to {previous}")
    return None
