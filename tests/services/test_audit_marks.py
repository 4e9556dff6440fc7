"""Verified-up-to marks (services/audit/marks.py): the verify-ahead job walks each chain a slice
at a time and marks how far it was found whole; a forged mark is skipped, a bad link stops the
job with nothing marked, and the marks are what retention trusts."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from schedulers import registry
from services.audit import AuditChainBroken, ChainHead, read_head, record_access
from services.audit.link import link_pending
from services.audit.marks import PASS_AGE, current_pass, mark_fields, verify_ahead
from tests.support.audit import act_as_dba, rewrite, staff_actor
from welfare.crypto.chain import verified_mark_mac
from welfare.database import database_now, session_keyring
from welfare.models import AuditChain, AuditEvent, AuditVerifiedMark


def linked_records(session: Session, count: int) -> list[int]:
    """`count` access records appended and linked; their seqs."""
    events = [
        record_access(session, actor=staff_actor(), action="read", resident_ids=[uuid.uuid4()])
        for _ in range(count)
    ]
    link_pending(session, AuditChain.ACCESS)
    for event in events:
        session.refresh(event)
    return [e.seq for e in events if e.seq is not None]


def marks(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(AuditVerifiedMark.seq)
            .where(AuditVerifiedMark.chain == AuditChain.ACCESS.value)
            .order_by(AuditVerifiedMark.seq)
        )
    )


def key(session: Session) -> bytes:
    return session_keyring(session).audit_key


def add_mark(
    session: Session,
    head: ChainHead,
    seq: int,
    hash_: str,
    *,
    key: bytes,
    pass_from: int | None = None,
    pass_started_at: datetime | None = None,
) -> None:
    """A mark as the job writes one, MAC'd with `key` (the audit key, or another one)."""
    now = database_now(session)
    record = AuditVerifiedMark(
        id=uuid.uuid4(),
        chain=head.chain.value,
        seq=seq,
        hash=hash_,
        pass_from=head.anchor_seq if pass_from is None else pass_from,
        pass_started_at=now if pass_started_at is None else pass_started_at,
        at=now,
        mac="",
    )
    record.mac = verified_mark_mac(key, mark_fields(record, head))
    session.add(record)
    session.flush()


def test_each_run_walks_a_slice_past_the_last_mark_and_marks_its_end(session: Session) -> None:
    seqs = linked_records(session, 5)
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    before = marks(session)
    earlier = current_pass(session, head, key(session))  # a committed run of the job, if any
    total = head.last_seq - (earlier.seq + 1 if earlier else head.anchor_seq) + 1
    assert total >= 5

    walked = [verify_ahead(session, AuditChain.ACCESS, limit=total - 2)]
    walked.append(verify_ahead(session, AuditChain.ACCESS, limit=100))
    walked.append(verify_ahead(session, AuditChain.ACCESS, limit=100))

    assert sum(walked) == total and walked[-1] == 0
    assert marks(session)[len(before) :] == [head.last_seq - 2, head.last_seq]  # none for 0
    mark = current_pass(session, head, key(session))
    assert mark is not None and mark.seq == seqs[-1]
    assert mark.hash == session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seqs[-1]))
    more = linked_records(session, 2)
    assert verify_ahead(session, AuditChain.ACCESS) == 2  # only what came since
    assert marks(session)[-1] == more[-1]


def test_a_forged_mark_is_skipped_and_the_walk_starts_further_back(session: Session) -> None:
    linked_records(session, 3)
    assert verify_ahead(session, AuditChain.ACCESS) > 0
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    real = current_pass(session, head, key(session))
    assert real is not None
    more = linked_records(session, 4)
    # A mark claiming everything was verified, MAC'd with the wrong key.
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    hash_of_last = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == more[-1]))
    assert hash_of_last is not None
    add_mark(session, head, more[-1], hash_of_last, key=b"k" * 32)

    assert current_pass(session, head, key(session)) == real
    assert verify_ahead(session, AuditChain.ACCESS) == 4  # from the real mark, not the forged


def test_a_mark_from_a_chain_started_again_does_not_hold(session: Session) -> None:
    linked_records(session, 2)
    verify_ahead(session, AuditChain.ACCESS)
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None and current_pass(session, head, key(session)) is not None
    restarted = replace(head, genesis_hash="f" * 64)
    assert current_pass(session, restarted, key(session)) is None


def test_a_link_altered_ahead_of_the_marks_stops_the_job_with_nothing_marked(
    session: Session,
) -> None:
    linked_records(session, 2)
    verify_ahead(session, AuditChain.ACCESS)
    seqs = linked_records(session, 3)
    before = marks(session)
    act_as_dba(session)
    rewrite(session, AuditEvent, seqs[1], ip="192.0.2.66")
    with pytest.raises(AuditChainBroken, match=f"seq {seqs[1]}"):
        verify_ahead(session, AuditChain.ACCESS)
    assert marks(session) == before


def test_the_job_runs_every_chain_on_the_schedule(session: Session) -> None:
    linked_records(session, 1)
    (job,) = [j for j in registry.SCHEDULE if j.name == "audit_verify_ahead"]
    counts = job.run(session, database_now(session))
    assert set(counts) == {f"{chain.value}_verified" for chain in AuditChain}
    assert counts["access_verified"] >= 1
    again = job.run(session, database_now(session))
    assert again["access_verified"] == 0
    assert session.scalar(select(func.count()).select_from(AuditVerifiedMark)) >= 1


@pytest.mark.postgres_only
def test_marks_are_append_only(session: Session) -> None:
    linked_records(session, 1)
    verify_ahead(session, AuditChain.ACCESS)
    for statement in (
        "DELETE FROM audit_verified_marks",
        "UPDATE audit_verified_marks SET seq = seq + 1000",
        "TRUNCATE audit_verified_marks",
    ):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(statement))


def test_a_pass_a_day_old_ends_and_the_next_run_starts_again_at_the_anchor(
    session: Session,
) -> None:
    linked_records(session, 3)
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    now = database_now(session)
    last_hash = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == head.last_seq))
    assert last_hash is not None
    # A pass that walked the whole chain, started more than a day ago.
    add_mark(
        session,
        head,
        head.last_seq,
        last_hash,
        key=key(session),
        pass_started_at=now - 2 * PASS_AGE,
    )

    walked = verify_ahead(session, AuditChain.ACCESS)

    assert walked == head.last_seq - head.anchor_seq + 1  # every link again, from the anchor
    mark = current_pass(session, head, key(session))
    assert mark is not None and mark.pass_from == head.anchor_seq and mark.seq == head.last_seq
    assert mark.pass_started_at >= now
    assert verify_ahead(session, AuditChain.ACCESS) == 0  # the new pass is caught up


def test_a_mark_whose_link_no_longer_hashes_as_marked_is_skipped(session: Session) -> None:
    linked_records(session, 2)
    verify_ahead(session, AuditChain.ACCESS)
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    marked = current_pass(session, head, key(session))
    assert marked is not None
    more = linked_records(session, 2)
    verify_ahead(session, AuditChain.ACCESS)
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    act_as_dba(session)
    rewrite(session, AuditEvent, more[-1], hash="e" * 64)
    assert current_pass(session, head, key(session)) == marked  # the later mark is skipped
