"""Elder health & hygiene visits (hygiene_care): enrollments with an RRULE, and their visits.

`hygiene_enrollments`: one active per resident (partial unique index), the provider, services,
the RRULE and how far ahead visits exist (`scheduled_until`, a partial index for the tick that
extends them). `hygiene_visits`: one per occurrence (unique per enrollment and time), its state,
whether the person was met, a health concern and a sealed observation; a partial index on the
unsettled ones for the missed-visit rule. The downgrade drops both.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hygiene_enrollments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("rrule", sa.Text(), nullable=False),
        sa.Column("dtstart", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column(
            "scheduled_until", welfare.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("enrolled_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_hygiene_enrollments_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hygiene_enrollments")),
    )
    with op.batch_alter_table("hygiene_enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hygiene_enrollments_dong_enrolled", ["dong_code", "enrolled_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_hygiene_enrollments_scheduled_until",
            ["scheduled_until"],
            unique=False,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.create_index(
            "uq_hygiene_enrollments_active_resident",
            ["resident_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "hygiene_visits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("enrollment_id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("scheduled_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("met", sa.Boolean(), nullable=True),
        sa.Column("health_concern", sa.Boolean(), nullable=False),
        sa.Column("observation_enc", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["hygiene_enrollments.id"],
            name=op.f("fk_hygiene_visits_enrollment_id_hygiene_enrollments"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_hygiene_visits_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hygiene_visits")),
    )
    with op.batch_alter_table("hygiene_visits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hygiene_visits_dong_scheduled", ["dong_code", "scheduled_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_hygiene_visits_unsettled",
            ["scheduled_at"],
            unique=False,
            sqlite_where=sa.text("state IN ('scheduled', 'missed')"),
            postgresql_where=sa.text("state IN ('scheduled', 'missed')"),
        )
        batch_op.create_index(
            "uq_hygiene_visits_enrollment_at", ["enrollment_id", "scheduled_at"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("hygiene_visits", schema=None) as batch_op:
        batch_op.drop_index("uq_hygiene_visits_enrollment_at")
        batch_op.drop_index(
            "ix_hygiene_visits_unsettled",
            sqlite_where=sa.text("state IN ('scheduled', 'missed')"),
            postgresql_where=sa.text("state IN ('scheduled', 'missed')"),
        )
        batch_op.drop_index("ix_hygiene_visits_dong_scheduled")

    op.drop_table("hygiene_visits")
    with op.batch_alter_table("hygiene_enrollments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_hygiene_enrollments_active_resident",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(
            "ix_hygiene_enrollments_scheduled_until",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index("ix_hygiene_enrollments_dong_enrolled")

    op.drop_table("hygiene_enrollments")
