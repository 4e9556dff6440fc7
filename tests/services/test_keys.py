"""Key rotation at the service level: races with erasure, unreadable keys, staff secrets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from services import auth, keys, residents
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
        session, actor=SYSTEM, name=f"주민{n}", rrn=f"6002{n + 1:02d}-1234567", dong=GASAN, now=NOW
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


def test_staff_totp_secrets_move_to_the_new_key_and_hold_the_old_one_until_they_do(
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
    auth.begin_totp_enrollment(session, staff=member)
    old_ring: Keyring = session.info[KEYRING_INFO]
    assert member.totp_secret is not None
    seed = open_sealed(
        old_ring, member.totp_secret, purpose=auth.TOTP_PURPOSE, owner=str(member.id)
    )
    ring = rotated(session)
    with pytest.raises(RuleViolation, match="1 staff secrets"):
        keys.retire(session, ring, old_ring.active.id)
    assert keys.reseal_staff_secrets(session, ring) >= 1
    assert sealed_key_id(member.totp_secret) == ring.active.id
    assert (
        open_sealed(ring, member.totp_secret, purpose=auth.TOTP_PURPOSE, owner=str(member.id))
        == seed
    )
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
