"""The mobility support center (통합이동지원센터): eligibility, the fleet, rides and recurring
rides, and the busy intervals that keep one vehicle or driver from being in two places at once.

A ride is scoped by its resident's dong (`dong_code`), wherever it picks up or drops off. The
fleet (vehicles, drivers) belongs to the district's center, not to a dong, and holds no resident
data. An assigned ride makes its vehicle and its driver busy from the planned pickup to the
estimated drop-off plus a turnaround buffer (`pickup_at` to `busy_until`); on PostgreSQL two
exclusion constraints make overlapping intervals of one vehicle or one driver impossible, on
SQLite the check and the write run under the database's single write lock (services/mobility).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    column,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from welfare.errors import RuleViolation
from welfare.models.base import Base, UUIDPk


class EligibilityBasis(StrEnum):
    SEVERE_WALKING_DISABILITY = "severe_walking_disability"  # 보행상 장애 (심한 장애)
    WHEELCHAIR = "wheelchair"  # 휠체어 이용자
    FRAIL_ELDER = "frail_elder"  # 거동이 불편한 어르신
    TEMPORARY = "temporary"  # 일시적 교통약자 (의사 소견서)


class RideState(StrEnum):
    REQUESTED = "requested"  # booked, no vehicle yet
    ASSIGNED = "assigned"  # a vehicle, a driver and a planned pickup time
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    LATE_CANCEL = "late_cancel"  # cancelled after the late-cancel cutoff

    @property
    def is_live(self) -> bool:
        return self in (RideState.REQUESTED, RideState.ASSIGNED)


class RideOutcome(StrEnum):
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    LATE_CANCEL = "late_cancel"


class ExceptionKind(StrEnum):
    CANCELLED = "cancelled"  # staff cancelled one date of a recurring ride
    MOVED = "moved"  # staff moved one date's pickup window
    HOLIDAY = "holiday"  # skipped by the job: a public holiday and `skip_holidays`
    INELIGIBLE = "ineligible"  # skipped by the job: no eligibility covers the date or its needs
    OVERLAPS = "overlaps"  # skipped by the job: another live ride of the resident overlaps


LIVE_RIDE = text("state IN ('requested', 'assigned')")
# The states in which an assigned ride holds its vehicle and driver: cancelling frees them.
HOLDS_FLEET = "state IN ('assigned', 'completed', 'no_show')"
UNASSIGNED = text("state = 'requested'")


class Eligibility(Base):
    """One period in which a resident may use the center, on one basis, with their needs."""

    __tablename__ = "mobility_eligibilities"
    __table_args__ = (
        Index("ix_mobility_eligibilities_resident_id", "resident_id", "valid_until"),
        # The tick's expiry scan reads by end date.
        Index("ix_mobility_eligibilities_valid_until", "valid_until"),
    )

    id: Mapped[UUIDPk]
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))  # copied for scoping in SQL
    basis: Mapped[str] = mapped_column(String(30))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    wheelchair: Mapped[bool] = mapped_column(default=False)
    companion_allowed: Mapped[bool] = mapped_column(default=False)
    evidence_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # e.g. the doctor's note
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    def covers(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until


class Vehicle(Base):
    """A vehicle of the center's fleet; service hours are minutes after Seoul midnight (None:
    the center's operating hours from config)."""

    __tablename__ = "mobility_vehicles"

    id: Mapped[UUIDPk]
    plate: Mapped[str] = mapped_column(String(20), unique=True)
    seats: Mapped[int]
    wheelchair_spaces: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)
    service_start_min: Mapped[int | None]
    service_end_min: Mapped[int | None]
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API


class Driver(Base):
    """A driver of the center; the name is sealed with a data key of the driver's own
    (subject = driver id), destroyed when the driver's record is erased."""

    __tablename__ = "mobility_drivers"

    id: Mapped[UUIDPk]
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(default=True)
    service_start_min: Mapped[int | None]
    service_end_min: Mapped[int | None]
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API


class Ride(Base):
    """One ride of one resident: booked (or materialized from a recurring ride), assigned,
    then ended by an outcome. Addresses are sealed under the resident's key; the dongs stay in
    the clear for dispatch and travel times."""

    __tablename__ = "mobility_rides"
    __table_args__ = (
        # The day's board and dispatch: rides of a dong by window.
        Index("ix_mobility_rides_dong_window", "dong_code", "window_start", "id"),
        # Dispatch and the board read the whole day across dongs by window.
        Index("ix_mobility_rides_window_start", "window_start"),
        Index("ix_mobility_rides_resident_window", "resident_id", "window_start"),
        Index("ix_mobility_rides_vehicle_pickup", "vehicle_id", "pickup_at"),
        Index("ix_mobility_rides_driver_pickup", "driver_id", "pickup_at"),
        # A retried booking (same sender, same client_ref) never creates twice.
        Index("uq_mobility_rides_created_by_client_ref", "created_by", "client_ref", unique=True),
        Index(
            "uq_mobility_rides_outcome_by_client_ref",
            "outcome_by",
            "outcome_client_ref",
            unique=True,
        ),
        # A recurring ride materializes each date once, however often the job runs.
        Index(
            "uq_mobility_rides_recurring_occurrence",
            "recurring_id",
            "occurrence_date",
            unique=True,
        ),
        # No vehicle and no driver in two places at once: impossible on PostgreSQL.
        ExcludeConstraint(
            (column("vehicle_id"), "="),
            (func.tstzrange(column("pickup_at"), column("busy_until")), "&&"),
            name="ex_mobility_rides_vehicle_busy",
            using="gist",
            where=text(HOLDS_FLEET),
        ).ddl_if(dialect="postgresql"),
        ExcludeConstraint(
            (column("driver_id"), "="),
            (func.tstzrange(column("pickup_at"), column("busy_until")), "&&"),
            name="ex_mobility_rides_driver_busy",
            using="gist",
            where=text(HOLDS_FLEET),
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[UUIDPk]
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))  # the resident's dong, for scoping
    pickup_dong: Mapped[str] = mapped_column(ForeignKey("dongs.code"))
    dropoff_dong: Mapped[str] = mapped_column(ForeignKey("dongs.code"))
    pickup_address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    dropoff_address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    wheelchair: Mapped[bool] = mapped_column(default=False)
    companions: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(12), default=RideState.REQUESTED.value)
    recurring_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("mobility_recurring_rides.id")
    )
    occurrence_date: Mapped[date | None] = mapped_column(Date)
    vehicle_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("mobility_vehicles.id"))
    driver_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("mobility_drivers.id"))
    pickup_at: Mapped[datetime | None]  # planned pickup, inside the window
    busy_until: Mapped[datetime | None]  # estimated drop-off plus the turnaround buffer
    assigned_at: Mapped[datetime | None]
    assigned_by: Mapped[uuid.UUID | None]
    outcome_at: Mapped[datetime | None]  # when it happened
    outcome_recorded_at: Mapped[datetime | None]
    outcome_by: Mapped[uuid.UUID | None]
    outcome_reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    outcome_client_ref: Mapped[str | None] = mapped_column(String(120))
    outcome_request_mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    client_ref: Mapped[str | None] = mapped_column(String(120))
    request_mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    @property
    def state_enum(self) -> RideState:
        return RideState(self.state)

    def ensure_live(self) -> None:
        if not self.state_enum.is_live:
            raise RuleViolation(
                "이미 끝난 이동 예약입니다 (ride already ended)", code="ride_closed"
            )

    def assign(
        self,
        *,
        vehicle_id: uuid.UUID,
        driver_id: uuid.UUID,
        pickup_at: datetime,
        busy_until: datetime,
        by: uuid.UUID | None,
        at: datetime,
    ) -> None:
        """Give the ride a vehicle, a driver and a planned pickup (re-assigning moves it)."""
        self.ensure_live()
        if not self.window_start <= pickup_at <= self.window_end:
            raise RuleViolation(
                "배차 시각이 탑승 시간대 밖입니다 (pickup outside the window)",
                code="pickup_outside_window",
            )
        self.vehicle_id = vehicle_id
        self.driver_id = driver_id
        self.pickup_at = pickup_at
        self.busy_until = busy_until
        self.assigned_at = at
        self.assigned_by = by
        self.state = RideState.ASSIGNED.value
        self.updated_at = at

    def end(
        self, *, outcome: RideOutcome, occurred_at: datetime, by: uuid.UUID | None, at: datetime
    ) -> None:
        """Record how the ride ended. Completed and no-show need an assigned ride; a
        cancellation frees the vehicle and the driver (the interval no longer holds them)."""
        self.ensure_live()
        if outcome in (RideOutcome.COMPLETED, RideOutcome.NO_SHOW) and (
            self.state != RideState.ASSIGNED
        ):
            raise RuleViolation(
                "배차되지 않은 이동입니다 (ride not assigned)", code="ride_not_assigned"
            )
        self.state = outcome.value
        self.outcome_at = occurred_at
        self.outcome_recorded_at = at
        self.outcome_by = by
        self.updated_at = at


class RecurringRide(Base):
    """A standing booking (dialysis three times a week): an RFC 5545 RRULE over Seoul dates
    with a local pickup time; the job materializes its rides over a rolling horizon."""

    __tablename__ = "mobility_recurring_rides"
    __table_args__ = (
        Index("ix_mobility_recurring_rides_resident_id", "resident_id"),
        Index(
            "ix_mobility_recurring_rides_active",
            "materialized_through",
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[UUIDPk]
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))  # the resident's dong, for scoping
    rrule: Mapped[str] = mapped_column(String(500))
    pickup_time: Mapped[str] = mapped_column(String(5))  # HH:MM, Asia/Seoul
    window_minutes: Mapped[int]
    starts_on: Mapped[date] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)
    skip_holidays: Mapped[bool] = mapped_column(default=False)
    pickup_dong: Mapped[str] = mapped_column(ForeignKey("dongs.code"))
    dropoff_dong: Mapped[str] = mapped_column(ForeignKey("dongs.code"))
    pickup_address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    dropoff_address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    wheelchair: Mapped[bool] = mapped_column(default=False)
    companions: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    materialized_through: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API


class RecurringException(Base):
    """One date of a recurring ride that is not as the rule says: cancelled or moved by staff,
    or skipped by the job as a holiday. Kept for good: the job reads them every run."""

    __tablename__ = "mobility_recurring_exceptions"
    __table_args__ = (
        Index(
            "uq_mobility_recurring_exceptions_date",
            "recurring_id",
            "occurrence_date",
            unique=True,
        ),
    )

    id: Mapped[UUIDPk]
    recurring_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mobility_recurring_rides.id"))
    dong_code: Mapped[str] = mapped_column(String(10))
    occurrence_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(10))
    window_start: Mapped[datetime | None]  # a moved date's new window
    window_end: Mapped[datetime | None]
    label: Mapped[str | None] = mapped_column(String(100))  # the holiday's name
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
