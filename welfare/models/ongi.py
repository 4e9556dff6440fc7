"""Ongi isolation-prevention: enrollments with a contact interval, and the contact log."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from welfare.models.base import Base, UUIDPk


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # e.g. in hospital: no lapse is raised while paused
    ENDED = "ended"


class Channel(StrEnum):
    PHONE = "phone"
    VISIT = "visit"
    MESSAGE = "message"  # KakaoTalk message read (온기ON톡)
    AI_CALL = "ai_call"
    SENSOR = "sensor"  # smart plug / motion sensor activity
    DELIVERY = "delivery"  # kimchi handed over in person
    RIDE = "ride"


class Outcome(StrEnum):
    REACHED = "reached"  # the person was confirmed well
    UNWELL = "unwell"  # reached, but raises a concern
    NO_ANSWER = "no_answer"
    NOT_HOME = "not_home"
    REFUSED = "refused"

    @property
    def is_success(self) -> bool:
        """A successful contact proves the person is alive and reachable."""
        return self in (Outcome.REACHED, Outcome.UNWELL)


LIVE_ENROLLMENT = text("status IN ('active', 'paused')")
ACTIVE_ENROLLMENT = text("status = 'active'")


class OngiEnrollment(Base):
    """A resident watched by Ongi at a risk level; `next_due_at` drives the lapse scheduler."""

    __tablename__ = "ongi_enrollments"
    __table_args__ = (
        # At most one live enrollment per resident.
        Index(
            "uq_ongi_enrollments_live_resident",
            "resident_id",
            unique=True,
            sqlite_where=LIVE_ENROLLMENT,
            postgresql_where=LIVE_ENROLLMENT,
        ),
        # The tick reads only active, due rows: its cost follows the lapsed, not the enrolled.
        # On PostgreSQL it carries the resident and the id, so the tick's comparison of due
        # enrollments with live follow-ups reads the index alone (migration 0023).
        Index(
            "ix_ongi_enrollments_due",
            "next_due_at",
            sqlite_where=ACTIVE_ENROLLMENT,
            postgresql_where=ACTIVE_ENROLLMENT,
            postgresql_include=["resident_id", "id"],
        ),
        Index("ix_ongi_enrollments_dong_code", "dong_code"),
        # A silent gateway's dependents: whose last proof of life came through it.
        Index("ix_ongi_enrollments_last_success_gateway_id", "last_success_gateway_id"),
    )

    id: Mapped[UUIDPk]
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))  # copied for scoping in SQL
    risk_level: Mapped[str] = mapped_column(String(10))
    interval_hours: Mapped[int]
    status: Mapped[str] = mapped_column(String(10), default=EnrollmentStatus.ACTIVE.value)
    enrolled_at: Mapped[datetime]
    last_success_at: Mapped[datetime | None]
    # The gateway account the last successful contact came through (None: staff, or none yet).
    last_success_gateway_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    next_due_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    @property
    def interval(self) -> timedelta:
        return timedelta(hours=self.interval_hours)

    def end(self, *, at: datetime) -> None:
        """Stop watching: ending is final (a new enrollment starts a new watch)."""
        self.status = EnrollmentStatus.ENDED.value
        self.ended_at = at
        self.updated_at = at
        self.recompute_due()

    def recompute_due(self) -> None:
        """Due one interval after the last success (or enrollment); none unless active."""
        self.next_due_at = self.due_after(self.last_success_at)

    def due_after(self, last_success_at: datetime | None) -> datetime | None:
        """When this enrollment would be due with `last_success_at` as its last success."""
        if self.status != EnrollmentStatus.ACTIVE:
            return None
        return (last_success_at or self.enrolled_at) + self.interval


class Contact(Base):
    """One attempt to reach a resident, by any channel, from staff or a gateway."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_resident_id_occurred_at", "resident_id", "occurred_at"),
        # Idempotency keys belong to whoever sent them (a staff member or a gateway): another
        # team's ref never collides with mine. PostgreSQL partitions contacts by month of
        # `occurred_at` (migration 0020), and a unique index there must include it: the same
        # ref with the same body (a retry) still collides, and a ref's first use takes a
        # transaction lock on the ref (services/idempotency.py) so two bodies never both land.
        Index("uq_contacts_staff_client_ref", "staff_id", "client_ref", unique=True).ddl_if(
            dialect="sqlite"
        ),
        Index(
            "uq_contacts_staff_client_ref_occurred_at",
            "staff_id",
            "client_ref",
            "occurred_at",
            unique=True,
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[UUIDPk]
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))
    program: Mapped[str] = mapped_column(String(20), default="ongi")
    channel: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[str] = mapped_column(String(10))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    staff_id: Mapped[uuid.UUID | None]
    source: Mapped[str] = mapped_column(String(20))  # staff, gateway
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A client-generated id makes retries safe: the same ref returns the first contact.
    client_ref: Mapped[str | None] = mapped_column(String(120))
    # A keyed MAC of the request a client_ref came with, so the same ref with another body is
    # refused rather than answered with the first contact (NULL: logged without a ref, or
    # before the MAC was kept).
    request_mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))

    @property
    def is_success(self) -> bool:
        return Outcome(self.outcome).is_success


class SignalSource(Base):
    """A device or account at a gateway (smart plug, AI-call line, KakaoTalk) linked to a
    resident. The gateway's reference can be a phone number, so only its keyed hash is stored.

    It belongs to the gateway account it is pinned to (`gateway_id`), or, unpinned, to every
    gateway whose dongs include `dong_code` (the resident's dong, kept current when they move);
    signals from any other gateway are refused like an unknown source (services/signals.py).
    """

    __tablename__ = "signal_sources"
    __table_args__ = (Index("ix_signal_sources_resident_id", "resident_id"),)

    id: Mapped[UUIDPk]
    kind: Mapped[str] = mapped_column(String(30))
    source_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))
    gateway_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]
    created_by: Mapped[uuid.UUID | None]
