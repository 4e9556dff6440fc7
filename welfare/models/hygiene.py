"""Elder health & hygiene visits (어르신 건강 위생 안심서비스, `hygiene_care`): enrolled elders get
recurring home visits by a partner provider on an RRULE schedule."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from welfare.errors import RuleViolation
from welfare.models.base import Base, UUIDPk


class HygieneEnrollmentStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class VisitState(StrEnum):
    SCHEDULED = "scheduled"
    DONE = "done"
    MISSED = "missed"
    REFUSED = "refused"
    CANCELLED = "cancelled"  # the resident died, moved away or was erased before it came


ACTIVE_HYGIENE = text("status = 'active'")
# Visits that may need a missed-visit follow-up: not yet recorded, or recorded missed.
UNSETTLED = text("state IN ('scheduled', 'missed')")


class HygieneEnrollment(Base):
    """An elder enrolled for recurring visits: provider, services and the RRULE (Seoul time)."""

    __tablename__ = "hygiene_enrollments"
    __table_args__ = (
        Index(
            "uq_hygiene_enrollments_active_resident",
            "resident_id",
            unique=True,
            sqlite_where=ACTIVE_HYGIENE,
            postgresql_where=ACTIVE_HYGIENE,
        ),
        Index("ix_hygiene_enrollments_dong_enrolled", "dong_code", "enrolled_at", "id"),
        # The tick extends the schedules that run out soonest.
        Index(
            "ix_hygiene_enrollments_scheduled_until",
            "scheduled_until",
            sqlite_where=ACTIVE_HYGIENE,
            postgresql_where=ACTIVE_HYGIENE,
        ),
    )

    id: Mapped[UUIDPk]
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))  # copied for scoping in SQL
    provider: Mapped[str] = mapped_column(String(40))  # a hygiene_provider of partners.json
    services: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rrule: Mapped[str] = mapped_column(Text)
    dtstart: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default=HygieneEnrollmentStatus.ACTIVE.value)
    scheduled_until: Mapped[datetime]  # visits exist up to here
    enrolled_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    def end(self, *, at: datetime) -> None:
        if self.status != HygieneEnrollmentStatus.ACTIVE:
            raise RuleViolation("이미 종료된 등록입니다 (already ended)", code="already_ended")
        self.status = HygieneEnrollmentStatus.ENDED.value
        self.ended_at = at


class HygieneVisit(Base):
    """One scheduled visit, and what happened: done, missed or refused; whether the person was
    met (an Ongi contact) and whether a health observation is a concern."""

    __tablename__ = "hygiene_visits"
    __table_args__ = (
        Index("uq_hygiene_visits_enrollment_at", "enrollment_id", "scheduled_at", unique=True),
        Index("ix_hygiene_visits_dong_scheduled", "dong_code", "scheduled_at", "id"),
        Index(
            "ix_hygiene_visits_unsettled",
            "scheduled_at",
            sqlite_where=UNSETTLED,
            postgresql_where=UNSETTLED,
        ),
    )

    id: Mapped[UUIDPk]
    enrollment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hygiene_enrollments.id"))
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))
    scheduled_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(12), default=VisitState.SCHEDULED.value)
    met: Mapped[bool | None]
    health_concern: Mapped[bool] = mapped_column(default=False)
    observation_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed
    recorded_at: Mapped[datetime | None]
    recorded_by: Mapped[uuid.UUID | None]
    contact_id: Mapped[uuid.UUID | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    def record(
        self, *, state: VisitState, met: bool, concern: bool, by: uuid.UUID | None, at: datetime
    ) -> None:
        """What happened, once; a missed visit may still be recorded later as done or refused."""
        if self.state not in (VisitState.SCHEDULED, VisitState.MISSED) or (
            state is VisitState.SCHEDULED
        ):
            raise RuleViolation(
                "이미 기록된 방문입니다 (this visit is already recorded)", code="visit_recorded"
            )
        if state is VisitState.MISSED and (met or concern):
            raise RuleViolation(
                "방문하지 못했으면 만남·건강 소견을 기록할 수 없습니다 (a missed visit met nobody)",
                code="missed_visit_met",
            )
        self.state = state.value
        self.met = met
        self.health_concern = concern
        self.recorded_at = at
        self.recorded_by = by
