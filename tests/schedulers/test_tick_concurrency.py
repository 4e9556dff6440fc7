"""Ticks across processes: no duplicates, nothing lost to a SIGKILL, contacts never stale."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import ongi
from tests.support import live
from tests.support.databases import fresh_database
from welfare.crypto.keyring import Keyring
from welfare.database import Database
from welfare.migrate import upgrade
from welfare.models import FollowUp

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
LAPSED_AT = T0 + timedelta(hours=25)
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def shared(tmp_path: Path, keyring: Keyring) -> Iterator[tuple[str, str, Database]]:
    """A fresh, migrated database whose writes commit, usable from other processes."""
    with fresh_database(tmp_path, "live") as url:
        keyring_json = json.dumps(keyring.to_json())
        database = live.open_database(url, keyring_json)
        upgrade(database.engine)
        yield url, keyring_json, database
        database.dispose()


def live_followups(database: Database) -> list[tuple[object, str]]:
    with database.new_session() as s:
        return list(
            s.execute(
                select(FollowUp.subject_id, FollowUp.reason).where(
                    FollowUp.state.in_(("open", "escalated")), FollowUp.reason == "contact_lapsed"
                )
            ).all()
        )


@pytest.mark.postgres_only
@pytest.mark.parametrize("coordinate", [True, False], ids=["with-lock", "constraint-only"])
def test_four_concurrent_tick_processes_raise_one_follow_up_per_lapsed_resident(
    shared: tuple[str, str, Database], coordinate: bool
) -> None:
    url, keyring_json, database = shared
    ids = live.seed_lapsed(database, 12, T0)
    start_at = time.time() + 2.0
    with ProcessPoolExecutor(4, mp_context=SPAWN) as pool:
        statuses = list(
            pool.map(
                live.tick_process,
                [url] * 4,
                [keyring_json] * 4,
                [LAPSED_AT.isoformat()] * 4,
                [coordinate] * 4,
                [start_at] * 4,
            )
        )
    assert "failed" not in statuses
    raised = live_followups(database)
    assert sorted(str(s) for s, _ in raised) == sorted(str(i) for i in ids)


def test_a_tick_killed_mid_run_loses_nothing_and_the_next_completes(
    shared: tuple[str, str, Database], tmp_path: Path
) -> None:
    url, keyring_json, database = shared
    ids = live.seed_lapsed(database, 5, T0)
    marker = tmp_path / "raised.json"
    process = SPAWN.Process(
        target=live.slow_tick_process, args=(url, keyring_json, LAPSED_AT.isoformat(), str(marker))
    )
    process.start()
    live.wait_for(marker)
    assert json.loads(marker.read_text())["raised"] == 5  # raised, not yet committed
    live.kill(process.pid)  # type: ignore[arg-type]  # started, so it has a pid
    process.join(10)
    assert process.exitcode == -9
    assert live_followups(database) == []
    result = run_job(database, Job("followups", run_followups), as_of=LAPSED_AT)
    assert result.status == "succeeded"
    assert result.counts["raised"] == 5
    assert sorted(str(s) for s, _ in live_followups(database)) == sorted(str(i) for i in ids)


def test_a_contact_committed_while_a_tick_waits_leaves_no_follow_up_open(
    shared: tuple[str, str, Database],
) -> None:
    """The contact holds the enrollment row; the tick waits for it and then sees the contact."""
    _url, _keyring, database = shared
    (resident_id,) = live.seed_lapsed(database, 1, T0)
    contact_session = database.new_session()
    contact_in_progress = threading.Event()

    def slow_contact() -> None:
        ongi.log_contact(
            contact_session,
            actor=live.COUNSELOR,
            resident_id=resident_id,
            channel="phone",
            outcome="reached",
            occurred_at=LAPSED_AT,
            now=LAPSED_AT,
        )

    # Hold the contact's transaction open just before commit, then let the tick start.
    original_commit = contact_session.commit

    def delayed_commit() -> None:
        contact_in_progress.set()
        time.sleep(1.0)
        original_commit()

    contact_session.commit = delayed_commit  # type: ignore[method-assign]  # this session only
    worker = threading.Thread(target=slow_contact)
    worker.start()
    contact_in_progress.wait(10)
    result = run_job(database, Job("followups", run_followups), as_of=LAPSED_AT)
    worker.join(10)
    contact_session.close()
    assert result.status == "succeeded"
    assert live_followups(database) == []


def test_a_contact_arriving_while_a_tick_holds_the_row_resolves_what_it_raised(
    shared: tuple[str, str, Database], tmp_path: Path
) -> None:
    url, keyring_json, database = shared
    (resident_id,) = live.seed_lapsed(database, 1, T0)
    marker = tmp_path / "raised.json"
    process = SPAWN.Process(
        target=live.slow_tick_process, args=(url, keyring_json, LAPSED_AT.isoformat(), str(marker))
    )
    process.start()
    live.wait_for(marker)
    done = threading.Event()

    def contact() -> None:
        with database.new_session() as s:
            ongi.log_contact(
                s,
                actor=live.COUNSELOR,
                resident_id=resident_id,
                channel="phone",
                outcome="reached",
                occurred_at=LAPSED_AT,
                now=LAPSED_AT,
            )
        done.set()

    worker = threading.Thread(target=contact)
    worker.start()
    time.sleep(0.5)
    assert not done.is_set()  # the contact waits for the tick's lock
    live.kill(process.pid)  # type: ignore[arg-type]  # started, so it has a pid; the tick dies
    process.join(10)
    worker.join(30)
    assert done.is_set()
    run_job(database, Job("followups", run_followups), as_of=LAPSED_AT)
    assert live_followups(database) == []
    with database.new_session() as s:
        assert s.scalar(select(func.count()).select_from(FollowUp)) == 0
        assert s.execute(text("SELECT 1")).scalar_one() == 1
