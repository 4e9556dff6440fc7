"""Retention: records past their legal period go, the chains still verify, evidence is kept."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schedulers import registry
from schedulers.audit_retention import RETENTION, prune_audit_records
from schedulers.runner import run_job
from services.audit import (
    AuditChainBroken,
    prune_chain,
    read_head,
    record_access,
    record_right_change,
    verify_chain,
)
from services.audit.link import link_pending
from tests.support.audit import act_as_dba, rewrite, staff_actor
from welfare.database import Database, database_now
from welfare.models import AccessRightChange, AuditChain, AuditEvent, Role


def access_at(session: Session, at: datetime) -> AuditEvent:
    """An access record appended at `at` and linked, as the audit_link job does within seconds."""
    event = record_access(
        session, actor=staff_actor(), action="read", resident_ids=[uuid.uuid4()], at=at
    )
    link_pending(session, AuditChain.ACCESS)
    return event


def right_change_at(session: Session, at: datetime) -> AccessRightChange:
    change = record_right_change(
        session,
        actor=staff_actor(Role.ADMIN),
        target_staff_id=uuid.uuid4(),
        change="role_changed",
        before={"role": "outreach"},
        after={"role": "counselor"},
        at=at,
    )
    link_pending(session, AuditChain.ACCESS_RIGHTS)
    return change


def prune_rows(session: Session, now: datetime) -> dict[str, int]:
    """Row retention, a prefix at a time: the job itself on SQLite; on PostgreSQL, where the job
    drops access records by whole monthly partitions (tests/schedulers/test_partitions.py),
    the same `prune_chain` the job still uses there for access-right changes."""
    if session.get_bind().dialect.name != "postgresql":
        return dict(prune_audit_records(session, now))
    return {
        f"{chain.value}_pruned": prune_chain(session, chain=chain, older_than=now - retention)
        for chain, retention in RETENTION.items()
    }


def count(session: Session, model: type[AuditEvent] | type[AccessRightChange]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_old_records_are_pruned_and_both_chains_still_verify(session: Session) -> None:
    now = database_now(session)
    for days in (900, 800, 731):
        access_at(session, now - timedelta(days=days))
    for days in (729, 10):
        access_at(session, now - timedelta(days=days))
    for days in (1200, 1096, 800):
        right_change_at(session, now - timedelta(days=days))

    counts = prune_rows(session, now)

    assert counts == {"access_pruned": 3, "access_rights_pruned": 2}
    assert sorted(session.scalars(select(AuditEvent.seq))) == [4, 5]
    assert list(session.scalars(select(AccessRightChange.seq))) == [3]
    access = verify_chain(session, AuditChain.ACCESS)
    rights = verify_chain(session, AuditChain.ACCESS_RIGHTS)
    assert (access.ok, access.checked, rights.ok, rights.checked) == (True, 2, True, 1)
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    assert (head.anchor_seq, head.last_seq) == (4, 5)

    access_at(session, now)  # the chain goes on from the same head
    assert verify_chain(session, AuditChain.ACCESS).checked == 3


def test_pruning_twice_deletes_nothing_more(session: Session) -> None:
    now = database_now(session)
    access_at(session, now - timedelta(days=800))
    access_at(session, now)
    assert prune_audit_records(session, now)["access_pruned"] == 1
    assert prune_audit_records(session, now)["access_pruned"] == 0
    assert verify_chain(session, AuditChain.ACCESS).ok


def test_a_chain_whose_records_all_expired_is_empty_and_valid(session: Session) -> None:
    now = database_now(session)
    for days in (1000, 900):
        access_at(session, now - timedelta(days=days))
    assert prune_audit_records(session, now)["access_pruned"] == 2
    assert count(session, AuditEvent) == 0
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.checked, result.head_seq) == (True, 0, 2)
    access_at(session, now)
    assert verify_chain(session, AuditChain.ACCESS).checked == 1


def test_only_a_prefix_is_pruned_so_an_old_record_after_a_young_one_waits(
    session: Session,
) -> None:
    now = database_now(session)
    access_at(session, now - timedelta(days=800))
    access_at(session, now - timedelta(days=5))
    access_at(session, now - timedelta(days=801))  # recorded late, with an old time
    assert prune_rows(session, now)["access_pruned"] == 1
    assert sorted(session.scalars(select(AuditEvent.seq))) == [2, 3]
    assert verify_chain(session, AuditChain.ACCESS).ok


def test_a_tick_in_the_future_never_prunes_what_the_law_still_requires(
    session: Session,
) -> None:
    now = database_now(session)
    access_at(session, now - timedelta(days=100))
    far_future = now + timedelta(days=5000)
    assert prune_audit_records(session, far_future)["access_pruned"] == 0
    assert count(session, AuditEvent) == 1


def test_a_tampered_segment_is_not_pruned_away(session: Session) -> None:
    now = database_now(session)
    access_at(session, now - timedelta(days=900))
    access_at(session, now - timedelta(days=800))
    access_at(session, now)
    act_as_dba(session)
    rewrite(session, AuditEvent, 2, ip="192.0.2.1")
    with pytest.raises(AuditChainBroken, match="refusing to prune at seq 2"):
        prune_rows(session, now)


def test_the_job_runs_through_the_runner_and_is_scheduled_daily(db: Database) -> None:
    with db.transaction() as s:
        now = database_now(s)
        access_at(s, now - timedelta(days=800))
        access_at(s, now)
    (job,) = [j for j in registry.SCHEDULE if j.name == "audit_retention"]
    assert job.every == timedelta(hours=24)
    result = run_job(db, job, as_of=now)
    expected = {"access_pruned": 1, "access_rights_pruned": 0}
    if db.dialect == "postgresql":
        # 800 days ago is in a month wholly past retention; the record waited in the DEFAULT
        # partition (the suite's database has only months from its migration on) until the
        # job gave it its month, then went with that month's partition.
        expected |= {"audit_events_moved": 1, "access_partitions_dropped": 1}
    assert (result.status, result.counts) == ("succeeded", expected)
    with db.new_session() as s:
        assert verify_chain(s, AuditChain.ACCESS).checked == 1
