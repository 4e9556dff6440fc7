"""Access records appended sealed and linked in batches, off the request path.

- `seal` on both record tables: the HMAC a record carries from its append (services/audit).
- `seq`, `prev_hash` and `hash` become nullable: null until the `audit_link` job links the record.
- A partial index per table over the unlinked records (what the job takes next, oldest first).
- The append-only guards now allow exactly one UPDATE per record: the linking, which sets those
  three columns from null and changes nothing else. Every other UPDATE, every DELETE but the
  retention job's and every TRUNCATE stays refused. On SQLite the tables are rebuilt (a column
  cannot lose NOT NULL in place) and their guard triggers written again.

Downgrading refuses while any record is unlinked (link them first: `welfare scheduler tick`) or
sealed: a sealed record's link covers its seal, which the older code does not know, so those
records would no longer verify there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Retention in days (as revision 0003 froze it) and every column, frozen at this revision.
RECORD_TABLES = {"audit_events": 730, "access_right_changes": 1095}
COLUMNS = {
    "audit_events": (
        "id",
        "at",
        "staff_id",
        "actor_role",
        "action",
        "resident_ids",
        "outcome",
        "reason",
        "category",
        "ip",
        "request_id",
        "token_id",
        "seal",
    ),
    "access_right_changes": (
        "id",
        "at",
        "actor_staff_id",
        "actor_role",
        "target_staff_id",
        "change",
        "before",
        "after",
        "ip",
        "request_id",
        "token_id",
        "seal",
    ),
}
LINK_COLUMNS = ("seq", "prev_hash", "hash")

PG_RECORD_GUARD = """
CREATE OR REPLACE FUNCTION welfare_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('welfare.audit_retention', true) = 'on'
           AND OLD.at < now() - make_interval(days => TG_ARGV[0]::int) THEN
            RETURN OLD;
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- The linking: the chain position set once, from null, and nothing else changed.
        IF OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
           AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
           AND to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash'
               = to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash' THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'welfare: % on % refused: access records are append-only',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

# The function as revision 0003 wrote it, restored on downgrade.
PG_RECORD_GUARD_0003 = """
CREATE OR REPLACE FUNCTION welfare_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
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


def _sqlite_guards(table: str, days: int, *, linking: bool) -> list[str]:
    if linking:
        unchanged = " AND ".join(f'NEW."{c}" IS OLD."{c}"' for c in COLUMNS[table])
        from_null = " AND ".join(f'OLD."{c}" IS NULL' for c in LINK_COLUMNS)
        to_value = " AND ".join(f'NEW."{c}" IS NOT NULL' for c in LINK_COLUMNS)
        when = f" WHEN NOT ({from_null} AND {to_value} AND {unchanged})"
    else:
        when = ""
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}{when} "
        "BEGIN SELECT RAISE(ABORT, 'welfare: access records are append-only'); END",
        f"CREATE TRIGGER {table}_retention_only BEFORE DELETE ON {table} "
        f"WHEN OLD.at >= datetime('now', '-{days} days') "
        "BEGIN SELECT RAISE(ABORT, 'welfare: access records are append-only'); END",
    ]


def _set_nullable(table: str, *, nullable: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_retention_only")
    with op.batch_alter_table(table, recreate="always" if sqlite else "never") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=nullable)
        for column in ("prev_hash", "hash"):
            batch.alter_column(column, existing_type=sa.String(64), nullable=nullable)
    if sqlite:
        for statement in _sqlite_guards(table, RECORD_TABLES[table], linking=nullable):
            op.execute(statement)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in RECORD_TABLES:
        op.add_column(table, sa.Column("seal", sa.String(64), nullable=True))
        _set_nullable(table, nullable=True)
        op.create_index(
            f"ix_{table}_unlinked",
            table,
            ["at", "id"],
            postgresql_where=sa.text("seq IS NULL"),
            sqlite_where=sa.text("seq IS NULL"),
        )
    if postgresql:
        op.execute(PG_RECORD_GUARD)


def downgrade() -> None:
    bind = op.get_bind()
    for table in RECORD_TABLES:
        waiting = bind.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE seq IS NULL OR seal IS NOT NULL")  # noqa: S608 - a constant table name
        ).scalar_one()
        if waiting:
            raise RuntimeError(
                f"{table}: {waiting} records are unlinked or sealed; the older code can neither "
                "link them nor verify their links. Restore a backup from before revision 0012."
            )
    if bind.dialect.name == "postgresql":
        op.execute(PG_RECORD_GUARD_0003)
    for table in RECORD_TABLES:
        op.drop_index(f"ix_{table}_unlinked", table_name=table)
        _set_nullable(table, nullable=False)
        # A plain DROP COLUMN (SQLite 3.35+): the guards as 0003 wrote them name no seal.
        op.drop_column(table, "seal")
