"""Kimchi delivery campaigns: campaigns with a stock, one allocation per household, routes with
ordered stops, delivery attempts; and the household index on residents.

The household index of residents registered before this revision is null: it is computed from
the sealed address when the resident is first allocated (services/kimchi/households.py), since a
migration never holds the index key. Downgrading drops the kimchi tables and the column.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kimchi_campaigns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("box_count", sa.Integer(), nullable=False),
        sa.Column("box_kg", sa.Float(), nullable=False),
        sa.Column("allocated_boxes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "allocated_boxes >= 0 AND allocated_boxes <= box_count",
            name=op.f("ck_kimchi_campaigns_stock"),
        ),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_kimchi_campaigns_period")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kimchi_campaigns")),
    )
    op.create_table(
        "kimchi_campaign_dongs",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["kimchi_campaigns.id"],
            name=op.f("fk_kimchi_campaign_dongs_campaign_id_kimchi_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["dong_code"], ["dongs.code"], name=op.f("fk_kimchi_campaign_dongs_dong_code_dongs")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "dong_code", name=op.f("pk_kimchi_campaign_dongs")),
    )
    with op.batch_alter_table("kimchi_campaign_dongs", schema=None) as batch_op:
        batch_op.create_index("ix_kimchi_campaign_dongs_dong_code", ["dong_code"], unique=False)

    op.create_table(
        "kimchi_routes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("delivery_on", sa.Date(), nullable=False),
        sa.Column("deliverer_staff_id", sa.Uuid(), nullable=True),
        sa.Column("volunteer_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["kimchi_campaigns.id"],
            name=op.f("fk_kimchi_routes_campaign_id_kimchi_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["deliverer_staff_id"],
            ["staff.id"],
            name=op.f("fk_kimchi_routes_deliverer_staff_id_staff"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kimchi_routes")),
    )
    with op.batch_alter_table("kimchi_routes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kimchi_routes_campaign_dong", ["campaign_id", "dong_code", "id"], unique=False
        )

    op.create_table(
        "kimchi_allocations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("household_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("agency", sa.String(length=100), nullable=False),
        sa.Column("boxes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("allocated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("allocated_by", sa.Uuid(), nullable=True),
        sa.Column("delivered_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=20), nullable=True),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("boxes >= 1", name=op.f("ck_kimchi_allocations_boxes")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["kimchi_campaigns.id"],
            name=op.f("fk_kimchi_allocations_campaign_id_kimchi_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_kimchi_allocations_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kimchi_allocations")),
    )
    with op.batch_alter_table("kimchi_allocations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kimchi_allocations_campaign_dong", ["campaign_id", "dong_code", "id"], unique=False
        )
        batch_op.create_index(
            "ix_kimchi_allocations_failed",
            ["campaign_id", "dong_code", "id"],
            unique=False,
            sqlite_where=sa.text("status = 'failed'"),
            postgresql_where=sa.text("status = 'failed'"),
        )
        batch_op.create_index("ix_kimchi_allocations_resident_id", ["resident_id"], unique=False)
        batch_op.create_index(
            "uq_kimchi_allocations_live_household",
            ["campaign_id", "household_key"],
            unique=True,
            sqlite_where=sa.text("status <> 'cancelled'"),
            postgresql_where=sa.text("status <> 'cancelled'"),
        )

    op.create_table(
        "kimchi_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("route_id", sa.Uuid(), nullable=True),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("recipient_relation", sa.String(length=20), nullable=True),
        sa.Column("occurred_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("observation_enc", sa.LargeBinary(), nullable=True),
        sa.Column("concern", sa.Boolean(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("client_ref", sa.String(length=120), nullable=True),
        sa.Column("request_mac", sa.LargeBinary(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["kimchi_allocations.id"],
            name=op.f("fk_kimchi_attempts_allocation_id_kimchi_allocations"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_kimchi_attempts_resident_id_residents")
        ),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["kimchi_routes.id"],
            name=op.f("fk_kimchi_attempts_route_id_kimchi_routes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kimchi_attempts")),
    )
    with op.batch_alter_table("kimchi_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kimchi_attempts_allocation_at", ["allocation_id", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_kimchi_attempts_resident_id", ["resident_id"], unique=False)
        batch_op.create_index(
            "uq_kimchi_attempts_staff_client_ref", ["staff_id", "client_ref"], unique=True
        )

    op.create_table(
        "kimchi_stops",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("route_id", sa.Uuid(), nullable=False),
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["kimchi_allocations.id"],
            name=op.f("fk_kimchi_stops_allocation_id_kimchi_allocations"),
        ),
        sa.ForeignKeyConstraint(
            ["route_id"], ["kimchi_routes.id"], name=op.f("fk_kimchi_stops_route_id_kimchi_routes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kimchi_stops")),
        sa.UniqueConstraint("route_id", "seq", name=op.f("uq_kimchi_stops_route_id_seq")),
    )
    with op.batch_alter_table("kimchi_stops", schema=None) as batch_op:
        batch_op.create_index(
            "uq_kimchi_stops_open_allocation",
            ["allocation_id"],
            unique=True,
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        )

    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("household_index", sa.LargeBinary(length=32), nullable=True))
        batch_op.create_index("ix_residents_household_index", ["household_index"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_index("ix_residents_household_index")
        batch_op.drop_column("household_index")

    with op.batch_alter_table("kimchi_stops", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_kimchi_stops_open_allocation",
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        )

    op.drop_table("kimchi_stops")
    with op.batch_alter_table("kimchi_attempts", schema=None) as batch_op:
        batch_op.drop_index("uq_kimchi_attempts_staff_client_ref")
        batch_op.drop_index("ix_kimchi_attempts_resident_id")
        batch_op.drop_index("ix_kimchi_attempts_allocation_at")

    op.drop_table("kimchi_attempts")
    with op.batch_alter_table("kimchi_allocations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_kimchi_allocations_live_household",
            sqlite_where=sa.text("status <> 'cancelled'"),
            postgresql_where=sa.text("status <> 'cancelled'"),
        )
        batch_op.drop_index("ix_kimchi_allocations_resident_id")
        batch_op.drop_index(
            "ix_kimchi_allocations_failed",
            sqlite_where=sa.text("status = 'failed'"),
            postgresql_where=sa.text("status = 'failed'"),
        )
        batch_op.drop_index("ix_kimchi_allocations_campaign_dong")

    op.drop_table("kimchi_allocations")
    with op.batch_alter_table("kimchi_routes", schema=None) as batch_op:
        batch_op.drop_index("ix_kimchi_routes_campaign_dong")

    op.drop_table("kimchi_routes")
    with op.batch_alter_table("kimchi_campaign_dongs", schema=None) as batch_op:
        batch_op.drop_index("ix_kimchi_campaign_dongs_dong_code")

    op.drop_table("kimchi_campaign_dongs")
    op.drop_table("kimchi_campaigns")
