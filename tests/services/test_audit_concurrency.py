"""Writers in separate processes append to one chain at once, without waiting for each other
(no lock, no shared row); the linking job then leaves one chain that neither forks nor gaps."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from services.audit import (
    CHAIN_LOCK_KEYS,
    link_chains,
    record_access,
    record_right_change,
    verify_chain,
)
from tests.support.audit import staff_actor
from tests.support.databases import backend, fresh_database
from welfare.crypto.keyring import Keyring
from welfare.database import Database, make_engine
from welfare.migrate import upgrade
from welfare.models import AccessRightChange, AuditChain, AuditChainHead, AuditEvent, Role

WORKERS = 4
EVENTS_PER_WORKER = 50
RIGHT_CHANGE_EVERY = 10


def append_many(url: str, keyring: dict[str, Any], start: Any, events: int) -> None:
    """One worker process: its own engine, one transaction per record, as web nodes do."""
    database = Database(url, keyring=Keyring.from_json(keyring))
    actor, admin = staff_actor(), staff_actor(Role.ADMIN)
    start.wait(timeout=60)
    try:
        for i in range(events):
            with database.transaction() as session:
                record_access(session, actor=actor, action="read", resident_ids=[uuid.uuid4()])
                if i % RIGHT_CHANGE_EVERY == 0:
                    record_right_change(
                        session,
                        actor=admin,
                        target_staff_id=uuid.uuid4(),
                        change="created",
                        before={},
                        after={"role": "outreach"},
                    )
    finally:
        database.dispose()


@contextmanager
def chain_locked_by_a_linker(database: Database) -> Iterator[None]:
    """On PostgreSQL, hold what moving a chain takes (each chain's advisory lock and its head
    row) in another transaction, as a linker, retention or a stalled session would: appends
    must not need any of it. SQLite serializes every writer on its write lock anyway, so there
    the parent links while the workers append instead (see below)."""
    if database.dialect != "postgresql":
        yield
        return
    with database.transaction() as session:
        for key in CHAIN_LOCK_KEYS.values():
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        session.execute(select(AuditChainHead.chain).with_for_update()).all()
        yield


def append_from_four_processes(tmp_path: Path, keyring: Keyring) -> None:
    with fresh_database(tmp_path, "chain") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(WORKERS)
        workers = [
            context.Process(
                target=append_many, args=(url, keyring.to_json(), start, EVENTS_PER_WORKER)
            )
            for _ in range(WORKERS)
        ]
        database = Database(url, keyring=keyring)
        try:
            with chain_locked_by_a_linker(database):
                for worker in workers:
                    worker.start()
                deadline = time.monotonic() + 180  # a bound for a hang, never a timing
                while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
                    if database.dialect == "sqlite":  # the linking job racing the appends
                        with database.transaction() as session:
                            link_chains(session)
                    for worker in workers:
                        worker.join(timeout=0.05)
                # Every worker finished while the chain stayed locked: no append waited for it.
                assert [w.exitcode for w in workers] == [0] * WORKERS
            with database.transaction() as session:
                link_chains(session)
            with database.snapshot() as session:
                access = verify_chain(session, AuditChain.ACCESS)
                rights = verify_chain(session, AuditChain.ACCESS_RIGHTS)
                access_seqs = list(session.scalars(select(AuditEvent.seq).order_by("seq")))
                right_seqs = list(session.scalars(select(AccessRightChange.seq).order_by("seq")))
        finally:
            for worker in workers:
                if worker.is_alive():  # only after a failure: never leave one behind
                    worker.terminate()
                    worker.join(timeout=10)
            database.dispose()
    total = WORKERS * EVENTS_PER_WORKER
    assert (access.ok, access.checked, access.unlinked) == (True, total, 0), access.problem
    assert access_seqs == list(range(1, total + 1))
    changes = WORKERS * len(range(0, EVENTS_PER_WORKER, RIGHT_CHANGE_EVERY))
    assert (rights.ok, rights.checked) == (True, changes), rights.problem
    assert right_seqs == list(range(1, changes + 1))


@pytest.mark.postgres_only
@pytest.mark.slow
def test_four_processes_append_at_once_on_postgresql_while_the_chain_is_locked_and_link_gapless(
    tmp_path: Path, keyring: Keyring
) -> None:
    append_from_four_processes(tmp_path, keyring)


@pytest.mark.slow
@pytest.mark.skipif(backend() != "sqlite", reason="the SQLite leg of the same race")
def test_four_processes_appending_at_once_on_sqlite_leave_one_valid_gapless_chain(
    tmp_path: Path, keyring: Keyring
) -> None:
    append_from_four_processes(tmp_path, keyring)
