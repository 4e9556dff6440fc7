"""The scheduler's own retention: `audit_link` alone writes a run row every 5 seconds (17,280 a
day), so old runs go; failed runs stay longer, and each job's latest runs always stay."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.scheduler_runs import prune_runs
from welfare.database import database_now

DEFAULT_KEEP = timedelta(days=7)  # WELFARE_SCHEDULER_RUNS_KEEP_DAYS
DEFAULT_KEEP_FAILED = timedelta(days=90)  # WELFARE_SCHEDULER_RUNS_KEEP_FAILED_DAYS


def prune_scheduler_runs(
    session: Session,
    as_of: datetime,
    *,
    keep: timedelta = DEFAULT_KEEP,
    keep_failed: timedelta = DEFAULT_KEEP_FAILED,
) -> Mapping[str, int]:
    """Delete runs past their keeping time. The clock is the earlier of `as_of` and the
    database's, so a tick run "in the future" never deletes runs that are still recent."""
    now = min(as_of, database_now(session))
    return prune_runs(session, now=now, keep=keep, keep_failed=keep_failed)
