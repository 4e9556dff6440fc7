"""Access records: chained audit events, access-right changes, chain heads, append-only guards.

On PostgreSQL, triggers reject every UPDATE, DELETE and TRUNCATE of the two record tables, with one
exception: the retention job may DELETE a row once it is older than its retention period. The job
announces itself with `SET LOCAL welfare.audit_retention = 'on'`; the trigger then allows a DELETE
only when that setting is on AND the row's `at` lies further back than the period given to the
trigger (730 days for access records, 1095 for access-right changes, PIPA safeguard standard). The
setting is not a secret and any session may set it; what protects the records is the age test
(nothing the law still requires can be deleted) and the keyed chain (deleting anything but the
oldest prefix, or that prefix without moving the MAC'd anchor, fails `welfare audit verify`).
Chain heads may only move forward. SQLite gets the same rules as plain triggers, as a guard against
application bugs (whoever holds the SQLite file can drop them; the chain still tells).

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import welfare.models.base

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64
# Retention in days, frozen at this revision; schedulers/audit_retention.py must never prune
# earlier than this (a test compares the two).
RECORD_TABLES = {"audit_events": 730, "access_right_changes": 1095}
CHAINS = ("access", "access_rights")

PG_RECORD_GUARD = """
CREATE FUNCTION welfare_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('welfare.audit_retention', true) = 'on'
           AND OLD.at < now() - make_interval(days => TG_ARGV[0]::int) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'welfare: % on % refused: access records are append-only',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

PG_HEAD_GUARD = """
CREATE FUNCTION welfare_audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.chain = OLD.chain
           AND NEW.last_seq >= OLD.last_seq
           AND NEW.anchor_seq >= OLD.anchor_seq THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'welfare: % on % refused: a chain head only moves forward',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column(
            "resident_ids",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_events_seq")),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_staff_id_at", "audit_events", ["staff_id", "at"])
    op.create_table(
        "access_right_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_staff_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("target_staff_id", sa.Uuid(), nullable=False),
        sa.Column("change", sa.String(length=40), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_right_changes")),
        sa.UniqueConstraint("seq", name=op.f("uq_access_right_changes_seq")),
    )
    op.create_index("ix_access_right_changes_at", "access_right_changes", ["at"])
    op.create_index(
        "ix_access_right_changes_target_staff_id_at",
        "access_right_changes",
        ["target_staff_id", "at"],
    )
    heads = op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.String(length=20), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("anchor_prev_hash", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=True),
        sa.Column("updated_at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_chain_heads")),
    )
    # The pristine heads: nothing appended yet, so no MAC (the key is not the migration's to use).
    now = datetime.now(UTC)
    op.bulk_insert(
        heads,
        [
            {
                "chain": chain,
                "last_seq": 0,
                "last_hash": GENESIS_HASH,
                "anchor_seq": 1,
                "anchor_prev_hash": GENESIS_HASH,
                "mac": None,
                "updated_at": now,
            }
            for chain in CHAINS
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        _create_postgresql_guards()
    else:
        _create_sqlite_guards()


def _create_postgresql_guards() -> None:
    op.create_index(
        "ix_audit_events_resident_ids",
        "audit_events",
        ["resident_ids"],
        postgresql_using="gin",
        postgresql_ops={"resident_ids": "jsonb_path_ops"},
    )
    op.execute(PG_RECORD_GUARD)
    op.execute(PG_HEAD_GUARD)
    for table, days in RECORD_TABLES.items():
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION welfare_audit_append_only('{days}')"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION welfare_audit_append_only('{days}')"
        )
    op.execute(
        "CREATE TRIGGER audit_chain_heads_forward_only BEFORE UPDATE OR DELETE "
        "ON audit_chain_heads FOR EACH ROW EXECUTE FUNCTION welfare_audit_head_forward_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_chain_heads_no_truncate BEFORE TRUNCATE ON audit_chain_heads "
        "FOR EACH STATEMENT EXECUTE FUNCTION welfare_audit_head_forward_only()"
    )


def _create_sqlite_guards() -> None:
    # SQLite has no session settings, so only the age test guards a DELETE here.
    for table, days in RECORD_TABLES.items():
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'welfare: access records are append-only'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_retention_only BEFORE DELETE ON {table} "
            f"WHEN OLD.at >= datetime('now', '-{days} days') "
            f"BEGIN SELECT RAISE(ABORT, 'welfare: access records are append-only'); END"
        )
    op.execute(
        "CREATE TRIGGER audit_chain_heads_no_delete BEFORE DELETE ON audit_chain_heads "
        "BEGIN SELECT RAISE(ABORT, 'welfare: a chain head only moves forward'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_chain_heads_forward_only BEFORE UPDATE ON audit_chain_heads "
        "WHEN NEW.chain <> OLD.chain OR NEW.last_seq < OLD.last_seq "
        "OR NEW.anchor_seq < OLD.anchor_seq "
        "BEGIN SELECT RAISE(ABORT, 'welfare: a chain head only moves forward'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in RECORD_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_heads_forward_only ON audit_chain_heads")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_heads_no_truncate ON audit_chain_heads")
        op.execute("DROP FUNCTION IF EXISTS welfare_audit_append_only()")
        op.execute("DROP FUNCTION IF EXISTS welfare_audit_head_forward_only()")
        op.execute("DROP INDEX IF EXISTS ix_audit_events_resident_ids")
    else:
        for table in RECORD_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_retention_only")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_heads_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_heads_forward_only")
    op.drop_table("audit_chain_heads")
    op.drop_index("ix_access_right_changes_target_staff_id_at", table_name="access_right_changes")
    op.drop_index("ix_access_right_changes_at", table_name="access_right_changes")
    op.drop_table("access_right_changes")
    op.drop_index("ix_audit_events_staff_id_at", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
