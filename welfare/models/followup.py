"""Follow-ups: the work item every program raises, with its append-only event history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from welfare.errors import RuleViolation
from welfare.models.base import Base, UUIDPk


class FollowUpState(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"

    @property
    def is_live(self) -> bool:
        return self in (FollowUpState.OPEN, FollowUpState.ESCALATED)


class FollowUpReason(StrEnum):
    CONTACT_LAPSED = "contact_lapsed"
    CARE_RESPONSE_OVERDUE = "care_response_overdue"
    DELIVERY_FAILED = "delivery_failed"
    RIDE_NO_SHOW = "ride_no_show"
    ELIGIBILITY_EXPIRING = "eligibility_expiring"  # mobility: a ride eligibility ends soon
    SCHEDULER_STALLED = "scheduler_stalled"
    DATA_UNREADABLE = "data_unreadable"  # a stored value failed authentication
    WELFARE_CONCERN = "welfare_concern"  # kimchi: a deliverer saw someone who seemed unwell
    GATEWAY_SILENT = "gateway_silent"  # a gateway sent nothing for longer than its threshold
    PARTNER_UNANSWERED = "partner_unanswered"  # a partner agency has not answered a referral
    DISPATCH_OVERDUE = "dispatch_overdue"  # no counselor on site by the dispatch's deadline
    HYGIENE_VISIT_MISSED = "hygiene_visit_missed"  # a health & hygiene visit did not happen


LIVE = text("state IN ('open', 'escalated')")
GROUPED = text("incident_id IS NOT NULL")


class FollowUp(Base):
    """Work raised when something needs a person's attention, from raise to resolution."""

    __tablename__ = "followups"
    __table_args__ = (
        # Idempotency is a constraint, not a hope: one live follow-up per subject and reason.
        Index(
            "uq_followups_live_subject_reason",
            "subject_id",
            "reason",
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
        # The staff queue: open follow-ups of one dong by due time.
        Index(
            "ix_followups_live_dong_due",
            "dong_code",
            "due_at",
            "id",
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
        Index(
            "ix_followups_live_escalation",
            "next_escalation_at",
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
        Index("ix_followups_resident_id", "resident_id"),
        # The follow-ups grouped under an incident (a silent gateway), highest risk first.
        Index(
            "ix_followups_incident",
            "incident_id",
            "risk_rank",
            "due_at",
            "id",
            sqlite_where=GROUPED,
            postgresql_where=GROUPED,
        ),
    )

    id: Mapped[UUIDPk]
    subject_type: Mapped[str] = mapped_column(String(20))  # resident, care_request, gateway, …
    subject_id: Mapped[uuid.UUID]  # the resident, the request, or a fixed id for system alarms
    resident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str | None] = mapped_column(String(10))
    program: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(40))
    risk_level: Mapped[str | None] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(12), default=FollowUpState.OPEN.value)
    step: Mapped[int] = mapped_column(default=1)
    due_at: Mapped[datetime]
    next_escalation_at: Mapped[datetime | None]
    assignee_id: Mapped[uuid.UUID | None]
    raised_at: Mapped[datetime]
    raised_by_run_id: Mapped[uuid.UUID | None]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[uuid.UUID | None]
    outcome: Mapped[str | None] = mapped_column(String(40))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The incident this follow-up is grouped under (a gateway_silent follow-up), whose notices
    # go out per team instead of one per follow-up; and the risk level's place in
    # config/risk_levels.json (0 is the highest), so a group lists highest risk first.
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("followups.id"))
    risk_rank: Mapped[int | None]
    version: Mapped[int] = mapped_column(default=1)

    events: Mapped[list[FollowUpEvent]] = relationship(
        order_by="FollowUpEvent.at", lazy="raise_on_sql", viewonly=True
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    @property
    def state_enum(self) -> FollowUpState:
        return FollowUpState(self.state)

    def ensure_live(self) -> None:
        if not self.state_enum.is_live:
            raise RuleViolation(
                "이미 종결된 후속조치입니다 (follow-up already closed)", code="followup_closed"
            )

    def close(
        self, *, state: FollowUpState, outcome: str, by: uuid.UUID | None, at: datetime
    ) -> None:
        """End a live follow-up: resolved by someone, or cancelled because its cause cleared.
        It stops escalating; if the cause persists, the next tick raises a new one."""
        if state.is_live:
            raise ValueError(f"{state} does not close a follow-up")
        self.ensure_live()
        self.state = state.value
        self.outcome = outcome
        self.resolved_at = at
        self.resolved_by = by
        self.next_escalation_at = None


class FollowUpEvent(Base):
    """One thing that happened to a follow-up; never updated, never deleted."""

    __tablename__ = "followup_events"
    __table_args__ = (Index("ix_followup_events_followup_id_at", "followup_id", "at"),)

    id: Mapped[UUIDPk]
    followup_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("followups.id"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))  # raised, escalated, claimed, assigned, ...
    step: Mapped[int]
    actor_staff_id: Mapped[uuid.UUID | None]
    run_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed with the resident's key


class OutboxMessage(Base):
    """A side effect (SMS, KakaoTalk, control-center call) written in the same transaction
    as its cause and delivered later, with retries and an idempotency key. Ids only, no PII."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "next_attempt_at",
            sqlite_where=text("delivered_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[UUIDPk]
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))


class ExtraHoliday(Base):
    """A day off that staff added (e.g. a district foundation day); business clocks skip it."""

    __tablename__ = "extra_holidays"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    added_by: Mapped[uuid.UUID | None]
    added_at: Mapped[datetime]
