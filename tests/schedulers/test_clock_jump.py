"""A clock jump backwards on a scheduler node raises no follow-up twice and loses none
(docs/operations.md, "Bad days").

Scheduled ticks take `as_of` from the database clock (`database_now`), never the node's own, and
never move it behind the last successful run of the same job: on PostgreSQL the server's clock
is the cluster's; on SQLite it is the machine's, so the guard is what keeps a jump back harmless.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from schedulers import runner
from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import SchedulerLoop, run_job
from services import ongi, residents
from tests.support.casework import unique_rrn
from tests.support.staff import GASAN, make_staff
from welfare.database import Database
from welfare.models import FollowUp, SchedulerRun

TICK = Job("followups", run_followups, every=timedelta(minutes=1))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The database clock as the scheduler sees it, set by the test (a node whose clock jumps
    is, on SQLite, a database whose clock jumps)."""
    now = [datetime(2026, 11, 3, 0, 0, tzinfo=UTC)]
    monkeypatch.setattr(runner, "database_now", lambda _session: now[0])
    return now


def enroll(app: Flask, db: Database, at: datetime) -> uuid.UUID:
    counselor = make_staff(app, "counselor", (GASAN,)).actor()
    with db.new_session() as s:
        view = residents.register_resident(
            s, actor=counselor, name="시계희", rrn=unique_rrn(), dong=GASAN, now=at
        )
        ongi.enroll(
            s, actor=counselor, resident_id=view.id, risk_level="high", now=at, enrolled_at=at
        )
    return view.id


def live_followups(db: Database) -> dict[uuid.UUID, int]:
    with db.new_session() as s:
        rows = s.execute(
            select(FollowUp.resident_id, func.count())
            .where(
                FollowUp.reason == "contact_lapsed", FollowUp.state.in_(("open", "acknowledged"))
            )
            .group_by(FollowUp.resident_id)
        ).all()
    return {rid: int(n) for rid, n in rows if rid is not None}


def test_a_clock_jump_backwards_raises_nothing_twice_and_loses_nothing(
    app: Flask, db: Database, clock: list[datetime]
) -> None:
    start = clock[0]
    early = enroll(app, db, start - timedelta(hours=30))  # lapsed 6 h before the first tick
    later = enroll(app, db, start - timedelta(hours=23, minutes=30))  # lapses 30 min after it
    loop = SchedulerLoop(db, jobs=[TICK], node="node-a")

    assert [r.status for r in loop.run_pending()] == ["succeeded"]
    assert live_followups(db) == {early: 1}

    clock[0] = start - timedelta(hours=2)  # the clock jumps two hours back: the loop runs at
    # once rather than wait two hours for its next minute, at the last run's instant
    (behind,) = loop.run_pending()
    assert behind.status == "succeeded" and behind.as_of == start  # never behind the last run
    assert live_followups(db) == {early: 1}

    clock[0] = start + timedelta(hours=1)  # and is set right again
    (after,) = loop.run_pending()
    assert after.as_of == start + timedelta(hours=1)
    assert live_followups(db) == {early: 1, later: 1}  # nothing twice, nothing lost
    with db.new_session() as s:
        as_ofs = s.scalars(
            select(SchedulerRun.as_of)
            .where(SchedulerRun.job == "followups")
            .order_by(SchedulerRun.started_at)
        ).all()
    assert sorted(as_ofs) == list(as_ofs)  # the runs' instants never go backwards


def test_an_operators_tick_far_ahead_does_not_drag_the_schedule_along(
    db: Database, clock: list[datetime]
) -> None:
    start = clock[0]
    ahead = run_job(db, TICK, as_of=start + timedelta(days=30))  # `scheduler tick --as-of`
    assert ahead.status == "succeeded"
    (scheduled,) = SchedulerLoop(db, jobs=[TICK], node="node-a").run_pending()
    assert scheduled.as_of == start  # the database clock, not the operator's instant
