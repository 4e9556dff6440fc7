"""Checkpoints: each chain's signed head, kept outside the database and compared with it.

A database writer can replay an older signed head (SQLite keeps one in the main file until the
WAL is checkpointed; any backup holds one) after deleting the records that came later; inside
the database that looks like a healthy, shorter chain. A checkpoint taken earlier and kept
elsewhere says how far the chain had already reached. The `audit_checkpoint` job writes one per
chain to the configured sink (services/audit/sinks.py) every few minutes, after comparing the
head with the sink's latest, so it never writes a rewound head into the sink; `welfare audit
verify` compares against the latest one. Each line is MAC'd with the audit key, so a line forged
into the sink is detected. A checkpoint is a signed head and nothing more: whoever moves the
head (an append, or later a batch linker) needs nothing from this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.audit.chain import (
    CHAIN_MODELS,
    AuditChainBroken,
    ChainHead,
    ChainProblem,
    authentic_head,
    open_chain,
    read_head,
    table_of,
)
from welfare.crypto.chain import GENESIS_HASH, canonical_instant, checkpoint_mac, same_digest
from welfare.database import database_now, session_keyring
from welfare.models import AuditChain

# Where a Database puts the configured sink in every session's `info` (next to the keyring).
SINK_INFO = "welfare.checkpoint_sink"

Finding = tuple[ChainProblem, int | None, str]

SHIPPING_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"welfare:audit-checkpoint-shipping").digest()[:8], "big", signed=True
)


class CheckpointRefused(RuntimeError):
    """The head does not agree with the sink's latest checkpoint, or the sink holds a line that
    fails its MAC; nothing was written. The message names chains and seqs only."""


class CheckpointSinkError(RuntimeError):
    """The sink could not be written or read (the message names the sink, never any data)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain's head as kept outside the database: how far the chain reached, and from which
    start; `mac` (HMAC with the audit key) covers every other field."""

    chain: AuditChain
    seq: int
    hash: str
    started_at: datetime | None = None
    taken_at: datetime | None = None
    mac: str | None = None

    @property
    def is_of_an_unstarted_chain(self) -> bool:
        """Taken before the chain had a genesis or any record: it vouches for nothing."""
        return self.seq == 0 and self.hash == GENESIS_HASH and self.started_at is None

    def fields(self) -> dict[str, Any]:
        return {
            "chain": self.chain.value,
            "seq": self.seq,
            "hash": self.hash,
            "started_at": _instant(self.started_at),
            "taken_at": _instant(self.taken_at),
        }

    def signed(self, key: bytes) -> Checkpoint:
        return replace(self, mac=checkpoint_mac(key, self.fields()))

    def is_signed_by(self, key: bytes) -> bool:
        return same_digest(self.mac, checkpoint_mac(key, self.fields()))

    def as_json(self) -> dict[str, Any]:
        return self.fields() | ({"mac": self.mac} if self.mac is not None else {})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        seq, digest, mac = data["seq"], data["hash"], data.get("mac")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError("a checkpoint has a whole, non-negative seq")
        if not isinstance(digest, str) or not (mac is None or isinstance(mac, str)):
            raise ValueError("a checkpoint's hash and MAC are hex strings")
        return cls(
            chain=AuditChain(data["chain"]),
            seq=seq,
            hash=digest,
            started_at=_parse_instant(data.get("started_at")),
            taken_at=_parse_instant(data.get("taken_at")),
            mac=mac,
        )


@dataclass(slots=True)
class SinkReading:
    """What a sink holds: the latest properly signed checkpoint per chain, and any problem
    found on the way there (a forged or unreadable line), plus plain notes."""

    latest: dict[AuditChain, Checkpoint] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class CheckpointSink(Protocol):
    """Somewhere outside the database that keeps checkpoint lines; see services/audit/sinks.py."""

    @property
    def kind(self) -> str:
        """ "file", "dir" or "syslog": safe to show where the description (a path) is not."""
        ...

    @property
    def description(self) -> str: ...

    @property
    def readable(self) -> bool:
        """Whether this service can read the lines back (a syslog sink cannot)."""
        ...

    def write(self, points: Sequence[Checkpoint]) -> None:
        """Append the lines durably, or raise CheckpointSinkError."""
        ...

    def read(self, key: bytes) -> SinkReading:
        """The latest properly signed checkpoint per chain; CheckpointSinkError if unreadable."""
        ...


def session_sink(session: Session) -> CheckpointSink | None:
    """The sink configured for this session's database, if any (`Database.set_info`)."""
    sink: CheckpointSink | None = session.info.get(SINK_INFO)
    return sink


def take_checkpoint(
    session: Session, chain: AuditChain | str, *, taken_at: datetime | None = None
) -> Checkpoint:
    """The chain's current head, signed, to be kept outside the database (another system,
    another administrator) and passed to `verify_chain` later."""
    chain = AuditChain(chain)
    key = session_keyring(session).audit_key
    head = authentic_head(session, chain, key)
    return Checkpoint(
        chain=chain,
        seq=head.last_seq,
        hash=head.last_hash,
        started_at=head.started_at,
        taken_at=taken_at,
    ).signed(key)


def compare_head(head: ChainHead, point: Checkpoint) -> Finding | None:
    """What the head alone says against a checkpoint: a chain started again since, or a head
    behind it (records removed and an older head put back)."""
    if (
        point.started_at is not None
        and head.started_at is not None
        and point.started_at != head.started_at
    ):
        return (
            ChainProblem.RECREATED,
            None,
            f"the chain was started again at {head.started_at.isoformat()}; the checkpoint "
            f"names a chain started at {point.started_at.isoformat()} (its records are gone)",
        )
    if point.seq > head.last_seq:
        return (
            ChainProblem.ROLLED_BACK,
            head.last_seq + 1,
            f"the chain head (seq {head.last_seq}) is behind the checkpoint (seq "
            f"{point.seq}): records from seq {head.last_seq + 1} were removed",
        )
    return None


def compare_link(session: Session, head: ChainHead, point: Checkpoint) -> Finding | None:
    """Whether the link the checkpoint names is still the one in the database (or was pruned
    since, which the MAC'd anchor vouches for)."""
    if point.is_of_an_unstarted_chain or point.seq < head.anchor_seq - 1:
        return None
    stored: str | None
    if point.seq == head.anchor_seq - 1:
        stored = head.anchor_prev_hash  # the genesis, or the last link pruned
    else:
        t = table_of(CHAIN_MODELS[head.chain])
        stored = session.scalar(select(t.c.hash).where(t.c.seq == point.seq))
    if same_digest(stored, point.hash):
        return None
    return (
        ChainProblem.CHECKPOINT_MISMATCH,
        point.seq,
        f"seq {point.seq} is not the record the checkpoint names (the chain was rebuilt)",
    )


def ship_checkpoints(session: Session, sink: CheckpointSink) -> dict[str, int]:
    """Write each chain's signed head to the sink, once it agrees with the sink's latest.

    Refuses (CheckpointRefused, nothing written) when the sink holds a line that fails its MAC,
    or when a head is behind, beside or restarted since the sink's latest checkpoint: writing
    then would launder a truncation into the sink. An unkeyed head is started here only when
    the sink holds nothing of its chain, and its first checkpoint waits for the next run, so a
    sink never names a genesis the database failed to commit. A head that has not moved since
    the latest checkpoint is not written again.
    """
    key = session_keyring(session).audit_key
    if session.get_bind().dialect.name == "postgresql":
        # One writer at a time, each reading the sink and the heads after the previous one
        # committed, so a slower run never appends an older head after a newer one. (SQLite
        # already serializes: the job runs in a BEGIN IMMEDIATE transaction.)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SHIPPING_LOCK_KEY})
    reading = sink.read(key) if sink.readable else SinkReading()
    if reading.problems:
        raise CheckpointRefused("; ".join(reading.problems))
    now = database_now(session)
    counts = {"written": 0, "unchanged": 0, "started": 0}
    points: list[Checkpoint] = []
    for chain in AuditChain:
        latest = reading.latest.get(chain)
        head = read_head(session, chain)
        if head is not None and head.is_pristine:
            if latest is not None and not latest.is_of_an_unstarted_chain:
                raise CheckpointRefused(
                    f"{chain.label}: the chain head is back in its freshly migrated state, but "
                    f"{sink.description} holds a checkpoint at seq {latest.seq}: the records "
                    "were removed and the head reset"
                )
            open_chain(session, chain, key)  # locks, reads again, starts it if still unkeyed
            counts["started"] += 1
            continue
        try:
            head = authentic_head(session, chain, key)
        except AuditChainBroken as exc:
            raise CheckpointRefused(str(exc)) from None
        counts[f"{chain.value}_seq"] = head.last_seq
        if latest is not None:
            finding = compare_head(head, latest) or compare_link(session, head, latest)
            if finding is not None:
                raise CheckpointRefused(f"{chain.label}: {finding[2]}")
            if latest.seq == head.last_seq and same_digest(latest.hash, head.last_hash):
                counts["unchanged"] += 1
                continue
        points.append(
            Checkpoint(
                chain=chain,
                seq=head.last_seq,
                hash=head.last_hash,
                started_at=head.started_at,
                taken_at=now,
            ).signed(key)
        )
    if points:
        sink.write(points)
    counts["written"] = len(points)
    return counts


def _instant(value: datetime | None) -> str | None:
    return canonical_instant(value) if value is not None else None


def _parse_instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("instants are ISO-8601 strings")
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise ValueError("instants carry their offset")
    return instant
