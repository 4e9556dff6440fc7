"""Counselor dispatch (outreach_dispatch): dispatches and the duty roster.

`dispatches` holds a request for an on-site counselor visit: its dong, the resident or (before
registration) an address sealed under the dispatch's own data key, the urgency's deadline, the
state and outcome, the assignee; a partial index on the deadline of those not yet on site for the
tick. `duty_shifts` is the roster of counselors on duty per dong. The downgrade drops both.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "duty_shifts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dong_code"], ["dongs.code"], name=op.f("fk_duty_shifts_dong_code_dongs")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_duty_shifts_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_shifts")),
    )
    with op.batch_alter_table("duty_shifts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_duty_shifts_dong_starts", ["dong_code", "starts_at", "id"], unique=False
        )

    op.create_table(
        "dispatches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=True),
        sa.Column("requester_kind", sa.String(length=20), nullable=False),
        sa.Column("requester_partner", sa.String(length=40), nullable=True),
        sa.Column("urgency", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("requested_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("deadline_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("en_route_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("on_site_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("address_enc", sa.LargeBinary(), nullable=True),
        sa.Column("summary_enc", sa.LargeBinary(), nullable=True),
        sa.Column("note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("client_ref", sa.String(length=120), nullable=True),
        sa.Column("request_mac", sa.LargeBinary(length=32), nullable=True),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["staff.id"], name=op.f("fk_dispatches_assignee_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_dispatches_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["dong_code"], ["dongs.code"], name=op.f("fk_dispatches_dong_code_dongs")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_dispatches_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatches")),
    )
    with op.batch_alter_table("dispatches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dispatches_dong_requested", ["dong_code", "requested_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_dispatches_not_on_site_deadline",
            ["deadline_at"],
            unique=False,
            sqlite_where=sa.text("state IN ('requested', 'assigned', 'en_route')"),
            postgresql_where=sa.text("state IN ('requested', 'assigned', 'en_route')"),
        )
        batch_op.create_index("ix_dispatches_resident_id", ["resident_id"], unique=False)
        batch_op.create_index(
            "uq_dispatches_requester_ref", ["requested_by", "client_ref"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("dispatches", schema=None) as batch_op:
        batch_op.drop_index("uq_dispatches_requester_ref")
        batch_op.drop_index("ix_dispatches_resident_id")
        batch_op.drop_index(
            "ix_dispatches_not_on_site_deadline",
            sqlite_where=sa.text("state IN ('requested', 'assigned', 'en_route')"),
            postgresql_where=sa.text("state IN ('requested', 'assigned', 'en_route')"),
        )
        batch_op.drop_index("ix_dispatches_dong_requested")

    op.drop_table("dispatches")
    with op.batch_alter_table("duty_shifts", schema=None) as batch_op:
        batch_op.drop_index("ix_duty_shifts_dong_starts")

    op.drop_table("duty_shifts")
