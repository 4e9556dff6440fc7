"""The district plan's other services under concurrent writers in processes of their own, on
both databases: a hygiene visit recorded by four staff at once is recorded once and is one Ongi
contact; a dispatch finished by four at once is done once with one contact; the tick racing
counselors arriving on site never leaves a live `dispatch_overdue` for a dispatch already on
site."""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import dispatch, hygiene, residents
from tests.support import live
from tests.support.casework import unique_rrn
from tests.support.databases import fresh_database
from welfare.crypto.keyring import Keyring
from welfare.database import Database
from welfare.errors import DomainError
from welfare.migrate import upgrade
from welfare.models import Contact, Dispatch, FollowUp, HygieneVisit

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Seoul
SPAWN = multiprocessing.get_context("spawn")
TICK = Job("followups", run_followups)
RACERS = 4


@pytest.fixture
def shared(tmp_path: Path, keyring: Keyring) -> Iterator[tuple[str, str, Database]]:
    """A fresh, migrated database whose writes commit, usable from other processes."""
    with fresh_database(tmp_path, "races") as url:
        keyring_json = json.dumps(keyring.to_json())
        database = live.open_database(url, keyring_json)
        upgrade(database.engine)
        yield url, keyring_json, database
        database.dispose()


def _record_visit(database: Database, visit_id: str) -> str:
    with database.new_session() as session:
        try:
            hygiene.record_visit(
                session,
                actor=live.COUNSELOR,
                visit_id=uuid.UUID(visit_id),
                outcome="done",
                met=True,
                now=NOW + timedelta(minutes=30),
            )
        except DomainError as exc:
            return exc.code
    return "recorded"


def _finish(database: Database, dispatch_id: str) -> str:
    with database.new_session() as session:
        try:
            dispatch.finish(
                session,
                actor=live.COUNSELOR,
                dispatch_id=uuid.UUID(dispatch_id),
                outcome="no_need",
                now=NOW + timedelta(hours=1),
            )
        except DomainError as exc:
            return exc.code
    return "done"


def _arrive(database: Database, dispatch_id: str) -> str:
    with database.new_session() as session:
        dispatch.move(
            session,
            actor=live.COUNSELOR,
            dispatch_id=uuid.UUID(dispatch_id),
            to="on_site",
            now=NOW + timedelta(hours=5),
        )
    return "arrived"


def _tick(database: Database, _subject: str) -> str:
    run = run_job(database, TICK, as_of=NOW + timedelta(hours=5))
    return f"tick:{run.counts.get('dispatch_overdue_raised', 0)}"


ACTIONS: dict[str, Callable[[Database, str], str]] = {
    "record_visit": _record_visit,
    "finish": _finish,
    "arrive": _arrive,
    "tick": _tick,
}


def racer(url: str, keyring_json: str, action: str, subject: str, start_at: float) -> str:
    """One racer in a process of its own: `action` on `subject`, from the common start."""
    database = live.open_database(url, keyring_json)
    try:
        while time.time() < start_at:
            time.sleep(0.001)
        return ACTIONS[action](database, subject)
    finally:
        database.dispose()


def race(url: str, keyring_json: str, work: list[tuple[str, str]]) -> list[str]:
    """Run each (action, subject id) in its own process, all from one start."""
    start_at = time.time() + 3.0
    with ProcessPoolExecutor(len(work), mp_context=SPAWN) as pool:
        futures = [
            pool.submit(racer, url, keyring_json, action, subject, start_at)
            for action, subject in work
        ]
        return [f.result(timeout=120) for f in futures]


def resident(database: Database) -> uuid.UUID:
    with database.new_session() as s:
        return residents.register_resident(
            s, actor=live.COUNSELOR, name="경합", rrn=unique_rrn(), dong=live.GASAN, now=NOW
        ).id


def contacts(database: Database, program: str) -> int:
    with database.new_session() as s:
        return int(s.scalar(select(func.count()).where(Contact.program == program)) or 0)


def on_site_dispatch(database: Database, state: str = "on_site") -> uuid.UUID:
    """A dispatch to a registered resident, put straight into `state` (the steps before it are
    tested elsewhere; here only the race matters)."""
    rid = resident(database)
    with database.new_session() as s:
        view, _ = dispatch.request_dispatch(
            s,
            actor=live.COUNSELOR,
            dong=live.GASAN,
            urgency="urgent",
            requester_kind="dong_center",
            summary="경합 출동",
            resident_id=rid,
            now=NOW,
        )
        s.execute(
            update(Dispatch)
            .where(Dispatch.id == view.id)
            .values(state=state, on_site_at=NOW if state == "on_site" else None)
        )
        s.commit()
        return view.id


@pytest.mark.slow
def test_four_staff_recording_one_hygiene_visit_record_it_once_as_one_contact(
    shared: tuple[str, str, Database],
) -> None:
    url, keyring_json, database = shared
    rid = resident(database)
    with database.new_session() as s:
        hygiene.enroll(
            s,
            actor=live.COUNSELOR,
            resident_id=rid,
            provider="hygiene_care_provider",
            services=["bathing"],
            rrule="FREQ=WEEKLY;BYDAY=TU",
            dtstart=NOW,
            now=NOW,
        )
        first = s.scalars(
            select(HygieneVisit.id).where(HygieneVisit.resident_id == rid).order_by("scheduled_at")
        ).first()
    assert first is not None
    outcomes = race(url, keyring_json, [("record_visit", str(first))] * RACERS)
    assert outcomes.count("recorded") == 1, outcomes
    assert set(outcomes) <= {"recorded", "visit_recorded", "conflict"}, outcomes
    assert contacts(database, "hygiene_care") == 1


@pytest.mark.slow
def test_four_staff_finishing_one_dispatch_finish_it_once_as_one_contact(
    shared: tuple[str, str, Database],
) -> None:
    url, keyring_json, database = shared
    dispatch_id = on_site_dispatch(database)
    outcomes = race(url, keyring_json, [("finish", str(dispatch_id))] * RACERS)
    assert outcomes.count("done") == 1, outcomes
    assert set(outcomes) <= {"done", "dispatch_state", "conflict"}, outcomes
    assert contacts(database, "outreach_dispatch") == 1


@pytest.mark.slow
def test_the_tick_racing_arrivals_leaves_no_live_overdue_follow_up_for_one_on_site(
    shared: tuple[str, str, Database],
) -> None:
    url, keyring_json, database = shared
    late = [on_site_dispatch(database, state="en_route") for _ in range(RACERS - 1)]
    work = [("tick", "")] + [("arrive", str(d)) for d in late]
    outcomes = race(url, keyring_json, work)
    assert outcomes.count("arrived") == len(late), outcomes
    with database.new_session() as s:
        states = set(s.scalars(select(Dispatch.state).where(Dispatch.id.in_(late))))
        live_follow_ups = s.scalar(
            select(func.count()).where(
                FollowUp.subject_id.in_(late),
                FollowUp.reason == "dispatch_overdue",
                FollowUp.state.in_(("open", "escalated")),
            )
        )
    assert states == {"on_site"}
    assert live_follow_ups == 0
