"""24-hour care center requests: received at any hour, answered by a deadline, handed over."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from welfare.errors import Conflict, RuleViolation
from welfare.models.base import Base, UUIDPk


class Urgency(StrEnum):
    EMERGENCY = "emergency"
    URGENT = "urgent"
    NORMAL = "normal"


class CareType(StrEnum):
    CHILD_CARE = "child_care"
    ELDER_CARE = "elder_care"
    DISABILITY_CARE = "disability_care"
    EMERGENCY_LODGING = "emergency_lodging"
    MEAL = "meal"
    SHORT_TERM_CARE = "short_term_care"
    CRISIS = "crisis"
    OTHER = "other"


class CareChannel(StrEnum):
    PHONE = "phone"
    WALK_IN = "walk_in"
    DONG_CENTER = "dong_center"  # referred by a dong community center
    POLICE = "police"
    OTHER = "other"


class CareState(StrEnum):
    RECEIVED = "received"  # nobody has answered yet: the deadline clock runs
    RESPONDED = "responded"  # someone answered; care is under way
    DONE = "done"  # an outcome was recorded

    @property
    def is_open(self) -> bool:
        return self is not CareState.DONE


class CareOutcome(StrEnum):
    HANDLED = "handled"
    REFERRED = "referred"  # to another program or agency
    CLOSED = "closed"  # e.g. withdrawn, a duplicate, unreachable


OPEN_REQUEST = text("state IN ('received', 'responded')")
UNANSWERED = text("state = 'received'")


class CareRequest(Base):
    """One request for care; scoped by its own dong, with or without a registered resident.
    An open, linked request moves with its resident when they change dong (`follow_resident`).

    Personal fields (summary, caller name and phone) are sealed with the data key of the linked
    resident, or, until one is linked, with a data key of the request's own (subject = request
    id). Linking re-seals them under the resident's key and destroys the request's key, so the
    resident's erasure shreds everything about them (docs/architecture.md, "Encryption").
    """

    __tablename__ = "care_requests"
    __table_args__ = (
        # The handover view: open requests of a dong by deadline.
        Index(
            "ix_care_requests_open_dong_respond_by",
            "dong_code",
            "respond_by",
            "id",
            sqlite_where=OPEN_REQUEST,
            postgresql_where=OPEN_REQUEST,
        ),
        # The tick reads unanswered requests only: its cost follows the overdue, not the total.
        Index(
            "ix_care_requests_unanswered_respond_by",
            "respond_by",
            sqlite_where=UNANSWERED,
            postgresql_where=UNANSWERED,
        ),
        Index("ix_care_requests_resident_id", "resident_id"),
    )

    id: Mapped[UUIDPk]
    dong_code: Mapped[str] = mapped_column(ForeignKey("dongs.code"))
    resident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("residents.id"))
    care_type: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(20), default=CareChannel.PHONE.value)
    urgency: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(12), default=CareState.RECEIVED.value)
    received_at: Mapped[datetime]
    respond_by: Mapped[datetime]
    responded_at: Mapped[datetime | None]
    responded_by: Mapped[uuid.UUID | None]
    assignee_id: Mapped[uuid.UUID | None]
    outcome: Mapped[str | None] = mapped_column(String(12))
    outcome_at: Mapped[datetime | None]
    outcome_by: Mapped[uuid.UUID | None]
    linked_at: Mapped[datetime | None]
    summary_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    caller_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    caller_phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    @property
    def key_subject_id(self) -> uuid.UUID:
        """Whose data key seals this request's personal fields."""
        return self.resident_id or self.id

    @property
    def state_enum(self) -> CareState:
        return CareState(self.state)

    def ensure_open(self) -> None:
        if not self.state_enum.is_open:
            raise RuleViolation(
                "이미 종결된 돌봄 요청입니다 (care request already closed)",
                code="care_request_closed",
            )

    def respond(self, *, by: uuid.UUID | None, at: datetime) -> None:
        """Someone answered the request: its deadline clock stops. The responder takes it
        when nobody had it yet."""
        self.ensure_open()
        if self.state != CareState.RECEIVED:
            raise Conflict("이미 응대한 요청입니다 (already responded)", code="already_responded")
        self.state = CareState.RESPONDED.value
        self.responded_at = at
        self.responded_by = by
        if self.assignee_id is None:
            self.assignee_id = by
        self.updated_at = at

    def hand_over(self, *, to: uuid.UUID, at: datetime) -> uuid.UUID | None:
        """Give the open request to another staff member; returns who had it."""
        self.ensure_open()
        previous = self.assignee_id
        self.assignee_id = to
        self.updated_at = at
        return previous

    def follow_resident(
        self, *, to_dong: str, keep_assignee: bool, by: uuid.UUID | None, at: datetime
    ) -> CareRequestEvent:
        """Go with the linked resident to their new dong: while the request is open, the team
        that can reach the person must answer it (a closed one stays where it was handled). An
        assignee who does not work the new dong is released, so the request shows as nobody's
        rather than as someone's who can no longer open it. Returns the history entry that says
        so, for the caller to add."""
        self.ensure_open()
        detail: dict[str, Any] = {
            "why": "resident_moved",
            "from_dong": self.dong_code,
            "to_dong": to_dong,
        }
        if not keep_assignee and self.assignee_id is not None:
            detail["released_staff_id"] = str(self.assignee_id)
            self.assignee_id = None
        self.dong_code = to_dong
        self.updated_at = at
        return CareRequestEvent(
            id=uuid.uuid4(),
            care_request_id=self.id,
            at=at,
            kind="moved",
            actor_staff_id=by,
            detail=detail,
        )

    def record_outcome(self, *, outcome: CareOutcome, by: uuid.UUID | None, at: datetime) -> None:
        """Close the request as handled, referred or closed."""
        self.ensure_open()
        self.state = CareState.DONE.value
        self.outcome = outcome.value
        self.outcome_at = at
        self.outcome_by = by
        self.updated_at = at

    def end_with_resident(
        self, *, why: str, by: uuid.UUID | None, at: datetime
    ) -> CareRequestEvent:
        """Close an open request because its resident's record was erased: nobody can be cared
        for through a record that no longer reads. Returns the history entry, for the caller to
        add (no note: the key that would seal one is already destroyed)."""
        self.record_outcome(outcome=CareOutcome.CLOSED, by=by, at=at)
        return CareRequestEvent(
            id=uuid.uuid4(),
            care_request_id=self.id,
            at=at,
            kind="closed_with_resident",
            actor_staff_id=by,
            detail={"why": why, "outcome": CareOutcome.CLOSED.value},
            note_enc=None,
        )


class CareRequestEvent(Base):
    """One thing that happened to a care request; never deleted, and never updated except that
    linking the request re-seals its note under the resident's key (the same key as its
    request's fields)."""

    __tablename__ = "care_request_events"
    __table_args__ = (Index("ix_care_request_events_request_id_at", "care_request_id", "at"),)

    id: Mapped[UUIDPk]
    care_request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_requests.id"))
    at: Mapped[datetime]
    # received, responded, handover, outcome, linked, moved
    kind: Mapped[str] = mapped_column(String(20))
    actor_staff_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
