"""Foundation: reference dongs, scheduler runs and leases, system markers.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import welfare.models.base
from config.reference import load_dongs

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dongs = op.create_table(
        "dongs",
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("name_en", sa.String(length=60), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_dongs")),
    )
    op.bulk_insert(
        dongs,
        [
            {"code": d.code, "name": d.name, "name_en": d.name_en, "is_active": True}
            for d in load_dongs()
        ],
    )
    op.create_table(
        "scheduler_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("as_of", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("node", sa.String(length=120), nullable=False),
        sa.Column("started_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduler_runs")),
    )
    op.create_index("ix_scheduler_runs_job_started", "scheduler_runs", ["job", "started_at"])
    op.create_table(
        "scheduler_leases",
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("expires_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_scheduler_leases")),
    )
    op.create_table(
        "system_markers",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("set_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_system_markers")),
    )


def downgrade() -> None:
    op.drop_table("system_markers")
    op.drop_table("scheduler_leases")
    op.drop_index("ix_scheduler_runs_job_started", table_name="scheduler_runs")
    op.drop_table("scheduler_runs")
    op.drop_table("dongs")
