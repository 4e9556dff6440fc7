"""Access records appended sealed and linked in batches: nothing lost between append and link,
nothing altered before linking goes unnoticed, and what waits is reported with its age."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from config import Settings
from schedulers import registry
from schedulers.registry import Job
from schedulers.runner import run_job
from services.audit import (
    ChainProblem,
    link_chains,
    link_pending,
    pending,
    read_head,
    record_access,
    record_right_change,
    start_chains,
    verify_chain,
)
from tests.support.audit import act_as_dba, staff_actor
from tests.support.databases import fresh_database
from welfare.crypto.keyring import Keyring
from welfare.database import Database, make_engine
from welfare.migrate import downgrade, upgrade
from welfare.models import AccessRightChange, AuditChain, AuditEvent, Role

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def append(session: Session, count: int) -> list[AuditEvent]:
    actor = staff_actor()
    return [
        record_access(
            session,
            actor=actor,
            action="read",
            resident_ids=[uuid.uuid4()],
            at=T0 + timedelta(minutes=i),
        )
        for i in range(count)
    ]


def unlinked(session: Session) -> int:
    return session.scalar(select(func.count()).where(AuditEvent.seq.is_(None))) or 0


def test_an_append_is_sealed_and_waits_unlinked_without_moving_the_head(session: Session) -> None:
    before = read_head(session, AuditChain.ACCESS)
    (event,) = append(session, 1)
    assert (event.seq, event.prev_hash, event.hash) == (None, None, None)
    assert event.seal is not None and len(event.seal) == 64
    assert read_head(session, AuditChain.ACCESS) == before
    waiting = pending(session, AuditChain.ACCESS)
    assert (waiting.count, waiting.oldest_at) == (1, T0)
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.checked, result.unlinked, result.oldest_unlinked_at) == (
        True,
        0,
        1,
        T0,
    )


def test_linking_numbers_the_oldest_first_and_moves_the_head_once_per_batch(
    session: Session,
) -> None:
    events = append(session, 5)
    assert link_pending(session, AuditChain.ACCESS, batch_size=2) == {
        "linked": 5,
        "seal_mismatch": 0,
    }
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None and (head.last_seq, head.last_hash) == (5, events[-1].hash)
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.checked, result.unlinked) == (True, 5, 0)


def test_a_run_links_at_most_its_bound_and_the_next_run_takes_the_rest(session: Session) -> None:
    append(session, 5)
    assert link_pending(session, AuditChain.ACCESS, batch_size=2, limit=3)["linked"] == 3
    assert unlinked(session) == 2
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.checked, result.unlinked) == (True, 3, 2)
    assert link_pending(session, AuditChain.ACCESS)["linked"] == 2
    assert verify_chain(session, AuditChain.ACCESS).checked == 5


def test_both_chains_are_linked_by_the_job_s_step(session: Session) -> None:
    append(session, 2)
    record_right_change(
        session,
        actor=staff_actor(Role.ADMIN),
        target_staff_id=uuid.uuid4(),
        change="created",
        before={},
        after={"role": "counselor"},
    )
    assert link_chains(session) == {"access_linked": 2, "access_rights_linked": 1}
    assert link_chains(session) == {"access_linked": 0, "access_rights_linked": 0}
    assert verify_chain(session, AuditChain.ACCESS_RIGHTS).checked == 1


@pytest.mark.parametrize(
    "edit",
    [{"action": "search"}, {"resident_ids": []}, {"at": T0 + timedelta(hours=1)}],
    ids=["action", "resident_ids", "at"],
)
def test_a_record_altered_before_it_was_linked_is_caught_before_and_after_linking(
    session: Session, edit: dict[str, object]
) -> None:
    events = append(session, 3)
    act_as_dba(session)
    table = AuditEvent.__table__
    session.execute(update(table).where(table.c.id == events[1].id).values(**edit))
    before = verify_chain(session, AuditChain.ACCESS)
    assert (before.ok, before.kind, before.first_bad_seq) == (False, ChainProblem.ALTERED, None)
    assert str(events[1].id) in (before.problem or "")
    assert "not linked yet, was altered: its seal does not match" in (before.problem or "")

    # The linker still links it, so it can no longer be deleted unnoticed, and counts it.
    assert link_pending(session, AuditChain.ACCESS)["seal_mismatch"] == 1
    session.expire_all()
    seq = session.scalar(select(AuditEvent.seq).where(AuditEvent.id == events[1].id))
    after = verify_chain(session, AuditChain.ACCESS)
    assert (after.ok, after.kind, after.first_bad_seq) == (False, ChainProblem.ALTERED, seq)
    assert "altered before it was linked: its seal does not match" in (after.problem or "")


def test_a_record_stripped_of_its_seal_before_linking_is_caught(session: Session) -> None:
    events = append(session, 2)
    act_as_dba(session)
    table = AuditEvent.__table__
    session.execute(
        update(table).where(table.c.id == events[0].id).values(seal=None, outcome="denied")
    )
    assert verify_chain(session, AuditChain.ACCESS).kind is ChainProblem.ALTERED
    link_pending(session, AuditChain.ACCESS)
    session.expire_all()
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.kind) == (False, ChainProblem.ALTERED)
    assert "linked without its seal" in (result.problem or "")


def test_a_record_altered_after_it_was_linked_is_caught_by_its_link(session: Session) -> None:
    events = append(session, 3)
    link_pending(session, AuditChain.ACCESS)
    act_as_dba(session)
    table = AuditEvent.__table__
    # Rewritten with a seal recomputed... which needs the key: here, the seal of another record.
    session.execute(
        update(table).where(table.c.seq == 2).values(seal=events[0].seal, action="search")
    )
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.kind, result.first_bad_seq) == (False, ChainProblem.ALTERED, 2)


def test_a_crash_between_append_and_link_loses_nothing(tmp_path: Path, keyring: Keyring) -> None:
    """The append commits; the linking run dies before its commit; the next run links all."""

    def crashing_link(session: Session, as_of: datetime) -> dict[str, int]:
        counts = link_chains(session)
        assert counts["access_linked"] == 4
        raise RuntimeError("the node died before the linking committed")

    with fresh_database(tmp_path, "link") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        database = Database(url, keyring=keyring)
        try:
            with database.transaction() as session:
                start_chains(session)  # as `welfare db upgrade` does
            with database.transaction() as session:
                append(session, 4)
            crashed = run_job(database, Job("audit_link", crashing_link), coordinate=False)
            assert (crashed.status, crashed.error) == ("failed", "RuntimeError")
            with database.snapshot() as session:
                result = verify_chain(session, AuditChain.ACCESS)
                assert (result.ok, result.checked, result.unlinked) == (True, 0, 4)
            (job,) = [j for j in registry.SCHEDULE if j.name == "audit_link"]
            ran = run_job(database, job, coordinate=False)
            assert (ran.status, ran.counts["access_linked"]) == ("succeeded", 4)
            with database.snapshot() as session:
                result = verify_chain(session, AuditChain.ACCESS)
                assert (result.ok, result.checked, result.unlinked) == (True, 4, 0)
        finally:
            database.dispose()


def test_the_link_job_runs_every_five_seconds_before_the_checkpoint_unless_configured(
    settings: Settings,
) -> None:
    names = [j.name for j in registry.SCHEDULE]
    assert names.index("audit_link") < names.index("audit_checkpoint")
    (job,) = [j for j in registry.SCHEDULE if j.name == "audit_link"]
    assert job.every == timedelta(seconds=5)
    slower = replace(settings, audit_link_interval=timedelta(seconds=20))
    (configured,) = [j for j in registry.configured(slower) if j.name == "audit_link"]
    assert configured.every == timedelta(seconds=20)


def test_downgrading_past_batch_linking_is_refused_while_records_are_sealed(
    tmp_path: Path, keyring: Keyring
) -> None:
    with fresh_database(tmp_path, "down") as url:
        engine = make_engine(url)
        upgrade(engine)
        database = Database(url, keyring=keyring)
        try:
            with database.transaction() as session:
                append(session, 1)
                link_chains(session)
            with pytest.raises(RuntimeError, match="unlinked or sealed"):
                downgrade(engine, "0011")
            with database.snapshot() as session:
                assert verify_chain(session, AuditChain.ACCESS).checked == 1
        finally:
            database.dispose()
            engine.dispose()


def test_a_right_change_altered_before_linking_is_caught(session: Session) -> None:
    change = record_right_change(
        session,
        actor=staff_actor(Role.ADMIN),
        target_staff_id=uuid.uuid4(),
        change="role_changed",
        before={"role": "outreach"},
        after={"role": "counselor"},
    )
    act_as_dba(session)
    table = AccessRightChange.__table__
    session.execute(update(table).where(table.c.id == change.id).values(after={"role": "admin"}))
    link_pending(session, AuditChain.ACCESS_RIGHTS)
    session.expire_all()
    result = verify_chain(session, AuditChain.ACCESS_RIGHTS)
    assert (result.ok, result.kind, result.first_bad_seq) == (False, ChainProblem.ALTERED, 1)
