"""Key rotation at the service level: races with erasure, unreadable keys, staff secrets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from services import auth, keys, residents
from tests.support.casework import with_check_digit
from welfare.crypto.keyring import Keyring
from welfare.crypto.passwords import make_hasher
from welfare.crypto.sealed import open_sealed, sealed_key_id
from welfare.database import KEYRING_INFO
from welfare.errors import RuleViolation
from welfare.models import Actor, DataKey, Staff

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
GASAN = "1154551000"
SYSTEM = Actor.system("test")


def register(session: Session, n: int) -> uuid.UUID:
    view = residents.register_resident(
        session,
        actor=SYSTEM,
        name=f"주민{n}",
        rrn=with_check_digit(f"6002{n + 1:02d}123456"),
        dong=GASAN,
        now=NOW,
    )
    return view.id


def rotated(session: Session) -> Keyring:
    ring = keys.rotate(session.info[KEYRING_INFO], now=NOW)
    session.info[KEYRING_INFO] = ring
    return ring


def test_a_data_key_erased_while_its_batch_runs_is_not_brought_back(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim, other = register(session, 1), register(session, 2)
    ring = rotated(session)
    real_rewrap = keys.rewrap

    def erasure_lands_meanwhile(keyring: Keyring, wrapped: Any, subject: str) -> Any:
        new = real_rewrap(keyring, wrapped, subject)
        if subject == str(victim):
            session.execute(
                update(DataKey)
                .where(DataKey.subject_id == victim)
                .values(wrapped=None, master_key_id=None, destroyed_at=NOW)
            )
        return new

    monkeypatch.setattr(keys, "rewrap", erasure_lands_meanwhile)
    batch = keys.rewrap_batch(session, ring, now=NOW)
    assert batch.fetched >= 2
    session.expire_all()
    assert session.get_one(DataKey, victim).wrapped is None
    assert session.get_one(DataKey, other).master_key_id == ring.active.id


def test_a_data_key_that_cannot_be_unwrapped_is_reported_and_the_run_goes_on(
    session: Session,
) -> None:
    broken, fine = register(session, 1), register(session, 2)
    row = session.get_one(DataKey, broken)
    assert row.wrapped is not None
    row.wrapped = row.wrapped[:-1] + bytes([row.wrapped[-1] ^ 1])
    session.commit()
    ring = rotated(session)
    batches = list(keys.rewrap_batches(session, ring, now=NOW, batch_size=1))
    unreadable = [s for b in batches for s in b.unreadable]
    assert broken in unreadable
    assert session.get_one(DataKey, fine).master_key_id == ring.active.id
    with pytest.raises(RuleViolation, match="still wraps"):
        keys.retire(session, ring, row.master_key_id or "")


def test_staff_totp_secrets_enrolled_or_pending_move_to_the_new_key_and_hold_the_old_one(
    session: Session,
) -> None:
    member = Staff(
        id=uuid.uuid4(),
        username=f"totp{uuid.uuid4().hex[:6]}",
        display_name="",
        role="counselor",
        is_active=True,
        password_hash=make_hasher("fast").hash("a long enough passphrase"),
        failed_logins=0,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(member)
    session.flush()
    member.totp_secret = auth.seal_totp_secret(session, member, "JBSWY3DPEHPK3PXP")
    member.totp_pending_secret = auth.seal_totp_secret(session, member, "KRSXG5CTMVRXEZLU")
    session.flush()
    old_ring: Keyring = session.info[KEYRING_INFO]
    ring = rotated(session)
    with pytest.raises(RuleViolation, match="2 staff secrets"):
        keys.retire(session, ring, old_ring.active.id)
    assert keys.reseal_staff_secrets(session, ring) >= 2
    for sealed, seed in (
        (member.totp_secret, b"JBSWY3DPEHPK3PXP"),
        (member.totp_pending_secret, b"KRSXG5CTMVRXEZLU"),
    ):
        assert sealed is not None
        assert sealed_key_id(sealed) == ring.active.id
        assert open_sealed(ring, sealed, purpose=auth.TOTP_PURPOSE, owner=str(member.id)) == seed
    keys.retire(session, ring, old_ring.active.id)


def test_status_counts_what_depends_on_each_key(session: Session) -> None:
    first = [register(session, n) for n in range(3)]
    old = session.info[KEYRING_INFO].active.id
    ring = rotated(session)
    register(session, 9)
    counts = {s.id: s.data_keys for s in keys.status(session, ring)}
    assert counts[old] >= len(first)
    assert counts[ring.active.id] >= 1
    assert keys.pending_rewrap(session, ring) == counts[old]


def test_a_rewrap_run_reports_every_batch_to_its_progress_callback_and_sums_them(
    session: Session,
) -> None:
    ids = [register(session, n) for n in range(5)]
    ring = rotated(session)
    pending = keys.pending_rewrap(session, ring)
    assert pending >= len(ids)
    heard: list[int] = []
    report = keys.rewrap_to_active_key(
        session, ring, now=NOW, batch_size=2, on_progress=heard.append
    )
    assert sum(heard) == pending
    assert all(0 <= n <= 2 for n in heard)
    assert (report.rewrapped, report.batches, report.unreadable) == (pending, -(-pending // 2), [])
    assert report.finished
    assert keys.pending_rewrap(session, ring) == 0
    session.expire_all()
    assert {session.get_one(DataKey, i).master_key_id for i in ids} == {ring.active.id}


def test_a_rewrap_run_stopped_by_max_batches_is_not_finished_and_the_next_run_completes_it(
    session: Session,
) -> None:
    [register(session, n) for n in range(3)]
    ring = rotated(session)
    pending = keys.pending_rewrap(session, ring)
    heard: list[int] = []
    first = keys.rewrap_to_active_key(
        session, ring, now=NOW, batch_size=2, max_batches=1, on_progress=heard.append
    )
    assert heard == [2]
    assert (first.rewrapped, first.batches, first.finished) == (2, 1, False)
    rest = keys.rewrap_to_active_key(session, ring, now=NOW, batch_size=2)
    assert rest.rewrapped == pending - 2
    assert rest.finished


def test_a_data_key_that_cannot_be_unwrapped_still_lets_a_rewrap_run_finish(
    session: Session,
) -> None:
    broken, fine = register(session, 1), register(session, 2)
    row = session.get_one(DataKey, broken)
    assert row.wrapped is not None
    row.wrapped = row.wrapped[:-1] + bytes([row.wrapped[-1] ^ 1])
    session.commit()
    ring = rotated(session)
    report = keys.rewrap_to_active_key(session, ring, now=NOW, batch_size=1)
    assert report.unreadable == [broken]
    assert report.finished  # what is left cannot be moved by running again
    assert session.get_one(DataKey, fine).master_key_id == ring.active.id


@pytest.mark.parametrize("failure", [RuntimeError("killed"), KeyboardInterrupt()])
def test_a_rewrap_run_that_dies_says_how_far_it_got_and_keeps_its_committed_batches(
    session: Session, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    ids = [register(session, n) for n in range(5)]
    old = session.info[KEYRING_INFO].active.id
    ring = rotated(session)
    real_rewrap = keys.rewrap
    calls = iter(range(100))

    def dies_on_the_third_key(*args: Any) -> Any:
        if next(calls) == 2:
            raise failure
        return real_rewrap(*args)

    monkeypatch.setattr(keys, "rewrap", dies_on_the_third_key)
    heard: list[int] = []
    with pytest.raises(keys.RewrapInterrupted) as interrupted:
        keys.rewrap_to_active_key(session, ring, now=NOW, batch_size=2, on_progress=heard.append)
    assert interrupted.value.cause == type(failure).__name__
    assert interrupted.value.__cause__ is failure
    assert (interrupted.value.report.batches, interrupted.value.report.rewrapped) == (1, 2)
    assert heard == [2]
    session.expire_all()
    on_keys = sorted(session.get_one(DataKey, i).master_key_id or "" for i in ids)
    assert on_keys.count(ring.active.id) == 2
    assert on_keys.count(old) == 3
