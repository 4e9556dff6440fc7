"""Checkpoints: each chain's signed head, kept outside the database and compared with it.

A database writer can replay an older signed head (any backup holds one) after deleting the
records that came later; inside the database that looks like a healthy, shorter chain. A
checkpoint taken earlier and kept elsewhere says how far the chain had already reached, and from
which start. Each line is MAC'd with the audit key, so a forged line is detected. A checkpoint is
a signed head and nothing more: whoever moves the head needs nothing from this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.audit.chain import CHAIN_MODELS, ChainHead, ChainProblem, authentic_head, table_of
from welfare.crypto.chain import GENESIS_HASH, canonical_instant, checkpoint_mac, same_digest
from welfare.database import session_keyring
from welfare.models import AuditChain

Finding = tuple[ChainProblem, int | None, str]


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
