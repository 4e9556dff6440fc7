"""Retiring a master key and wrapping a new key under it never interleave: a node that has not
picked up a rotation yet never commits a data key (or a staff secret) under a retired key, whose
secret is erased, and a retirement never misses a key wrapped while it checked."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services import auth, key_retirement, keys, residents, vault
from tests.support.casework import with_check_digit
from tests.support.databases import fresh_database
from welfare.crypto.keyring import Keyring
from welfare.crypto.sealed import sealed_key_id
from welfare.database import KEYRING_INFO, KEYRING_SOURCE_INFO, Database
from welfare.migrate import upgrade
from welfare.models import Actor, DataKey, Staff, SystemMarker

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
GASAN = "1154551000"
SYSTEM = Actor.system("test")


def register(session: Session, n: int) -> uuid.UUID:
    view = residents.register_resident(
        session,
        actor=SYSTEM,
        name=f"주민{n}",
        rrn=with_check_digit(f"6103{n + 1:02d}123456"),
        dong=GASAN,
        now=NOW,
    )
    return view.id


def test_a_node_behind_a_retirement_wraps_under_the_newer_keyring_or_not_at_all(
    session: Session,
) -> None:
    """The node still holds the keyring whose active key is now retired in the database: it
    wraps the new resident's data key (and a staff secret) under the keyring file's newer
    active key; with no newer keyring at hand it refuses (503) rather than wrap under a key
    whose secret is gone."""
    stale: Keyring = session.info[KEYRING_INFO]
    newer = keys.rotate(stale, now=NOW)
    session.info[KEYRING_SOURCE_INFO] = lambda: newer
    key_retirement.mark_retired(session, stale.active.id, NOW)
    resident = register(session, 1)
    assert session.get_one(DataKey, resident).master_key_id == newer.active.id
    member = _staff(session)
    assert sealed_key_id(auth.seal_totp_secret(session, member, "JBSWY3DPEHPK3PXP")) == (
        newer.active.id
    )
    session.commit()  # a new transaction checks again
    del session.info[KEYRING_SOURCE_INFO]
    with pytest.raises(key_retirement.KeyringStale):
        register(session, 2)


def _staff(session: Session) -> Staff:
    member = Staff(
        id=uuid.uuid4(),
        username=f"r{uuid.uuid4().hex[:8]}",
        display_name="",
        role="counselor",
        is_active=True,
        password_hash="x",
        failed_logins=0,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(member)
    session.flush()
    return member


def test_a_refused_retirement_leaves_no_mark_and_a_done_one_does(session: Session) -> None:
    old: Keyring = session.info[KEYRING_INFO]
    register(session, 1)
    ring = keys.rotate(old, now=NOW)
    session.info[KEYRING_INFO] = ring
    session.commit()
    with pytest.raises(keys.KeyInUse):
        keys.retire(session, ring, old.active.id)
    session.rollback()
    assert session.get(SystemMarker, key_retirement.PREFIX + old.active.id) is None
    list(keys.rewrap_batches(session, ring, now=NOW))
    session.commit()
    keys.retire(session, ring, old.active.id)
    session.commit()
    assert session.get(SystemMarker, key_retirement.PREFIX + old.active.id) is not None


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[str, Keyring]]:
    """A migrated database of its own (two real connections contend here)."""
    with fresh_database(tmp_path, "retire") as url:
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
        yield url, Keyring.generate(for_development=False)


def in_thread(work: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except Exception as exc:  # the test reads what happened
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_on_postgresql_a_retirement_and_a_wrap_under_way_wait_for_each_other(
    shared: tuple[str, Keyring],
) -> None:
    url, first = shared
    if not url.startswith("postgresql"):
        pytest.skip("SQLite serializes every write transaction when it begins")
    second = keys.rotate(first, now=NOW)
    stale, current = Database(url, keyring=first), Database(url, keyring=second)
    current_source = lambda: second  # noqa: E731  # the keyring file a stale node would read
    stale.set_info(KEYRING_SOURCE_INFO, current_source)
    try:
        # A retirement under way: a wrap by a node still on `first` waits for it, then wraps
        # under the newer key.
        retiring = current.new_session()
        keys.retire(retiring, second, first.active.id)
        waiting = stale.new_session()
        subject = uuid.uuid4()
        thread, outcome = in_thread(lambda: vault.create_data_key(waiting, subject, NOW))
        thread.join(0.5)
        assert thread.is_alive()  # waiting for the retirement to commit
        retiring.commit()
        thread.join(10)
        assert "error" not in outcome, outcome
        waiting.commit()
        with current.new_session() as s:
            assert s.get_one(DataKey, subject).master_key_id == second.active.id

        # A wrap under way: a retirement waits for it, then counts its data key too (the one
        # above and this one: two) and refuses.
        third = keys.rotate(second, now=NOW)
        newest = Database(url, keyring=third)
        wrapping = current.new_session()  # a node still on `second`
        vault.create_data_key(wrapping, uuid.uuid4(), NOW)
        wrapping.flush()
        refusing = newest.new_session()
        thread, outcome = in_thread(lambda: keys.retire(refusing, third, second.active.id))
        thread.join(0.5)
        assert thread.is_alive()  # waiting for the wrap to commit
        wrapping.commit()
        thread.join(10)
        refused = outcome.get("error")
        assert isinstance(refused, keys.KeyInUse), outcome
        assert "still wraps 2 data keys" in str(refused), refused
        refusing.rollback()
        refusing.close()
        newest.dispose()
        wrapping.close()
        retiring.close()
        waiting.close()
    finally:
        stale.dispose()
        current.dispose()


def test_a_long_lived_session_checks_again_in_each_transaction(
    shared: tuple[str, Keyring],
) -> None:
    """A session that wraps first thing in each of its transactions (a worker, a command):
    before the transaction began there was none to remember the check by, and the next
    transaction's "none" must not pass for it."""
    url, first = shared
    second = keys.rotate(first, now=NOW)
    stale, current = Database(url, keyring=first), Database(url, keyring=second)
    try:
        with stale.new_session() as session:
            vault.create_data_key(session, uuid.uuid4(), NOW)  # the first statement
            session.commit()
            with current.new_session() as retiring:
                key_retirement.mark_retired(retiring, first.active.id, NOW)
                retiring.commit()
            with pytest.raises(key_retirement.KeyringStale):
                vault.create_data_key(session, uuid.uuid4(), NOW)  # first again, next one
    finally:
        stale.dispose()
        current.dispose()


def test_on_postgresql_a_savepoint_rolled_back_takes_its_check_along(
    shared: tuple[str, Keyring],
) -> None:
    """Rolling back to a savepoint releases the advisory lock taken after it: a wrap later in
    the same transaction takes it again (a retirement waits for it)."""
    url, keyring = shared
    if not url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's")
    db = Database(url, keyring=keyring)
    try:
        with db.new_session() as session, db.new_session() as other:
            session.connection()
            nested = session.begin_nested()
            vault.create_data_key(session, uuid.uuid4(), NOW)
            nested.rollback()
            vault.create_data_key(session, uuid.uuid4(), NOW)
            free = other.execute(
                select(func.pg_try_advisory_xact_lock(key_retirement.LOCK_KEY))
            ).scalar_one()
            assert free is False  # the wrap under way holds the shared lock
            other.rollback()
            session.rollback()
    finally:
        db.dispose()


def test_a_rewrap_never_moves_keys_under_a_key_retired_meanwhile(session: Session) -> None:
    """A rewrap run holding the keyring it started with, while a second rotation and a
    retirement of that keyring's active key went through: it stops instead."""
    old: Keyring = session.info[KEYRING_INFO]
    register(session, 1)
    ring = keys.rotate(old, now=NOW)
    newer = keys.rotate(ring, now=NOW)
    key_retirement.mark_retired(session, ring.active.id, NOW)
    with pytest.raises(key_retirement.KeyringStale):
        keys.rewrap_batch(session, ring, now=NOW)
    with pytest.raises(key_retirement.KeyringStale):
        keys.reseal_staff_secrets(session, ring)
    assert keys.rewrap_batch(session, newer, now=NOW).rewrapped == 1
