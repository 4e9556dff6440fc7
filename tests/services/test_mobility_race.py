"""Eight dispatchers in eight processes assign one vehicle to eight overlapping rides at once:
exactly one succeeds, the other seven get 409 `double_booked`, and the vehicle holds one busy
interval. On PostgreSQL the exclusion constraint decides; on SQLite the write lock does."""

from __future__ import annotations

import multiprocessing
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from services import mobility, residents
from services.audit import start_chains
from tests.support.casework import unique_rrn
from tests.support.databases import backend, fresh_database
from welfare.crypto.keyring import Keyring
from welfare.database import Database, make_engine
from welfare.errors import Conflict
from welfare.migrate import upgrade
from welfare.models import Actor, Ride, Role

WORKERS = 8
GASAN = "1154551000"
SUPERVISOR = Actor(
    staff_id=uuid.UUID("00000000-0000-4000-8000-00000000d15a"),
    role=Role.SUPERVISOR,
    dongs=frozenset({GASAN}),
)
SEOUL = ZoneInfo("Asia/Seoul")
OK, DOUBLE_BOOKED = 0, 3


def pickup_time() -> datetime:
    day = datetime.now(SEOUL).date() + timedelta(days=1)
    return datetime.combine(day, time(10, 0), tzinfo=SEOUL).astimezone(UTC)


def assign_one(url: str, keyring: dict[str, Any], start: Any, ids: tuple[str, str, str]) -> None:
    """One dispatcher: its own engine and transaction, as web nodes have."""
    ride_id, vehicle_id, driver_id = ids
    database = Database(url, keyring=Keyring.from_json(keyring))
    start.wait(timeout=60)
    code = OK
    try:
        with database.new_session() as session:
            mobility.assign(
                session,
                actor=SUPERVISOR,
                ride_id=uuid.UUID(ride_id),
                vehicle_id=uuid.UUID(vehicle_id),
                driver_id=uuid.UUID(driver_id),
                pickup_at=pickup_time() + timedelta(minutes=5),
                now=datetime.now(UTC),
            )
    except Conflict as refused:
        code = DOUBLE_BOOKED if refused.code == "double_booked" else 1
    finally:
        database.dispose()
    raise SystemExit(code)


def seed(database: Database) -> tuple[list[uuid.UUID], uuid.UUID, list[uuid.UUID]]:
    now = datetime.now(UTC)
    today = datetime.now(SEOUL).date()
    with database.new_session() as session:
        start_chains(session)
        session.commit()
        vehicle = mobility.add_vehicle(
            session, actor=SUPERVISOR, plate="서울80가8888", seats=4, wheelchair_spaces=1, now=now
        )
        drivers = [
            mobility.add_driver(session, actor=SUPERVISOR, name=f"운전원{n}", now=now).id
            for n in range(WORKERS)
        ]
        rides = []
        for n in range(WORKERS):
            resident = residents.register_resident(
                session, actor=SUPERVISOR, name=f"승객{n}", rrn=unique_rrn(), dong=GASAN, now=now
            )
            mobility.grant(
                session,
                actor=SUPERVISOR,
                resident_id=resident.id,
                basis="frail_elder",
                valid_from=today,
                valid_until=today + timedelta(days=90),
                now=now,
            )
            booked = mobility.book_ride(
                session,
                actor=SUPERVISOR,
                resident_id=resident.id,
                pickup_address="가산로 1",
                pickup_dong=GASAN,
                dropoff_address="시흥대로 2",
                dropoff_dong="1154567000",
                window_start=pickup_time(),
                window_end=pickup_time() + timedelta(minutes=30),
                now=now,
            )
            rides.append(booked.ride.id)
    return rides, vehicle.id, drivers


def race(tmp_path: Path, keyring: Keyring) -> None:
    with fresh_database(tmp_path, "dispatch") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        database = Database(url, keyring=keyring)
        try:
            rides, vehicle_id, drivers = seed(database)
        finally:
            database.dispose()
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(WORKERS)
        workers = [
            context.Process(
                target=assign_one,
                args=(url, keyring.to_json(), start, (str(ride), str(vehicle_id), str(driver))),
            )
            for ride, driver in zip(rides, drivers, strict=True)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=180)
        codes = sorted(w.exitcode for w in workers)
        database = Database(url, keyring=keyring)
        try:
            with database.snapshot() as session:
                holding = session.scalars(
                    select(Ride).where(Ride.vehicle_id == vehicle_id, Ride.state == "assigned")
                ).all()
                conflicts = session.execute(
                    text("SELECT count(*) FROM audit_events WHERE outcome = 'conflict'")
                ).scalar()
        finally:
            database.dispose()
    assert codes == [OK] + [DOUBLE_BOOKED] * (WORKERS - 1)
    assert len(holding) == 1
    assert conflicts == WORKERS - 1  # every refusal left its access record


@pytest.mark.postgres_only
@pytest.mark.slow
def test_eight_processes_assigning_one_vehicle_on_postgresql_exactly_one_succeeds(
    tmp_path: Path, keyring: Keyring
) -> None:
    race(tmp_path, keyring)


@pytest.mark.slow
@pytest.mark.skipif(backend() != "sqlite", reason="the SQLite leg of the same race")
def test_eight_processes_assigning_one_vehicle_on_sqlite_exactly_one_succeeds(
    tmp_path: Path, keyring: Keyring
) -> None:
    race(tmp_path, keyring)
