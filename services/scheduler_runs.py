"""Reading the scheduler's own record: runs, newest first (no personal data in them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.pagination import KeyKind, Keyset, Page, paginate
from welfare.models import SchedulerRun

NEWEST_FIRST = Keyset.of(
    (SchedulerRun.started_at, KeyKind.INSTANT), (SchedulerRun.id, KeyKind.UUID), descending=True
)


def list_runs(
    session: Session, *, job: str | None, cursor: str | None, limit: int
) -> Page[SchedulerRun]:
    stmt = select(SchedulerRun)
    if job:
        stmt = stmt.where(SchedulerRun.job == job)
    return paginate(session, stmt, NEWEST_FIRST, cursor=cursor, limit=limit)


def last_success(session: Session, job: str | None = None) -> datetime | None:
    """The `as_of` of the latest successful run (of `job`, or of any job)."""
    stmt = select(SchedulerRun.as_of).where(SchedulerRun.status == "succeeded")
    if job:
        stmt = stmt.where(SchedulerRun.job == job)
    return session.scalar(stmt.order_by(SchedulerRun.as_of.desc()).limit(1))


def last_finished(session: Session, job: str) -> datetime | None:
    """When the latest successful run of `job` finished, on the database clock."""
    return session.scalar(
        select(SchedulerRun.finished_at)
        .where(SchedulerRun.status == "succeeded", SchedulerRun.job == job)
        .order_by(SchedulerRun.finished_at.desc())
        .limit(1)
    )


def latest_run(session: Session, job: str) -> SchedulerRun | None:
    """The latest run of `job` that ran (succeeded or failed), newest start first."""
    return session.scalar(
        select(SchedulerRun)
        .where(SchedulerRun.job == job, SchedulerRun.status.in_(("succeeded", "failed")))
        .order_by(SchedulerRun.started_at.desc())
        .limit(1)
    )
