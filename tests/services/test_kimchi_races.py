"""Allocations racing across processes: the last boxes go exactly once, and one household never
gets two boxes, however many agencies press the button at the same moment."""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services import kimchi, residents
from tests.support import live
from tests.support.casework import unique_rrn
from tests.support.databases import backend, fresh_database
from welfare.crypto.keyring import Keyring
from welfare.database import Database
from welfare.errors import Conflict
from welfare.migrate import upgrade
from welfare.models import Actor, KimchiAllocation, KimchiCampaign, Role

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
SPAWN = multiprocessing.get_context("spawn")
SUPERVISOR = Actor(
    staff_id=uuid.UUID("00000000-0000-4000-8000-00000000505e"),
    role=Role.SUPERVISOR,
    dongs=frozenset({live.GASAN}),
)


@pytest.fixture
def shared(tmp_path: Path, keyring: Keyring) -> Iterator[tuple[str, str, Database]]:
    """A fresh, migrated database whose writes commit, usable from other processes."""
    with fresh_database(tmp_path, "kimchi") as url:
        keyring_json = json.dumps(keyring.to_json())
        database = live.open_database(url, keyring_json)
        upgrade(database.engine)
        yield url, keyring_json, database
        database.dispose()


def allocate_process(
    url: str, keyring_json: str, campaign_id: str, resident_id: str, start_at: float
) -> str:
    """One agency's allocation in a process of its own, from a common start."""
    database = live.open_database(url, keyring_json)
    try:
        while time.time() < start_at:
            time.sleep(0.001)
        with database.new_session() as session:
            try:
                kimchi.allocate(
                    session,
                    actor=live.COUNSELOR,
                    campaign_id=uuid.UUID(campaign_id),
                    resident_id=uuid.UUID(resident_id),
                    agency=f"기관{resident_id[:4]}",
                    now=NOW,
                )
            except Conflict as exc:
                return exc.code
        return "allocated"
    finally:
        database.dispose()


def seed(database: Database, addresses: list[str], box_count: int) -> tuple[str, list[str]]:
    with database.new_session() as s:
        campaign = kimchi.create_campaign(
            s,
            actor=SUPERVISOR,
            name="동시 배분",
            starts_on=date(2026, 12, 1),
            ends_on=date(2026, 12, 20),
            box_count=box_count,
            now=NOW,
        )
        ids = [
            str(
                residents.register_resident(
                    s,
                    actor=live.COUNSELOR,
                    name=f"경합{n}",
                    rrn=unique_rrn(),
                    dong=live.GASAN,
                    address=address,
                    now=NOW,
                ).id
            )
            for n, address in enumerate(addresses)
        ]
    return str(campaign.id), ids


def race(url: str, keyring_json: str, campaign_id: str, resident_ids: list[str]) -> list[str]:
    start_at = time.time() + 3.0
    n = len(resident_ids)
    with ProcessPoolExecutor(n, mp_context=SPAWN) as pool:
        return list(
            pool.map(
                allocate_process,
                [url] * n,
                [keyring_json] * n,
                [campaign_id] * n,
                resident_ids,
                [start_at] * n,
            )
        )


def counts(database: Database, campaign_id: str) -> tuple[int, int]:
    with database.new_session() as s:
        allocations = s.scalar(
            select(func.count()).where(KimchiAllocation.campaign_id == uuid.UUID(campaign_id))
        )
        campaign = s.get(KimchiCampaign, uuid.UUID(campaign_id))
        assert campaign is not None
        return int(allocations or 0), campaign.allocated_boxes


@pytest.mark.postgres_only
@pytest.mark.slow
def test_eight_processes_allocating_the_last_five_boxes_make_exactly_five_allocations(
    shared: tuple[str, str, Database],
) -> None:
    url, keyring_json, database = shared
    campaign_id, ids = seed(database, [f"가산로 {n + 1}" for n in range(8)], box_count=5)
    outcomes = race(url, keyring_json, campaign_id, ids)
    assert sorted(outcomes) == ["allocated"] * 5 + ["out_of_stock"] * 3
    assert counts(database, campaign_id) == (5, 5)


@pytest.mark.postgres_only
@pytest.mark.slow
def test_two_agencies_allocating_one_household_at_once_give_it_one_box(
    shared: tuple[str, str, Database],
) -> None:
    url, keyring_json, database = shared
    campaign_id, ids = seed(
        database, ["서울특별시 금천구 가산로 5, 101호", "서울 금천구 가산로 5 101호"], 10
    )
    outcomes = race(url, keyring_json, campaign_id, ids)
    assert sorted(outcomes) == ["allocated", "already_allocated"]
    assert counts(database, campaign_id) == (1, 1)


@pytest.mark.slow
@pytest.mark.skipif(backend() != "sqlite", reason="the SQLite leg of the same race")
def test_on_sqlite_racing_allocations_also_respect_the_stock_and_the_household(
    shared: tuple[str, str, Database],
) -> None:
    url, keyring_json, database = shared
    addresses = ["가산로 9, 1호", "서울 금천구 가산로 9 1호", "가산로 10", "가산로 11"]
    campaign_id, ids = seed(database, addresses, box_count=2)
    outcomes = race(url, keyring_json, campaign_id, ids)
    assert outcomes.count("allocated") == 2
    assert counts(database, campaign_id) == (2, 2)
