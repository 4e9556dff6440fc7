"""Retention of the keyed chains: delete the oldest prefix past the legal period, verified
first, and move the head's MAC'd anchor past it (2 years for access records, 3 for rights)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, text
from sqlalchemy.orm import Session

from services.audit.chain import (
    CHAIN_MODELS,
    AuditChainBroken,
    ChainProblem,
    move_head,
    open_chain,
    table_of,
)
from services.audit.verify import walk_chain
from welfare.database import database_now, session_keyring
from welfare.models import AuditChain


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
