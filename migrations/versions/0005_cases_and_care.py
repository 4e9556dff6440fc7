"""Cases (notes, events, referrals with consent) and 24-hour care center requests.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "care_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=True),
        sa.Column("care_type", sa.String(length=30), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("urgency", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("received_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("respond_by", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("responded_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("responded_by", sa.Uuid(), nullable=True),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("outcome_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome_by", sa.Uuid(), nullable=True),
        sa.Column("linked_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("summary_enc", sa.LargeBinary(), nullable=True),
        sa.Column("caller_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("caller_phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dong_code"], ["dongs.code"], name=op.f("fk_care_requests_dong_code_dongs")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_care_requests_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_requests")),
    )
    with op.batch_alter_table("care_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_care_requests_open_dong_respond_by",
            ["dong_code", "respond_by", "id"],
            unique=False,
            sqlite_where=sa.text("state IN ('received', 'responded')"),
            postgresql_where=sa.text("state IN ('received', 'responded')"),
        )
        batch_op.create_index("ix_care_requests_resident_id", ["resident_id"], unique=False)
        batch_op.create_index(
            "ix_care_requests_unanswered_respond_by",
            ["respond_by"],
            unique=False,
            sqlite_where=sa.text("state = 'received'"),
            postgresql_where=sa.text("state = 'received'"),
        )

    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("program", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("referred_from_case_id", sa.Uuid(), nullable=True),
        sa.Column("opened_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.Uuid(), nullable=True),
        sa.Column(
            "closure_requested_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("closure_requested_by", sa.Uuid(), nullable=True),
        sa.Column("closed_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referred_from_case_id"],
            ["cases.id"],
            name=op.f("fk_cases_referred_from_case_id_cases"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_cases_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_open_queue",
            ["dong_code", "program", "status", "opened_at", "id"],
            unique=False,
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )
        batch_op.create_index("ix_cases_resident_id", ["resident_id"], unique=False)
        # One open case per resident per program, enforced by the database.
        batch_op.create_index(
            "uq_cases_open_resident_program",
            ["resident_id", "program"],
            unique=True,
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )

    op.create_table(
        "care_request_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("care_request_id", sa.Uuid(), nullable=False),
        sa.Column("at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor_staff_id", sa.Uuid(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("note_enc", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["care_request_id"],
            ["care_requests.id"],
            name=op.f("fk_care_request_events_care_request_id_care_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_request_events")),
    )
    with op.batch_alter_table("care_request_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_care_request_events_request_id_at", ["care_request_id", "at"], unique=False
        )

    op.create_table(
        "case_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=30), nullable=True),
        sa.Column("to_status", sa.String(length=30), nullable=True),
        sa.Column("actor_staff_id", sa.Uuid(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.create_index("ix_case_events_case_id_at", ["case_id", "at"], unique=False)

    op.create_table(
        "case_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("written_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("body_enc", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_notes_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_case_notes_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_notes_case_id_written_at", ["case_id", "written_at"], unique=False
        )

    op.create_table(
        "referrals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("from_case_id", sa.Uuid(), nullable=False),
        sa.Column("to_case_id", sa.Uuid(), nullable=False),
        sa.Column("from_program", sa.String(length=20), nullable=False),
        sa.Column("to_program", sa.String(length=20), nullable=False),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=False),
        sa.Column("consent_given_by_enc", sa.LargeBinary(), nullable=False),
        sa.Column(
            "consent_given_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("consent_scope_enc", sa.LargeBinary(), nullable=False),
        sa.Column("referred_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("referred_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["from_case_id"], ["cases.id"], name=op.f("fk_referrals_from_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_referrals_resident_id_residents")
        ),
        sa.ForeignKeyConstraint(
            ["to_case_id"], ["cases.id"], name=op.f("fk_referrals_to_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index("ix_referrals_from_case_id", ["from_case_id"], unique=False)
        batch_op.create_index("ix_referrals_to_case_id", ["to_case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_to_case_id")
        batch_op.drop_index("ix_referrals_from_case_id")

    op.drop_table("referrals")
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_case_notes_case_id_written_at")

    op.drop_table("case_notes")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_index("ix_case_events_case_id_at")

    op.drop_table("case_events")
    with op.batch_alter_table("care_request_events", schema=None) as batch_op:
        batch_op.drop_index("ix_care_request_events_request_id_at")

    op.drop_table("care_request_events")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_cases_open_resident_program",
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )
        batch_op.drop_index("ix_cases_resident_id")
        batch_op.drop_index(
            "ix_cases_open_queue",
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )

    op.drop_table("cases")
    with op.batch_alter_table("care_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_care_requests_unanswered_respond_by",
            sqlite_where=sa.text("state = 'received'"),
            postgresql_where=sa.text("state = 'received'"),
        )
        batch_op.drop_index("ix_care_requests_resident_id")
        batch_op.drop_index(
            "ix_care_requests_open_dong_respond_by",
            sqlite_where=sa.text("state IN ('received', 'responded')"),
            postgresql_where=sa.text("state IN ('received', 'responded')"),
        )

    op.drop_table("care_requests")
