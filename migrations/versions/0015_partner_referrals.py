"""External referrals to partner agencies (config/partners.json), with the sheet sent.

One table: the referral with its consent (who, sealed; when; the scope code), the reason and the
sheet sent (sealed with the resident's key), its state and the time the partner must answer by.
A partial index on referrals still `sent` keeps the tick's cost to the overdue. The downgrade
drops the table.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "external_referrals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("dong_code", sa.String(length=10), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("partner_code", sa.String(length=40), nullable=False),
        sa.Column("consent_scope", sa.String(length=30), nullable=False),
        sa.Column("consent_given_by_enc", sa.LargeBinary(), nullable=False),
        sa.Column(
            "consent_given_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=False),
        sa.Column("sheet_enc", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("sent_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_by", sa.Uuid(), nullable=True),
        sa.Column("answer_due_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.Uuid(), nullable=True),
        sa.Column("completed_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("client_ref", sa.String(length=120), nullable=True),
        sa.Column("request_mac", sa.LargeBinary(length=32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_external_referrals_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_external_referrals_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_referrals")),
    )
    with op.batch_alter_table("external_referrals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_external_referrals_awaiting",
            ["answer_due_at"],
            unique=False,
            sqlite_where=sa.text("state = 'sent'"),
            postgresql_where=sa.text("state = 'sent'"),
        )
        batch_op.create_index(
            "ix_external_referrals_dong_sent", ["dong_code", "sent_at", "id"], unique=False
        )
        batch_op.create_index("ix_external_referrals_resident_id", ["resident_id"], unique=False)
        batch_op.create_index(
            "uq_external_referrals_sender_ref", ["sent_by", "client_ref"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("external_referrals", schema=None) as batch_op:
        batch_op.drop_index("uq_external_referrals_sender_ref")
        batch_op.drop_index("ix_external_referrals_resident_id")
        batch_op.drop_index("ix_external_referrals_dong_sent")
        batch_op.drop_index(
            "ix_external_referrals_awaiting",
            sqlite_where=sa.text("state = 'sent'"),
            postgresql_where=sa.text("state = 'sent'"),
        )

    op.drop_table("external_referrals")
