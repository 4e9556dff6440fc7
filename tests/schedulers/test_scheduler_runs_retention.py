"""The scheduler's own runs are pruned: old runs go, failed runs stay longer, and each job's
latest run and latest successful run stay whatever their age."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from schedulers import registry
from schedulers.scheduler_runs_retention import prune_scheduler_runs
from welfare.database import database_now
from welfare.models import SchedulerRun


def run(session: Session, job: str, started_at: datetime, status: str = "succeeded") -> uuid.UUID:
    row = SchedulerRun(
        id=uuid.uuid4(),
        job=job,
        as_of=started_at,
        node="test",
        started_at=started_at,
        finished_at=started_at + timedelta(seconds=1),
        status=status,
        counts={},
        error="RuntimeError" if status == "failed" else None,
    )
    session.add(row)
    session.flush()
    return row.id


def kept(session: Session) -> set[uuid.UUID]:
    return set(session.scalars(select(SchedulerRun.id)))


def test_old_runs_go_failed_runs_stay_longer_and_each_jobs_latest_stay(session: Session) -> None:
    now = database_now(session)
    day = timedelta(days=1)
    old_link = run(session, "audit_link", now - 8 * day)
    recent_link = run(session, "audit_link", now - 6 * day)
    failed_link = run(session, "audit_link", now - 30 * day, "failed")
    ancient_failed = run(session, "audit_link", now - 91 * day, "failed")
    # A job that last succeeded long ago and has failed since: both latest runs stay.
    lone_success = run(session, "audit_checkpoint", now - 200 * day)
    old_failure = run(session, "audit_checkpoint", now - 150 * day, "failed")
    latest_failure = run(session, "audit_checkpoint", now - 100 * day, "failed")

    counts = prune_scheduler_runs(session, now)

    assert counts == {"runs_pruned": 3}
    assert kept(session) == {recent_link, failed_link, lone_success, latest_failure}
    assert {old_link, ancient_failed, old_failure}.isdisjoint(kept(session))
    assert prune_scheduler_runs(session, now) == {"runs_pruned": 0}


def test_a_tick_in_the_future_prunes_by_the_database_clock(session: Session) -> None:
    now = database_now(session)
    first = run(session, "outbox", now - timedelta(days=2))
    run(session, "outbox", now - timedelta(hours=1))
    assert prune_scheduler_runs(session, now + timedelta(days=30)) == {"runs_pruned": 0}
    assert first in kept(session)


def test_the_keeping_times_come_from_the_settings() -> None:
    settings = Settings.from_env(
        {
            "WELFARE_SCHEDULER_RUNS_KEEP_DAYS": "2",
            "WELFARE_SCHEDULER_RUNS_KEEP_FAILED_DAYS": "30",
        }
    )
    (job,) = [j for j in registry.configured(settings) if j.name == "scheduler_runs_retention"]
    assert job.run.keywords == {"keep": timedelta(days=2), "keep_failed": timedelta(days=30)}  # type: ignore[attr-defined]
    assert job.every == timedelta(hours=1)
    assert [j.name for j in registry.configured(settings)] == [j.name for j in registry.SCHEDULE]
