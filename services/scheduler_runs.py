"""Reading the scheduler's own record: runs, newest first (no personal data in them)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from services.pagination import Page, decode_cursor, decode_instant, encode_cursor
from welfare.errors import InvalidInput
from welfare.models import SchedulerRun


def list_runs(
    session: Session, *, job: str | None, cursor: str | None, limit: int
) -> Page[SchedulerRun]:
    stmt = select(SchedulerRun)
    if job:
        stmt = stmt.where(SchedulerRun.job == job)
    if cursor:
        started_raw, id_raw = decode_cursor(cursor, 2)
        started = decode_instant(started_raw)
        try:
            last_id = uuid.UUID(id_raw)
        except ValueError:
            raise InvalidInput({"cursor": ["잘못된 커서입니다 (invalid cursor)"]}) from None
        stmt = stmt.where(
            or_(
                SchedulerRun.started_at < started,
                and_(SchedulerRun.started_at == started, SchedulerRun.id < last_id),
            )
        )
    rows = list(
        session.scalars(
            stmt.order_by(SchedulerRun.started_at.desc(), SchedulerRun.id.desc()).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return Page(
        items=rows,
        next_cursor=encode_cursor(last.started_at.isoformat(), last.id) if more and last else None,
    )


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
