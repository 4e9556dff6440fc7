"""Reading the scheduler's own record: runs, newest first (no personal data in them)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, func, or_, select
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


def prune_runs(
    session: Session, *, now: datetime, keep: timedelta, keep_failed: timedelta
) -> dict[str, int]:
    """Delete the runs older than `keep` (failed runs: older than `keep_failed`); returns how
    many. Each job's latest run and latest successful run are always kept: the schedule, the
    readiness checks and the metrics read them, whatever their age."""
    newest = (
        select(func.max(SchedulerRun.started_at).label("started_at"), SchedulerRun.job)
        .group_by(SchedulerRun.job)
        .subquery()
    )
    newest_good = (
        select(func.max(SchedulerRun.started_at).label("started_at"), SchedulerRun.job)
        .where(SchedulerRun.status == "succeeded")
        .group_by(SchedulerRun.job)
        .subquery()
    )
    kept = [
        ~select(latest)
        .where(latest.c.job == SchedulerRun.job, latest.c.started_at == SchedulerRun.started_at)
        .exists()
        for latest in (newest, newest_good)
    ]
    old = or_(
        and_(SchedulerRun.status != "failed", SchedulerRun.started_at < now - keep),
        SchedulerRun.started_at < now - keep_failed,
    )
    result = session.execute(
        delete(SchedulerRun).where(old, *kept).execution_options(synchronize_session=False)
    )
    return {"runs_pruned": cast(CursorResult[Any], result).rowcount}
