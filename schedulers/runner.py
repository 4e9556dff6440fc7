"""Run jobs: one transaction per job, one `as_of` from the database clock, a run row each.

Coordination saves duplicate work across nodes; correctness never depends on it (constraints do).
PostgreSQL nodes take a transaction-scoped advisory lock (session-level locks break behind
PgBouncer); SQLite processes take a lease row in its own short transaction.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from schedulers import registry
from schedulers.registry import Job
from welfare import metrics
from welfare.database import Database, database_now
from welfare.models import SchedulerLease, SchedulerRun

log = logging.getLogger("welfare.scheduler")

LEASE_TTL = timedelta(minutes=5)


def default_node() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class JobResult:
    job: str
    status: str  # succeeded, failed, skipped
    as_of: datetime
    run_id: uuid.UUID | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "status": self.status,
            "as_of": self.as_of.isoformat(),
            "run_id": str(self.run_id) if self.run_id else None,
            "counts": self.counts,
            **({"error": self.error} if self.error else {}),
        }


def advisory_key(job: str) -> int:
    """A stable signed 64-bit key per job name for pg_try_advisory_xact_lock."""
    return int.from_bytes(
        hashlib.sha256(f"welfare:{job}".encode()).digest()[:8], "big", signed=True
    )


def run_job(
    database: Database,
    job: Job,
    *,
    as_of: datetime | None = None,
    node: str | None = None,
    coordinate: bool = True,
) -> JobResult:
    """Run one job once; a failure rolls its work back and is recorded as a failed run.

    With `coordinate`, a job another node is running (PostgreSQL advisory lock) or ran within
    its interval (SQLite lease) is skipped. The lease is taken inside the job's transaction, so a
    run killed mid-way leaves no lease behind and the next tick does the work.
    """
    node = node or default_node()
    sqlite = database.dialect == "sqlite"
    clock = time.perf_counter()
    result = _run_job(database, job, as_of=as_of, node=node, coordinate=coordinate, sqlite=sqlite)
    metrics.observe_job(job.name, result.status, time.perf_counter() - clock, result.counts)
    return result


def _run_job(
    database: Database,
    job: Job,
    *,
    as_of: datetime | None,
    node: str,
    coordinate: bool,
    sqlite: bool,
) -> JobResult:
    try:
        with database.transaction() as session:
            started_at = database_now(session)
            effective_as_of = as_of or _never_behind(session, job.name, started_at)
            if coordinate and not _coordinate(session, job, node, started_at, sqlite=sqlite):
                return JobResult(job=job.name, status="skipped", as_of=effective_as_of)
            run = SchedulerRun(
                id=uuid.uuid4(),
                job=job.name,
                as_of=effective_as_of,
                node=node,
                started_at=started_at,
                status="running",
                counts={},
            )
            session.add(run)
            session.flush()
            session.info["welfare.run_id"] = run.id  # jobs stamp what they raise with it
            counts = dict(job.run(session, effective_as_of))
            run.counts = counts
            run.status = "succeeded"
            run.finished_at = database_now(session)
        return JobResult(
            job=job.name, status="succeeded", as_of=effective_as_of, run_id=run.id, counts=counts
        )
    except Exception as exc:
        # Never the message: it may quote values. The type and the run row are enough to start.
        log.exception(
            "scheduler job failed", extra={"job": job.name, "error_type": type(exc).__name__}
        )
        failed_as_of = as_of or _now(database)
        run_id = _record_failure(database, job.name, failed_as_of, node, type(exc).__name__)
        return JobResult(
            job=job.name,
            status="failed",
            as_of=failed_as_of,
            run_id=run_id,
            error=type(exc).__name__,
        )


def _never_behind(session: Session, job: str, now: datetime) -> datetime:
    """The database clock, but never behind the clock reading of the last successful run of
    `job`: a clock set back (on SQLite the database clock is the machine's) repeats an instant
    already handled instead of stepping into the past (docs/operations.md, "Bad days"). Runs
    record that reading as `started_at` whatever instant they were given, so an operator's
    `scheduler tick --as-of` far ahead never drags the schedule along."""
    last = session.scalar(
        select(func.max(SchedulerRun.started_at)).where(
            SchedulerRun.job == job, SchedulerRun.status == "succeeded"
        )
    )
    if last is None:
        return now
    if last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    if last > now:
        log.warning("database clock behind the last run", extra={"job": job})
        return last
    return now


def _coordinate(session: Session, job: Job, node: str, now: datetime, *, sqlite: bool) -> bool:
    """Whether this node should run `job` now (saves duplicate work; never needed for safety)."""
    if not sqlite:
        return bool(
            session.execute(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": advisory_key(job.name)}
            ).scalar_one()
        )
    lease = session.get(SchedulerLease, job.name)
    if lease is not None and lease.holder != node and lease.expires_at > now:
        return False
    expires = now + min(job.every, LEASE_TTL)
    if lease is None:
        session.add(SchedulerLease(job=job.name, holder=node, expires_at=expires))
    else:
        lease.holder, lease.expires_at = node, expires
    return True


def tick(
    database: Database,
    *,
    as_of: datetime | None = None,
    jobs: Sequence[Job] | None = None,
    node: str | None = None,
) -> list[JobResult]:
    """Run every job once at one instant (default: the database clock now)."""
    jobs = registry.SCHEDULE if jobs is None else jobs
    if as_of is None:
        as_of = _now(database)
    # An operator's explicit tick runs regardless of leases: correctness never depends on them.
    return [run_job(database, job, as_of=as_of, node=node, coordinate=False) for job in jobs]


class SchedulerLoop:
    """Runs due jobs on their schedule until stopped; used by `serve` and `scheduler run`."""

    def __init__(
        self,
        database: Database,
        *,
        jobs: Iterable[Job] | None = None,
        poll: timedelta = timedelta(seconds=5),
        node: str | None = None,
        before_each: Callable[[], object] | None = None,
    ) -> None:
        self.database = database
        # Called before each look for due jobs: the CLI picks up a rotated keyring there.
        self.before_each = before_each
        self.jobs = tuple(registry.SCHEDULE if jobs is None else jobs)
        self.poll = poll
        self.node = node or default_node()
        self._stop = threading.Event()
        self._next_run: dict[str, datetime] = {}
        self._thread: threading.Thread | None = None

    def run_pending(self) -> list[JobResult]:
        results: list[JobResult] = []
        if self.before_each is not None:
            self.before_each()
        now = _now(self.database)
        for job in self.jobs:
            due = self._next_run.get(job.name, now)
            # A due time further ahead than one interval means the clock went back: run now
            # rather than wait for the clock to catch up again.
            if due <= now or due - now > job.every:
                result = run_job(self.database, job, node=self.node)
                results.append(result)
                self._next_run[job.name] = now + job.every
                if result.status == "failed":
                    log.error("job failed", extra={"job": job.name, "run_id": str(result.run_id)})
                else:
                    log.info(
                        "job ran",
                        extra={"job": job.name, "status": result.status, "counts": result.counts},
                    )
        return results

    def run_forever(self) -> None:
        log.info(
            "scheduler started", extra={"node": self.node, "jobs": [j.name for j in self.jobs]}
        )
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:  # the loop must survive a database outage; the next poll retries
                log.exception("scheduler loop error")
            self._stop.wait(self.poll.total_seconds())
        log.info("scheduler stopped", extra={"node": self.node})

    def start_thread(self) -> threading.Thread:
        self._thread = threading.Thread(
            target=self.run_forever, name="welfare-scheduler", daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def _now(database: Database) -> datetime:
    with database.new_session() as session:
        return database_now(session)


def _record_failure(
    database: Database, job: str, as_of: datetime, node: str, error: str
) -> uuid.UUID | None:
    try:
        with database.transaction() as session:
            now = database_now(session)
            run = SchedulerRun(
                id=uuid.uuid4(),
                job=job,
                as_of=as_of,
                node=node,
                started_at=now,
                finished_at=now,
                status="failed",
                counts={},
                error=error,
            )
            session.add(run)
        return run.id
    except Exception:
        log.exception("could not record failed scheduler run", extra={"job": job})
        return None
