"""The job registry: which jobs exist and how often each runs. Jobs join as features land."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.orm import Session

from config import Settings
from schedulers.audit_checkpoints import write_audit_checkpoints
from schedulers.audit_link import link_audit_records
from schedulers.audit_retention import prune_audit_records
from schedulers.audit_verify import verify_audit_chains_ahead
from schedulers.followups import run_followups
from schedulers.mobility import materialize_recurring_rides
from schedulers.outbox import deliver_outbox
from schedulers.partitions import keep_partitions_ahead
from schedulers.scheduler_runs_retention import prune_scheduler_runs

Counts = Mapping[str, int]
JobFunction = Callable[[Session, datetime], Counts]


@dataclass(frozen=True, slots=True)
class Job:
    """A named job run at most once per `every`; the function must be safe to repeat."""

    name: str
    run: JobFunction
    every: timedelta = timedelta(minutes=1)


SCHEDULE: tuple[Job, ...] = (
    Job("followups", run_followups, every=timedelta(minutes=1)),
    Job("outbox", deliver_outbox, every=timedelta(seconds=30)),
    # Recurring rides become concrete rides over the rolling horizon (config/mobility.json).
    Job("mobility_rides", materialize_recurring_rides, every=timedelta(minutes=15)),
    # PostgreSQL: monthly partitions of access records and contacts exist ahead of time.
    Job("partitions", keep_partitions_ahead, every=timedelta(hours=6)),
    # Each chain verified a slice at a time ahead of retention, which then walks only the rest.
    Job("audit_verify_ahead", verify_audit_chains_ahead, every=timedelta(minutes=5)),
    Job("audit_retention", prune_audit_records, every=timedelta(hours=24)),
    # Access records appended since the last run join their chain (WELFARE_AUDIT_LINK_SECONDS);
    # after the jobs that write records, before the checkpoint that signs the new heads.
    Job("audit_link", link_audit_records, every=timedelta(seconds=5)),
    # Signed chain heads leave the database (WELFARE_AUDIT_CHECKPOINT_SECONDS overrides).
    Job("audit_checkpoint", write_audit_checkpoints, every=timedelta(minutes=5)),
    # The scheduler's own runs (WELFARE_SCHEDULER_RUNS_KEEP_DAYS, ..._KEEP_FAILED_DAYS).
    Job("scheduler_runs_retention", prune_scheduler_runs, every=timedelta(hours=1)),
)
"""Every job the scheduler runs, in order. Each job is level-triggered and idempotent."""


def configured(settings: Settings, jobs: tuple[Job, ...] | None = None) -> tuple[Job, ...]:
    """The schedule with the intervals the settings choose."""
    intervals = {
        "audit_checkpoint": settings.audit_checkpoint_interval,
        "audit_link": settings.audit_link_interval,
    }
    functions: dict[str, JobFunction] = {
        "audit_retention": partial(
            prune_audit_records, contact_retention=settings.contact_retention
        ),
        "scheduler_runs_retention": partial(
            prune_scheduler_runs,
            keep=settings.scheduler_runs_keep,
            keep_failed=settings.scheduler_runs_keep_failed,
        ),
    }
    return tuple(
        replace(
            job,
            every=intervals.get(job.name, job.every),
            run=functions.get(job.name, job.run),
        )
        for job in (SCHEDULE if jobs is None else jobs)
    )
