"""The mobility support center: eligibility, the fleet, rides, recurring rides and their
exceptions, and on PostgreSQL the exclusion constraints that keep one vehicle or one driver from
holding two overlapping busy intervals (btree_gist: `vehicle_id WITH =` beside
`tstzrange(pickup_at, busy_until) WITH &&`, for the states that hold the fleet).

SQLite has no exclusion constraints; there the use case checks and writes under the database's
single write lock (BEGIN IMMEDIATE), which serializes every assignment.

Downgrading drops the tables and with them the constraints; the btree_gist extension stays, as
other objects of the database may have come to use it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The states in which an assigned ride holds its vehicle and driver (welfare/models/mobility.py).
HOLDS_FLEET = "state IN ('assigned', 'completed', 'no_show')"


def upgrade() -> None:
    op.create_table(
        "mobility_drivers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("service_start_min", sa.Integer(), nullable=True),
        sa.Column("service_end_min", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobility_drivers")),
    )
    op.create_table(
        "mobility_vehicles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(length=20), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("wheelchair_spaces", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("service_start_min", sa.Integer(), nullable=True),
        sa.Column("service_end_min", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobility_vehicles")),
        sa.UniqueConstraint("plate", name=op.f("uq_mobility_vehicles_plate")),
    )
    op.create_table(
        "mobility_eligibilities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("basis", sa.String(length=30), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("wheelchair", sa.Boolean(), nullable=False),
        sa.Column("companion_allowed", sa.Boolean(), nullable=False),
        sa.Column("evidence_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_mobility_eligibilities_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobility_eligibilities")),
    )
    with op.batch_alter_table("mobility_eligibilities", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mobility_eligibilities_resident_id", ["resident_id", "valid_until"], unique=False
        )
        batch_op.create_index(
            "ix_mobility_eligibilities_valid_until", ["valid_until"], unique=False
        )

    op.create_table(
        "mobility_recurring_rides",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("rrule", sa.String(length=500), nullable=False),
        sa.Column("pickup_time", sa.String(length=5), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("skip_holidays", sa.Boolean(), nullable=False),
        sa.Column("pickup_dong", sa.String(length=10), nullable=False),
        sa.Column("dropoff_dong", sa.String(length=10), nullable=False),
        sa.Column("pickup_address_enc", sa.LargeBinary(), nullable=True),
        sa.Column("dropoff_address_enc", sa.LargeBinary(), nullable=True),
        sa.Column("wheelchair", sa.Boolean(), nullable=False),
        sa.Column("companions", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("materialized_through", sa.Date(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dropoff_dong"],
            ["dongs.code"],
            name=op.f("fk_mobility_recurring_rides_dropoff_dong_dongs"),
        ),
        sa.ForeignKeyConstraint(
            ["pickup_dong"],
            ["dongs.code"],
            name=op.f("fk_mobility_recurring_rides_pickup_dong_dongs"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_mobility_recurring_rides_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobility_recurring_rides")),
    )
    with op.batch_alter_table("mobility_recurring_rides", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mobility_recurring_rides_active",
            ["materialized_through"],
            unique=False,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )
        batch_op.create_index(
            "ix_mobility_recurring_rides_resident_id", ["resident_id"], unique=False
        )

    op.create_table(
        "mobility_recurring_exceptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recurring_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("occurrence_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("window_start", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_end", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recurring_id"],
            ["mobility_recurring_rides.id"],
            name=op.f("fk_mobility_recurring_exceptions_recurring_id_mobility_recurring_rides"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobility_recurring_exceptions")),
    )
    with op.batch_alter_table("mobility_recurring_exceptions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_mobility_recurring_exceptions_date",
            ["recurring_id", "occurrence_date"],
            unique=True,
        )

    op.create_table(
        "mobility_rides",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("pickup_dong", sa.String(length=10), nullable=False),
        sa.Column("dropoff_dong", sa.String(length=10), nullable=False),
        sa.Column("pickup_address_enc", sa.LargeBinary(), nullable=True),
        sa.Column("dropoff_address_enc", sa.LargeBinary(), nullable=True),
        sa.Column("window_start", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_end", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("wheelchair", sa.Boolean(), nullable=False),
        sa.Column("companions", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("recurring_id", sa.Uuid(), nullable=True),
        sa.Column("occurrence_date", sa.Date(), nullable=True),
        sa.Column("vehicle_id", sa.Uuid(), nullable=True),
        sa.Column("driver_id", sa.Uuid(), nullable=True),
        sa.Column("pickup_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("busy_until", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("assigned_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("assigned_by", sa.Uuid(), nullable=True),
        sa.Column("outcome_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "outcome_recorded_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("outcome_by", sa.Uuid(), nullable=True),
        sa.Column("outcome_reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("outcome_client_ref", sa.String(length=120), nullable=True),
        sa.Column("outcome_request_mac", sa.LargeBinary(length=32), nullable=True),
        sa.Column("client_ref", sa.String(length=120), nullable=True),
        sa.Column("request_mac", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"],
            ["mobility_drivers.id"],
            name=op.f("fk_mobility_rides_driver_id_mobility_drivers"),
        ),
        sa.ForeignKeyConstraint(
            ["dropoff_dong"], ["dongs.code"], name=op.f("fk_mobility_rides_dropoff_dong_dongs")
        ),
        sa.ForeignKeyConstraint(
            ["pickup_dong"], ["dongs.code"], name=op.f("fk_mobility_rides_pickup_dong_dongs")
        ),
        sa.ForeignKeyConstraint(
            ["recurring_id"],
            ["mobility_recurring_rides.id"],
            name=op.f("fk_mobility_rides_recurring_id_mobility_recurring_rides"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_mobility_rides_resident_id_residents")
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["mobility_vehicles.id"],
            name=op.f("fk_mobility_rides_vehicle_id_mobility_vehicles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobility_rides")),
    )
    with op.batch_alter_table("mobility_rides", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mobility_rides_dong_window", ["dong_code", "window_start", "id"], unique=False
        )
        batch_op.create_index(
            "ix_mobility_rides_driver_pickup", ["driver_id", "pickup_at"], unique=False
        )
        batch_op.create_index(
            "ix_mobility_rides_resident_window", ["resident_id", "window_start"], unique=False
        )
        batch_op.create_index(
            "ix_mobility_rides_vehicle_pickup", ["vehicle_id", "pickup_at"], unique=False
        )
        batch_op.create_index("ix_mobility_rides_window_start", ["window_start"], unique=False)
        batch_op.create_index(
            "uq_mobility_rides_created_by_client_ref", ["created_by", "client_ref"], unique=True
        )
        batch_op.create_index(
            "uq_mobility_rides_outcome_by_client_ref",
            ["outcome_by", "outcome_client_ref"],
            unique=True,
        )
        batch_op.create_index(
            "uq_mobility_rides_recurring_occurrence",
            ["recurring_id", "occurrence_date"],
            unique=True,
        )

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        for resource in ("vehicle", "driver"):
            op.execute(
                f"ALTER TABLE mobility_rides ADD CONSTRAINT ex_mobility_rides_{resource}_busy "
                f"EXCLUDE USING gist ({resource}_id WITH =, "
                f"tstzrange(pickup_at, busy_until) WITH &&) WHERE ({HOLDS_FLEET})"
            )


def downgrade() -> None:
    with op.batch_alter_table("mobility_rides", schema=None) as batch_op:
        batch_op.drop_index("uq_mobility_rides_recurring_occurrence")
        batch_op.drop_index("uq_mobility_rides_outcome_by_client_ref")
        batch_op.drop_index("uq_mobility_rides_created_by_client_ref")
        batch_op.drop_index("ix_mobility_rides_window_start")
        batch_op.drop_index("ix_mobility_rides_vehicle_pickup")
        batch_op.drop_index("ix_mobility_rides_resident_window")
        batch_op.drop_index("ix_mobility_rides_driver_pickup")
        batch_op.drop_index("ix_mobility_rides_dong_window")

    op.drop_table("mobility_rides")
    with op.batch_alter_table("mobility_recurring_exceptions", schema=None) as batch_op:
        batch_op.drop_index("uq_mobility_recurring_exceptions_date")

    op.drop_table("mobility_recurring_exceptions")
    with op.batch_alter_table("mobility_recurring_rides", schema=None) as batch_op:
        batch_op.drop_index("ix_mobility_recurring_rides_resident_id")
        batch_op.drop_index(
            "ix_mobility_recurring_rides_active",
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )

    op.drop_table("mobility_recurring_rides")
    with op.batch_alter_table("mobility_eligibilities", schema=None) as batch_op:
        batch_op.drop_index("ix_mobility_eligibilities_valid_until")
        batch_op.drop_index("ix_mobility_eligibilities_resident_id")

    op.drop_table("mobility_eligibilities")
    op.drop_table("mobility_vehicles")
    op.drop_table("mobility_drivers")
