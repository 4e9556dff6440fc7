"""A contact's client_ref counts once even when two requests with different bodies race: on
PostgreSQL the unique index includes the month's partition key (`occurred_at`), so the ref's
transaction lock is what keeps the second body out."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services import idempotency, ongi
from tests.support import live
from tests.support.databases import fresh_database
from welfare.crypto.keyring import Keyring
from welfare.database import Database
from welfare.migrate import upgrade
from welfare.models import Contact

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def database(tmp_path: Path, keyring: Keyring) -> Iterator[Database]:
    with fresh_database(tmp_path, "refs") as url:
        database = live.open_database(url, json.dumps(keyring.to_json()))
        upgrade(database.engine)
        yield database
        database.dispose()


def test_the_same_ref_with_another_month_waits_for_the_first_and_is_refused(
    database: Database,
) -> None:
    (resident_id,) = live.seed_lapsed(database, 1, T0)
    first_session = database.new_session()
    holding = threading.Event()
    original_commit = first_session.commit

    def slow_commit() -> None:
        holding.set()
        time.sleep(1.0)
        original_commit()

    first_session.commit = slow_commit  # type: ignore[method-assign]  # this session only

    def first() -> None:
        ongi.log_contact(
            first_session,
            actor=live.COUNSELOR,
            resident_id=resident_id,
            channel="phone",
            outcome="reached",
            occurred_at=T0 + timedelta(days=1),
            now=T0 + timedelta(days=40),
            client_ref="visit-7",
        )

    worker = threading.Thread(target=first)
    worker.start()
    assert holding.wait(10)
    with database.new_session() as s, pytest.raises(idempotency.IdempotencyKeyReused):
        ongi.log_contact(  # another body: another month, so another partition on PostgreSQL
            s,
            actor=live.COUNSELOR,
            resident_id=resident_id,
            channel="phone",
            outcome="reached",
            occurred_at=T0 + timedelta(days=35),
            now=T0 + timedelta(days=40),
            client_ref="visit-7",
        )
    worker.join(10)
    first_session.close()
    with database.new_session() as s:
        refs = s.scalar(
            select(func.count()).select_from(Contact).where(Contact.client_ref == "visit-7")
        )
    assert refs == 1
