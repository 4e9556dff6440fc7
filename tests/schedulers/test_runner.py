"""The tick runner: one transaction and one run row per job; failures roll back; locks skip."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from schedulers.registry import Job
from schedulers.runner import advisory_key, run_job, tick
from welfare.database import Database
from welfare.models import SchedulerLease, SchedulerRun, SystemMarker

AS_OF = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


def mark(session: Session, as_of: datetime) -> Mapping[str, int]:
    session.add(SystemMarker(key=f"ran-{as_of:%H%M}", value="", set_at=as_of))
    return {"marked": 1}


def explode(session: Session, as_of: datetime) -> Mapping[str, int]:
    session.add(SystemMarker(key="half-done", value="", set_at=as_of))
    session.flush()
    raise RuntimeError("boom")


def test_a_tick_runs_each_job_at_the_given_instant_and_records_it(db: Database) -> None:
    results = tick(db, as_of=AS_OF, jobs=[Job("mark", mark)])
    assert [(r.job, r.status, r.counts) for r in results] == [("mark", "succeeded", {"marked": 1})]
    with db.new_session() as s:
        run = s.scalars(select(SchedulerRun)).one()
        assert (run.job, run.status, run.as_of, run.counts) == (
            "mark",
            "succeeded",
            AS_OF,
            {"marked": 1},
        )
        assert run.finished_at is not None
        assert s.get(SystemMarker, "ran-0000") is not None


def test_a_failing_job_rolls_back_its_work_and_records_a_failed_run(db: Database) -> None:
    result = run_job(db, Job("explode", explode), as_of=AS_OF)
    assert result.status == "failed"
    assert result.error == "RuntimeError"
    with db.new_session() as s:
        assert s.get(SystemMarker, "half-done") is None
        run = s.scalars(select(SchedulerRun)).one()
        assert (run.status, run.error) == ("failed", "RuntimeError")


def test_without_as_of_the_database_clock_is_used(db: Database) -> None:
    before = datetime.now(UTC)
    (result,) = tick(db, jobs=[Job("mark", mark)])
    assert abs((result.as_of - before).total_seconds()) < 60


def test_a_sqlite_lease_held_by_another_node_skips_the_job(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("the lease is SQLite's coordination")
    with db.transaction() as s:
        s.add(
            SchedulerLease(
                job="mark", holder="other-node", expires_at=datetime(2999, 1, 1, tzinfo=UTC)
            )
        )
    assert run_job(db, Job("mark", mark), as_of=AS_OF, node="me").status == "skipped"
    with db.transaction() as s:
        s.get(SchedulerLease, "mark").expires_at = datetime(2000, 1, 1, tzinfo=UTC)  # type: ignore[union-attr]  # the run above took it
    assert run_job(db, Job("mark", mark), as_of=AS_OF, node="me").status == "succeeded"


@pytest.mark.postgres_only
def test_an_advisory_lock_held_elsewhere_skips_the_job(db: Database, engine: object) -> None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    with engine.connect() as other:
        other.begin()
        other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key("mark")})
        assert run_job(db, Job("mark", mark), as_of=AS_OF).status == "skipped"
        other.rollback()
