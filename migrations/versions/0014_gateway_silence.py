"""Gateway silence: each gateway's signal rhythm, follow-ups grouped under an incident.

`gateway_watches` keeps when each gateway last sent an accepted signal, the gap an admin
configured for it and the gap learned from its batches. A follow-up may be grouped under an
incident (`incident_id`, a `gateway_silent` follow-up) and carries its risk level's rank, so a
group lists highest risk first. An enrollment remembers which gateway its last successful
contact came through (`last_success_gateway_id`): the upgrade fills it from the contact log for
enrollments whose last success was a gateway signal; the downgrade drops it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_watches",
        sa.Column("gateway_id", sa.Uuid(), nullable=False),
        sa.Column("last_signal_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("learned_interval_seconds", sa.Integer(), nullable=True),
        sa.Column("expected_interval_seconds", sa.Integer(), nullable=True),
        sa.Column("configured_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["staff.id"], name=op.f("fk_gateway_watches_gateway_id_staff")
        ),
        sa.PrimaryKeyConstraint("gateway_id", name=op.f("pk_gateway_watches")),
    )
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("incident_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("risk_rank", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_followups_incident",
            ["incident_id", "risk_rank", "due_at", "id"],
            unique=False,
            sqlite_where=sa.text("incident_id IS NOT NULL"),
            postgresql_where=sa.text("incident_id IS NOT NULL"),
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_followups_incident_id_followups"), "followups", ["incident_id"], ["id"]
        )

    with op.batch_alter_table("ongi_enrollments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_success_gateway_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            "ix_ongi_enrollments_last_success_gateway_id", ["last_success_gateway_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_ongi_enrollments_last_success_gateway_id_staff"),
            "staff",
            ["last_success_gateway_id"],
            ["id"],
        )

    op.execute(
        sa.text(
            "UPDATE ongi_enrollments SET last_success_gateway_id = ("
            "SELECT contacts.staff_id FROM contacts "
            "WHERE contacts.resident_id = ongi_enrollments.resident_id "
            "AND contacts.occurred_at = ongi_enrollments.last_success_at "
            "AND contacts.source = 'gateway' "
            "AND contacts.outcome IN ('reached', 'unwell') "
            "ORDER BY contacts.recorded_at DESC LIMIT 1) "
            "WHERE last_success_at IS NOT NULL"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("ongi_enrollments", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ongi_enrollments_last_success_gateway_id_staff"), type_="foreignkey"
        )
        batch_op.drop_index("ix_ongi_enrollments_last_success_gateway_id")
        batch_op.drop_column("last_success_gateway_id")

    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_followups_incident_id_followups"), type_="foreignkey"
        )
        batch_op.drop_index(
            "ix_followups_incident",
            sqlite_where=sa.text("incident_id IS NOT NULL"),
            postgresql_where=sa.text("incident_id IS NOT NULL"),
        )
        batch_op.drop_column("risk_rank")
        batch_op.drop_column("incident_id")

    op.drop_table("gateway_watches")
