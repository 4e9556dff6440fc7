"""System records: scheduler runs, leases for SQLite coordination, and one-time markers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from welfare.models.base import Base, UUIDPk


class SchedulerRun(Base):
    """One execution of one scheduler job at one `as_of`: what it did and whether it worked."""

    __tablename__ = "scheduler_runs"
    __table_args__ = (Index("ix_scheduler_runs_job_started", "job", "started_at"),)

    id: Mapped[UUIDPk]
    job: Mapped[str] = mapped_column(String(60))
    as_of: Mapped[datetime]
    node: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))  # running, succeeded, failed, skipped
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class SchedulerLease(Base):
    """A lease per job, the SQLite stand-in for PostgreSQL's advisory lock.

    The lease saves duplicate work only; uniqueness of follow-ups is guaranteed by constraints.
    """

    __tablename__ = "scheduler_leases"

    job: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime]


class SystemMarker(Base):
    """A named fact about this installation, e.g. that the demo district was seeded."""

    __tablename__ = "system_markers"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), default="")
    set_at: Mapped[datetime]
