"""Linking sealed records into their keyed chain, in batches, off the request path.

Writers append records sealed and unlinked (services/audit/append.py). The `audit_link` job
calls `link_chains` every few seconds: per chain it takes the chain lock (only linkers, retention
and a chain's start ever take it, never a request), reads the authentic head, gives the oldest
unlinked records their `seq`, `prev_hash` and `hash` in one batch and moves the MAC'd head by
compare-and-set, all in the job's transaction. A crash anywhere before commit rolls the batch
back and leaves the records as they were: unlinked, sealed, taken by the next run.

A record whose seal does not match (altered, or stripped of its seal, before it was linked) is
still linked, with the seal it has, so it can no longer be deleted unnoticed; verification then
names it by its seq. The job counts such records; it never repairs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from services.audit.chain import CHAIN_MODELS, move_head, open_chain, table_of
from welfare.crypto.chain import canonical_json, link_hash, same_digest, seal_mac
from welfare.database import database_now, session_keyring
from welfare.models import AuditChain
from welfare.models.audit import ChainedRecord

log = logging.getLogger("welfare.audit")

LINK_BATCH = 2000
# One run links at most this many per chain; a bigger backlog is taken by the next runs.
LINK_MAX_PER_RUN = 50_000


@dataclass(frozen=True, slots=True)
class Pending:
    """Records of a chain not linked yet: how many, and when the oldest was appended."""

    chain: AuditChain
    count: int
    oldest_at: datetime | None

    def age_seconds(self, now: datetime) -> float:
        return max((now - self.oldest_at).total_seconds(), 0.0) if self.oldest_at else 0.0


def seal_matches(model: type[ChainedRecord], key: bytes, values: Any) -> bool:
    """Whether a record still matches the seal it was appended with."""
    try:
        expected = seal_mac(key, canonical_json(model.seal_fields(values)))
    except (TypeError, ValueError, UnicodeError):
        return False  # a field rewritten into something that no longer even serializes
    return same_digest(expected, values[model.SEAL_FIELD])


def pending(session: Session, chain: AuditChain | str) -> Pending:
    """How many records of the chain wait to be linked, and the oldest one's append time."""
    chain = AuditChain(chain)
    t = table_of(CHAIN_MODELS[chain])
    count, oldest = session.execute(
        select(func.count(), func.min(t.c.at)).where(t.c.seq.is_(None))
    ).one()
    return Pending(chain=chain, count=int(count), oldest_at=oldest)


def link_pending(
    session: Session,
    chain: AuditChain | str,
    *,
    batch_size: int = LINK_BATCH,
    limit: int = LINK_MAX_PER_RUN,
) -> dict[str, int]:
    """Link up to `limit` unlinked records of one chain, oldest first, in the caller's
    transaction; returns {"linked": n, "seal_mismatch": m}. Refuses (AuditChainBroken) to
    build on a head that was tampered with, as appends used to."""
    chain = AuditChain(chain)
    model = CHAIN_MODELS[chain]
    key = session_keyring(session).audit_key
    head = open_chain(session, chain, key)
    t = table_of(model)
    columns = [t.c[name] for name in dict.fromkeys(("id", *model.hashed_columns()))]
    linking = (
        update(t)
        .where(t.c.id == bindparam("b_id"), t.c.seq.is_(None))
        .values(seq=bindparam("b_seq"), prev_hash=bindparam("b_prev"), hash=bindparam("b_hash"))
    )
    linked = mismatched = 0
    while linked < limit:
        rows = session.execute(
            select(*columns)
            .where(t.c.seq.is_(None))
            .order_by(t.c.at, t.c.id)
            .limit(min(batch_size, limit - linked))
        ).all()
        if not rows:
            break
        params: list[dict[str, Any]] = []
        last_seq, last_hash = head.last_seq, head.last_hash
        for row in rows:
            values = dict(row._mapping)
            if not seal_matches(model, key, values):
                mismatched += 1
            last_seq += 1
            values["seq"] = last_seq
            payload = canonical_json(model.link_fields(values, sealed=True))
            digest = link_hash(key, last_hash, payload)
            params.append({"b_id": values["id"], "b_seq": last_seq, "b_prev": last_hash})
            params[-1]["b_hash"] = last_hash = digest
        session.execute(linking, params)
        moved = replace(head, last_seq=last_seq, last_hash=last_hash)
        move_head(session, head, moved, key, database_now(session))
        head = moved
        linked += len(rows)
        _expire_linked(session, model, [p["b_id"] for p in params])
    if mismatched:
        # Counts only: which records is for `welfare audit verify` to say.
        log.error(
            "access records linked with a seal that does not match", extra={"count": mismatched}
        )
    return {"linked": linked, "seal_mismatch": mismatched}


def link_chains(session: Session, *, limit: int = LINK_MAX_PER_RUN) -> dict[str, int]:
    """Link what waits in every chain (the `audit_link` job)."""
    counts: dict[str, int] = {}
    for chain in AuditChain:
        result = link_pending(session, chain, limit=limit)
        counts[f"{chain.value}_linked"] = result["linked"]
        if result["seal_mismatch"]:
            counts[f"{chain.value}_seal_mismatch"] = result["seal_mismatch"]
    return counts


def _expire_linked(session: Session, model: type[ChainedRecord], ids: list[Any]) -> None:
    """Objects of this session for the records just linked read their new position on access."""
    for record_id in ids:
        record = session.identity_map.get(session.identity_key(model, record_id))
        if record is not None:
            session.expire(record, ["seq", "prev_hash", "hash"])
