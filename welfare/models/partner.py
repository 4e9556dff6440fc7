"""External referrals: a resident referred, with consent, to a partner agency outside the system
(the health center and its branches, the welfare foundation, community welfare centers).

Partners never have accounts here: staff send the referral sheet by the partner's own channel and
record the partner's answer. The sheet holds only what the consent scope allows, sealed with the
resident's key, and every time it is shown is recorded as an export.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from welfare.errors import RuleViolation
from welfare.models.base import Base, HistoryEntry, UUIDPk


class ReferralState(StrEnum):
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"  # the resident died, moved away or was erased before it ended


OPEN_REFERRAL_STATES = (ReferralState.SENT.value, ReferralState.ACCEPTED.value)


AWAITING = text("state = 'sent'")


class ExternalReferral(Base):
    """One referral to a partner, from sending to the partner's answer and completion."""

    __tablename__ = "external_referrals"
    __table_args__ = (
        Index("ix_external_referrals_dong_sent", "dong_code", "sent_at", "id"),
        Index("ix_external_referrals_resident_id", "resident_id"),
        # The tick reads only referrals still waiting for an answer.
        Index(
            "ix_external_referrals_awaiting",
            "answer_due_at",
            sqlite_where=AWAITING,
            postgresql_where=AWAITING,
        ),
        # A retried request (same sender, same client_ref) never sends twice.
        Index("uq_external_referrals_sender_ref", "sent_by", "client_ref", unique=True),
    )

    id: Mapped[UUIDPk]
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))  # copied for scoping in SQL
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    partner_code: Mapped[str] = mapped_column(String(40))
    consent_scope: Mapped[str] = mapped_column(String(30))  # a code of config/partners.json
    consent_given_by_enc: Mapped[bytes] = mapped_column(LargeBinary)
    consent_given_at: Mapped[datetime]
    reason_enc: Mapped[bytes] = mapped_column(LargeBinary)
    sheet_enc: Mapped[bytes] = mapped_column(LargeBinary)  # exactly what was sent, as JSON
    state: Mapped[str] = mapped_column(String(12), default=ReferralState.SENT.value)
    sent_at: Mapped[datetime]
    sent_by: Mapped[uuid.UUID | None]
    answer_due_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[uuid.UUID | None]
    completed_at: Mapped[datetime | None]
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # the partner's answer, sealed
    client_ref: Mapped[str | None] = mapped_column(String(120))
    request_mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    def answer(self, *, accepted: bool, by: uuid.UUID | None, at: datetime) -> None:
        """The partner's answer: only a referral still waiting for one takes it."""
        if self.state != ReferralState.SENT:
            raise RuleViolation(
                "이미 회신된 의뢰입니다 (the partner already answered)", code="already_answered"
            )
        self.state = (ReferralState.ACCEPTED if accepted else ReferralState.DECLINED).value
        self.answered_at = at
        self.answered_by = by

    def complete(self, *, at: datetime) -> None:
        """The partner's service is done: only an accepted referral completes."""
        if self.state != ReferralState.ACCEPTED:
            raise RuleViolation(
                "수락된 의뢰만 완료할 수 있습니다 (only an accepted referral completes)",
                code="not_accepted",
            )
        self.state = ReferralState.COMPLETED.value
        self.completed_at = at

    def end_with_resident(self, *, why: str, by: uuid.UUID | None, at: datetime) -> ReferralEvent:
        """The person is no longer ours to refer (died, moved away, erased): a referral still
        open is withdrawn; staff tell the partner by its own channel. Returns the history
        entry, for the caller to add."""
        if self.state not in OPEN_REFERRAL_STATES:
            raise RuleViolation(
                "이미 끝난 의뢰입니다 (this referral is already over)", code="referral_over"
            )
        before = self.state
        self.state = ReferralState.WITHDRAWN.value
        self.completed_at = at
        return self.event("withdrawn", by=by, at=at, why=why, from_state=before)

    def event(
        self, kind: str, *, by: uuid.UUID | None, at: datetime, **detail: Any
    ) -> ReferralEvent:
        """A history entry: codes, states and staff ids only, never what the sheet holds."""
        return ReferralEvent(
            id=uuid.uuid4(),
            referral_id=self.id,
            at=at,
            kind=kind,
            actor_staff_id=by,
            detail={"state": self.state, **detail},
        )


class ReferralEvent(HistoryEntry, Base):
    """One thing that happened to an external referral (sent, accepted, declined, completed,
    moved, withdrawn); never updated or deleted."""

    __tablename__ = "referral_events"
    __table_args__ = (Index("ix_referral_events_referral_id_at", "referral_id", "at"),)

    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("external_referrals.id"))
