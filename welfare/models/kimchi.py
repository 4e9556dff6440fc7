"""Kimchi delivery campaigns ('김치가 온다'): one box per household, routes, attempts with proof.

A campaign is district-wide (several agencies allocate from one stock); everything about a
resident under it (allocations, route stops, attempts) carries the resident's dong for scoping
in SQL. The rules the database guarantees:

- one live allocation per household per campaign: a partial unique index on (campaign,
  household key), the key being a keyed blind index of the normalized address (a resident
  without an address is a household alone); a cancelled allocation frees its household;
- stock: `allocated_boxes` never exceeds `box_count` (a check constraint; the allocation takes
  its boxes with one conditional UPDATE, which PostgreSQL serializes on the campaign row);
- one open stop per allocation (a partial unique index), and one stop per order number on a
  route;
- one attempt per (staff member, client_ref), so a retried post from a phone creates nothing
  twice.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from welfare.errors import RuleViolation
from welfare.models.base import Base, UUIDPk


class CampaignStatus(StrEnum):
    PLANNING = "planning"
    ALLOCATING = "allocating"
    DELIVERING = "delivering"
    CLOSED = "closed"


CAMPAIGN_ORDER = tuple(CampaignStatus)


class AllocationStatus(StrEnum):
    ALLOCATED = "allocated"  # has a box, on no open route
    ROUTED = "routed"  # an open stop of a route
    DELIVERED = "delivered"
    FAILED = "failed"  # the last attempt was absent or a bad address: to be re-attempted
    CANCELLED = "cancelled"  # refused, cancelled: the box went back to stock

    @property
    def is_ended(self) -> bool:
        return self in (AllocationStatus.DELIVERED, AllocationStatus.CANCELLED)


class AttemptOutcome(StrEnum):
    HANDED_OVER = "handed_over"
    LEFT_AT_DOOR = "left_at_door"
    ABSENT = "absent"
    REFUSED = "refused"
    BAD_ADDRESS = "bad_address"
    CANCELLED = "cancelled"


class RecipientRelation(StrEnum):
    SELF = "self"
    HOUSEHOLD_MEMBER = "household_member"
    NEIGHBOUR = "neighbour"


class RouteStatus(StrEnum):
    OPEN = "open"
    DONE = "done"  # every stop has an attempt
    ABANDONED = "abandoned"  # its open stops went back to the pool


class StopState(StrEnum):
    OPEN = "open"
    DONE = "done"
    RETURNED = "returned"


DELIVERED_OUTCOMES = frozenset({AttemptOutcome.HANDED_OVER, AttemptOutcome.LEFT_AT_DOOR})
FAILED_OUTCOMES = frozenset({AttemptOutcome.ABSENT, AttemptOutcome.BAD_ADDRESS})
ENDING_OUTCOMES = frozenset({AttemptOutcome.REFUSED, AttemptOutcome.CANCELLED})

LIVE_ALLOCATION = text("status <> 'cancelled'")
FAILED_ALLOCATION = text("status = 'failed'")
OPEN_STOP = text("state = 'open'")


class KimchiCampaign(Base):
    """A campaign: a delivery period, a stock of boxes, a status that only moves forward."""

    __tablename__ = "kimchi_campaigns"
    __table_args__ = (
        CheckConstraint("allocated_boxes >= 0 AND allocated_boxes <= box_count", name="stock"),
        CheckConstraint("ends_on >= starts_on", name="period"),
    )

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(100))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    box_count: Mapped[int]
    box_kg: Mapped[float] = mapped_column(Float, default=5.0)
    allocated_boxes: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(12), default=CampaignStatus.PLANNING.value)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    @property
    def is_closed(self) -> bool:
        return self.status == CampaignStatus.CLOSED

    def ensure_open(self) -> None:
        if self.is_closed:
            raise RuleViolation("종료된 캠페인입니다 (campaign closed)", code="campaign_closed")

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on

    def move_to(self, status: CampaignStatus, *, at: datetime) -> None:
        """Forward only: planning → allocating → delivering → closed (steps may be skipped)."""
        self.ensure_open()
        if CAMPAIGN_ORDER.index(status) <= CAMPAIGN_ORDER.index(CampaignStatus(self.status)):
            raise RuleViolation(
                "캠페인 상태는 앞으로만 바뀝니다 (status only moves forward)",
                code="campaign_status_backwards",
            )
        self.status = status.value
        self.updated_at = at
        if status is CampaignStatus.CLOSED:
            self.closed_at = at


class KimchiCampaignDong(Base):
    """A dong a campaign covers: its staff see the campaign and allocate to its residents. A
    district campaign covers every dong, a welfare center's a few; another dong's staff get 404
    on it."""

    __tablename__ = "kimchi_campaign_dongs"
    __table_args__ = (Index("ix_kimchi_campaign_dongs_dong_code", "dong_code"),)

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("kimchi_campaigns.id"), primary_key=True
    )
    dong_code: Mapped[str] = mapped_column(ForeignKey("dongs.code"), primary_key=True)


class KimchiAllocation(Base):
    """One household's box(es) in one campaign, allocated by an agency to a resident."""

    __tablename__ = "kimchi_allocations"
    __table_args__ = (
        Index(
            "uq_kimchi_allocations_live_household",
            "campaign_id",
            "household_key",
            unique=True,
            sqlite_where=LIVE_ALLOCATION,
            postgresql_where=LIVE_ALLOCATION,
        ),
        Index("ix_kimchi_allocations_campaign_dong", "campaign_id", "dong_code", "id"),
        Index("ix_kimchi_allocations_resident_id", "resident_id"),
        Index(
            "ix_kimchi_allocations_failed",
            "campaign_id",
            "dong_code",
            "id",
            sqlite_where=FAILED_ALLOCATION,
            postgresql_where=FAILED_ALLOCATION,
        ),
        CheckConstraint("boxes >= 1", name="boxes"),
    )

    id: Mapped[UUIDPk]
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("kimchi_campaigns.id"))
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))  # copied for scoping in SQL
    # A keyed blind index of the normalized address (or of the resident, without an address).
    household_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    agency: Mapped[str] = mapped_column(String(100))
    boxes: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(12), default=AllocationStatus.ALLOCATED.value)
    allocated_at: Mapped[datetime]
    allocated_by: Mapped[uuid.UUID | None]
    delivered_at: Mapped[datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    @property
    def status_enum(self) -> AllocationStatus:
        return AllocationStatus(self.status)

    def ensure_not_ended(self) -> None:
        if self.status_enum.is_ended:
            raise RuleViolation(
                "이미 배송이 끝난 배분입니다 (allocation already delivered or cancelled)",
                code="allocation_ended",
            )

    def route(self, *, at: datetime) -> None:
        """Put on a route: only an allocation waiting for a delivery (new or failed)."""
        self.ensure_not_ended()
        if self.status == AllocationStatus.ROUTED:
            raise RuleViolation(
                "이미 다른 경로에 있는 배분입니다 (already on an open route)",
                code="allocation_routed",
            )
        self.status = AllocationStatus.ROUTED.value
        self.updated_at = at

    def unroute(self, *, at: datetime) -> None:
        """Its route was abandoned: back to the pool."""
        if self.status == AllocationStatus.ROUTED:
            self.status = AllocationStatus.ALLOCATED.value
            self.updated_at = at

    def record_attempt(self, outcome: AttemptOutcome, *, at: datetime) -> None:
        """The allocation after an attempt: delivered, failed (to re-attempt) or cancelled."""
        self.ensure_not_ended()
        if outcome in DELIVERED_OUTCOMES:
            self.status = AllocationStatus.DELIVERED.value
            self.delivered_at = at
        elif outcome in FAILED_OUTCOMES:
            self.status = AllocationStatus.FAILED.value
        else:
            self.status = AllocationStatus.CANCELLED.value
            self.ended_reason = outcome.value
        self.updated_at = at

    def cancel(self, *, why: str, at: datetime) -> None:
        self.ensure_not_ended()
        self.status = AllocationStatus.CANCELLED.value
        self.ended_reason = why
        self.updated_at = at


class KimchiRoute(Base):
    """A round on one delivery date, in one dong, by a staff member or a named volunteer.

    The volunteer's name is personal data about someone who is not a resident: sealed with a
    data key of the route's own (subject = route id)."""

    __tablename__ = "kimchi_routes"
    __table_args__ = (Index("ix_kimchi_routes_campaign_dong", "campaign_id", "dong_code", "id"),)

    id: Mapped[UUIDPk]
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("kimchi_campaigns.id"))
    dong_code: Mapped[str] = mapped_column(String(10))  # the dong of every stop
    name: Mapped[str] = mapped_column(String(100))
    delivery_on: Mapped[date] = mapped_column(Date)
    deliverer_staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    volunteer_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(12), default=RouteStatus.OPEN.value)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    def ensure_open(self) -> None:
        if self.status != RouteStatus.OPEN:
            raise RuleViolation(
                "이미 끝났거나 취소된 경로입니다 (route no longer open)", code="route_closed"
            )


class KimchiStop(Base):
    """One allocation on one route, at its place in the order."""

    __tablename__ = "kimchi_stops"
    __table_args__ = (
        UniqueConstraint("route_id", "seq"),
        Index(
            "uq_kimchi_stops_open_allocation",
            "allocation_id",
            unique=True,
            sqlite_where=OPEN_STOP,
            postgresql_where=OPEN_STOP,
        ),
    )

    id: Mapped[UUIDPk]
    route_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("kimchi_routes.id"))
    allocation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("kimchi_allocations.id"))
    seq: Mapped[int]
    state: Mapped[str] = mapped_column(String(10), default=StopState.OPEN.value)
    dong_code: Mapped[str] = mapped_column(String(10))  # copied for scoping in SQL


class DeliveryAttempt(Base):
    """One attempt to deliver an allocation; never updated. The observation is sealed under the
    resident's key."""

    __tablename__ = "kimchi_attempts"
    __table_args__ = (
        Index("ix_kimchi_attempts_allocation_at", "allocation_id", "occurred_at"),
        Index("ix_kimchi_attempts_resident_id", "resident_id"),
        Index("uq_kimchi_attempts_staff_client_ref", "staff_id", "client_ref", unique=True),
    )

    id: Mapped[UUIDPk]
    allocation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("kimchi_allocations.id"))
    route_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("kimchi_routes.id"))
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))  # copied for scoping in SQL
    outcome: Mapped[str] = mapped_column(String(20))
    recipient_relation: Mapped[str | None] = mapped_column(String(20))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    staff_id: Mapped[uuid.UUID | None]
    observation_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    concern: Mapped[bool] = mapped_column(default=False)
    contact_id: Mapped[uuid.UUID | None]  # the Ongi contact a handover made
    client_ref: Mapped[str | None] = mapped_column(String(120))
    request_mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
