"""Retention of the keyed chains: delete the oldest prefix past the legal period, verified
first, and move the head's MAC'd anchor past it (2 years for access records, 3 for rights).
On PostgreSQL the access records are partitioned by month and go a whole month at a time
(`drop_expired_partitions`), re-anchored with a MAC'd record of what went."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, text
from sqlalchemy.orm import Session

from services import partitions
from services.audit.chain import (
    CHAIN_MODELS,
    AuditChainBroken,
    ChainHead,
    ChainProblem,
    authentic_head,
    move_head,
    open_chain,
    read_head,
    table_of,
)
from services.audit.marks import trusted_mark
from services.audit.verify import reanchor_fields, walk_chain
from welfare.crypto.chain import reanchor_mac, same_digest
from welfare.database import database_now, session_keyring
from welfare.models import AuditChain, AuditReanchor


def prune_chain(session: Session, *, chain: AuditChain | str, older_than: datetime) -> int:
    """Delete the oldest records of a chain whose `at` lies before `older_than`; returns how many.

    Only a prefix is ever deleted (up to the first record that is still young), so the kept part
    stays one unbroken chain; the head's MAC'd anchor moves to its first kept link. The prefix is
    verified before it goes: a tampered segment raises AuditChainBroken and nothing is deleted,
    so retention never erases the evidence. On PostgreSQL the delete announces itself with
    `SET LOCAL welfare.audit_retention = 'on'`, which the append-only trigger requires, and the
    trigger still refuses any row younger than the legal retention period.
    """
    chain = AuditChain(chain)
    model = CHAIN_MODELS[chain]
    key = session_keyring(session).audit_key
    head = open_chain(session, chain, key)
    t = table_of(model)
    first_young = session.scalar(
        select(t.c.seq)
        .where(t.c.seq >= head.anchor_seq, t.c.at >= older_than)
        .order_by(t.c.seq)
        .limit(1)
    )
    cut = head.last_seq + 1 if first_young is None else first_young
    if cut <= head.anchor_seq:
        return 0
    segment = walk_chain(
        session,
        model,
        key,
        first_seq=head.anchor_seq,
        first_prev=head.anchor_prev_hash,
        last_seq=cut - 1,
    )
    if segment.failure is None and segment.next_seq != cut:
        segment.failure = (ChainProblem.MISSING, segment.next_seq, "records missing before pruning")
    if segment.failure is not None:
        _, seq, problem = segment.failure
        raise AuditChainBroken(f"{chain.label}: refusing to prune at seq {seq}: {problem}")
    is_postgresql = session.get_bind().dialect.name == "postgresql"
    if is_postgresql:
        session.execute(text("SET LOCAL welfare.audit_retention = 'on'"))
    result = session.execute(delete(t).where(t.c.seq >= head.anchor_seq, t.c.seq < cut))
    if is_postgresql:
        session.execute(text("SET LOCAL welfare.audit_retention = 'off'"))
    new_head = replace(head, anchor_seq=cut, anchor_prev_hash=segment.last_hash)
    move_head(session, head, new_head, key, database_now(session))
    return cast(CursorResult[Any], result).rowcount


@dataclass(frozen=True, slots=True)
class Dropped:
    """What one retention run dropped from a partitioned chain."""

    rows: int
    months: list[str]
    held_back: str | None = None  # why older partitions stay (a record not yet linked, ...)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which months of a partitioned chain may go, and where the kept chain starts."""

    boundary: datetime  # the months before it go
    cut: int  # the first link that stays
    going: list[partitions.Partition]
    held_back: str | None


def _plan_drop(session: Session, chain: AuditChain, head: ChainHead, older_than: datetime) -> _Plan:
    """The months that may go: every record before the boundary must be exactly the oldest
    links, `anchor_seq` up to the one before `cut`; a month that breaks that holds the boundary
    (and every younger month) back."""
    model = CHAIN_MODELS[chain]
    table = str(table_of(model).name)
    t = table_of(model)
    boundary = partitions.month_start(older_than)
    default = partitions.default_partition(table)
    held_back: str | None = None
    while True:
        first_kept = session.scalar(
            select(func.min(t.c.seq)).where(t.c.at >= boundary, t.c.seq.is_not(None))
        )
        cut = head.last_seq + 1 if first_kept is None else first_kept
        straggler = session.execute(
            text(
                f"SELECT min(at), bool_or(seq IS NULL), bool_or(tableoid = '{default}'::regclass) "  # noqa: S608 - constant names
                f"FROM {table} WHERE at < :boundary "
                "AND (seq IS NULL OR seq >= :cut OR seq < :anchor "
                f"OR tableoid = '{default}'::regclass)"
            ),
            {"boundary": boundary, "cut": cut, "anchor": head.anchor_seq},
        ).one()
        if straggler[0] is None:
            break
        held_back = (
            "a record not linked yet"
            if straggler[1]
            else "a record waiting in the default partition"
            if straggler[2]
            else "a record linked out of order or before the anchor"
        )
        boundary = partitions.month_start(straggler[0])
    going = [p for p in partitions.partitions(session, table) if p.upper <= boundary]
    return _Plan(boundary=boundary, cut=cut, going=going, held_back=held_back)


def _verify_going(
    session: Session, chain: AuditChain, key: bytes, head: ChainHead, plan: _Plan
) -> tuple[str, int]:
    """Walk the links that go (`anchor_seq` .. `cut - 1`; only those past the current
    verify-ahead pass's mark, services/audit/marks.py), check that the first link that stays
    follows the last that goes, and count the rows before the boundary; returns the last
    link's hash and the row count, or raises AuditChainBroken."""
    model = CHAIN_MODELS[chain]
    t = table_of(model)
    last = plan.cut - 1
    mark = trusted_mark(session, head, key, database_now(session))
    if mark is not None and mark.seq >= last:
        # Walked by the current pass: the last link that goes was found whole then.
        found = (
            mark.hash
            if mark.seq == last
            else session.scalar(select(t.c.hash).where(t.c.seq == last).limit(1))
        )
        if found is None:
            raise AuditChainBroken(f"{chain.label}: refusing to drop: seq {last} is missing")
        last_hash = found
    else:
        segment = walk_chain(
            session,
            model,
            key,
            first_seq=mark.seq + 1 if mark else head.anchor_seq,
            first_prev=mark.hash if mark else head.anchor_prev_hash,
            last_seq=last,
        )
        if segment.failure is None and segment.next_seq != plan.cut:
            segment.failure = (
                ChainProblem.MISSING,
                segment.next_seq,
                "records missing before a drop",
            )
        if segment.failure is not None:
            _, seq, problem = segment.failure
            raise AuditChainBroken(f"{chain.label}: refusing to drop at seq {seq}: {problem}")
        last_hash = segment.last_hash
    # The kept chain starts where the dropped part ends: a first kept link that does not follow
    # (the last dropped link's hash changed since it was walked, or the kept link was) would
    # leave a chain that never verifies again, blaming the wrong record. Nothing goes then.
    follows = session.scalar(select(t.c.prev_hash).where(t.c.seq == plan.cut).limit(1))
    if plan.cut <= head.last_seq and not same_digest(follows, last_hash):
        raise AuditChainBroken(
            f"{chain.label}: refusing to drop: seq {plan.cut} does not follow seq {last}"
        )
    rows = session.scalar(select(func.count()).select_from(t).where(t.c.at < plan.boundary)) or 0
    if rows != plan.cut - head.anchor_seq:
        raise AuditChainBroken(
            f"{chain.label}: refusing to drop: {rows} records before {plan.boundary:%Y-%m} but "
            f"seq {head.anchor_seq}–{plan.cut - 1} is {plan.cut - head.anchor_seq} links"
        )
    return last_hash, rows


MOVED_WHILE_VERIFYING = "the chain's anchor moved while its oldest months were verified"


def drop_expired_partitions(
    session: Session, *, chain: AuditChain | str, older_than: datetime
) -> Dropped:
    """Drop the chain's monthly partitions whose every record is older than `older_than`
    (PostgreSQL, services/partitions.py), re-anchoring the chain past them first.

    The records dropped must be exactly the oldest links of the chain, `anchor_seq` up to
    the one before `cut` (the first link of a record that stays): a partition holding a record
    not linked yet, one linked after a younger record (appended in one month, committed in the
    next), or one before the anchor (evidence of tampering) stays, with every younger
    partition, until that is no longer so; retention then only keeps a month longer, never
    drops early. The segment is verified before it goes (a tampered one raises
    AuditChainBroken and nothing is dropped), and in the same transaction as the drop the
    head's MAC'd anchor moves to `cut` and a MAC'd re-anchor record (AuditReanchor) names the
    seqs and months that went, so `welfare audit verify` starts from the anchor and names the
    drop as retention.

    The verifying walk is the long part (a month of a city's access records is many millions
    of links) and runs without the chain's lock, so linking goes on meanwhile: the links below
    the head never change (append-only, and appending only adds above the head). The lock is
    taken for the short end only, where the plan is made again: if the anchor or the cut moved
    meanwhile (another retention run), nothing is dropped and the next run starts over.
    """
    chain = AuditChain(chain)
    key = session_keyring(session).audit_key
    peek = read_head(session, chain)
    if peek is None or peek.is_pristine:
        # Missing (tampering, refused by open_chain) or never started (nothing to drop).
        head = open_chain(session, chain, key)
        plan = _plan_drop(session, chain, head, older_than)
        verified = (
            _verify_going(session, chain, key, head, plan)
            if plan.going and plan.cut > head.anchor_seq
            else None
        )
    else:
        seen = authentic_head(session, chain, key)  # read without the lock
        plan = _plan_drop(session, chain, seen, older_than)
        if not plan.going:
            return Dropped(rows=0, months=[], held_back=plan.held_back)
        try:
            verified = (
                _verify_going(session, chain, key, seen, plan)
                if plan.cut > seen.anchor_seq
                else None
            )
        except AuditChainBroken:
            moved = read_head(session, chain)
            if moved is not None and moved.anchor_seq != seen.anchor_seq:
                # Another run dropped the start of this walk meanwhile: not tampering.
                return Dropped(rows=0, months=[], held_back=MOVED_WHILE_VERIFYING)
            raise
        head = open_chain(session, chain, key)
        again = _plan_drop(session, chain, head, older_than)
        if (head.anchor_seq, head.anchor_prev_hash, again.boundary, again.cut) != (
            seen.anchor_seq,
            seen.anchor_prev_hash,
            plan.boundary,
            plan.cut,
        ):
            return Dropped(rows=0, months=[], held_back=MOVED_WHILE_VERIFYING)
        plan = again
    if not plan.going:
        return Dropped(rows=0, months=[], held_back=plan.held_back)
    rows = 0
    if verified is not None:
        last_hash, rows = verified
        now = database_now(session)
        months = [p.month for p in plan.going]
        record = AuditReanchor(
            id=uuid.uuid4(),
            chain=chain.value,
            first_seq=head.anchor_seq,
            last_seq=plan.cut - 1,
            last_hash=last_hash,
            months=months,
            dropped_before=plan.boundary,
            at=now,
            mac="",
        )
        record.mac = reanchor_mac(key, reanchor_fields(record))
        session.add(record)
        session.flush()
        move_head(
            session,
            head,
            replace(head, anchor_seq=plan.cut, anchor_prev_hash=last_hash),
            key,
            now,
        )
    table = str(table_of(CHAIN_MODELS[chain]).name)
    for partition in plan.going:
        partitions.drop_partition(session, table, partition)
    return Dropped(rows=rows, months=[p.month for p in plan.going], held_back=plan.held_back)
