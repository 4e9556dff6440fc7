"""Verified-up-to marks of the audit chains.

`audit_verified_marks`: the `audit_verify_ahead` job walks each chain a slice at a time, in
passes that start again from the anchor every day, and appends a MAC'd mark of how far the
current pass found the links whole (services/audit/marks.py); retention then walks only what
lies past the newest pass's mark before it drops a month. Append-only on PostgreSQL, as the
re-anchor records.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_REFUSE_CHANGE = """
CREATE OR REPLACE FUNCTION welfare_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'welfare: % on % refused: the table is append-only',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_verified_marks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("chain", sa.String(20), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("pass_from", sa.BigInteger(), nullable=False),
        sa.Column("pass_started_at", welfare.models.base.UTCDateTime(), nullable=False),
        sa.Column("at", welfare.models.base.UTCDateTime(), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verified_marks")),
    )
    op.create_index("ix_audit_verified_marks_chain_seq", "audit_verified_marks", ["chain", "seq"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(PG_REFUSE_CHANGE)
    op.execute(
        "CREATE TRIGGER audit_verified_marks_append_only BEFORE UPDATE OR DELETE "
        "ON audit_verified_marks FOR EACH ROW EXECUTE FUNCTION welfare_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER audit_verified_marks_no_truncate BEFORE TRUNCATE ON audit_verified_marks "
        "FOR EACH STATEMENT EXECUTE FUNCTION welfare_refuse_change()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE audit_verified_marks")  # its triggers go with it
        return
    op.drop_index("ix_audit_verified_marks_chain_seq", table_name="audit_verified_marks")
    op.drop_table("audit_verified_marks")
