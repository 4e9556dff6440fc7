"""A real, committed database shared by several processes (concurrency and crash tests)."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import ongi, residents
from tests.support.casework import with_check_digit
from welfare.crypto.keyring import Keyring
from welfare.database import Database
from welfare.models import Actor, Role

GASAN = "1154551000"
COUNSELOR = Actor(
    staff_id=uuid.UUID("00000000-0000-4000-8000-00000000c0c0"),
    role=Role.COUNSELOR,
    dongs=frozenset({GASAN}),
)


def open_database(url: str, keyring_json: str) -> Database:
    return Database(url, keyring=Keyring.from_json(json.loads(keyring_json)))


def seed_lapsed(database: Database, count: int, enrolled_at: datetime) -> list[uuid.UUID]:
    """`count` high-risk residents enrolled at `enrolled_at` (lapsed 24 h later)."""
    ids = []
    with database.new_session() as session:
        for n in range(count):
            view = residents.register_resident(
                session,
                actor=COUNSELOR,
                name=f"동시성{n}",
                rrn=with_check_digit(f"50{n % 12 + 1:02d}{n % 28 + 1:02d}2{n:05d}"),
                dong=GASAN,
                now=enrolled_at,
            )
            ongi.enroll(
                session,
                actor=COUNSELOR,
                resident_id=view.id,
                risk_level="high",
                now=enrolled_at,
                enrolled_at=enrolled_at,
            )
            ids.append(view.id)
    return ids


def tick_process(
    url: str, keyring_json: str, as_of_iso: str, coordinate: bool, start_at: float
) -> str:
    """Entry point for a separate process: wait for the common start, then tick once."""
    database = open_database(url, keyring_json)
    while time.time() < start_at:
        time.sleep(0.001)
    result = run_job(
        database,
        Job("followups", run_followups),
        as_of=datetime.fromisoformat(as_of_iso),
        coordinate=coordinate,
    )
    database.dispose()
    return result.status


def slow_tick_process(url: str, keyring_json: str, as_of_iso: str, marker: str) -> None:
    """Tick, but stall inside the transaction after raising, until killed."""

    def raise_then_hang(session: Session, as_of: datetime) -> Mapping[str, int]:
        counts = run_followups(session, as_of)
        session.flush()
        # Written whole, then renamed into place: the test polls for the file and reads it at
        # once, and a plain write could be seen half written (an empty file, a JSON error).
        partial = Path(f"{marker}.partial")
        partial.write_text(json.dumps(counts))
        partial.replace(marker)
        time.sleep(120)
        return counts

    database = open_database(url, keyring_json)
    run_job(database, Job("followups", raise_then_hang), as_of=datetime.fromisoformat(as_of_iso))


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if time.time() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.05)


__all__ = ["timedelta"]
