"""Access records and contacts partitioned by month on PostgreSQL; re-anchor records.

PostgreSQL: `audit_events` becomes a table partitioned by RANGE on `at`, `contacts` one
partitioned on `occurred_at`, one partition per calendar month (UTC, named `<table>_pYYYYMM`)
and a DEFAULT partition (`<table>_default`) so a row for a month without its partition is still
stored (the `partitions` job moves such rows into their month's partition). Each table is renamed
aside, the partitioned table created with the same columns, partitions created for every month
that holds rows and for this month and the next three, every row copied, and the old table
dropped, all in the migration's transaction (the tables are locked while it runs).

Unique constraints on a partitioned table must include its partition key:
- `audit_events`: the primary key becomes (id, at); `seq` loses its unique constraint for a plain
  index (the chain lock and the head's compare-and-set keep it unique; verification names a
  duplicate). The append-only row trigger is declared on the parent (PostgreSQL clones it to
  every partition); the TRUNCATE trigger is per table, so every partition gets its own.
- `contacts`: the primary key becomes (id, occurred_at), the idempotency index (staff_id,
  client_ref, occurred_at); the first use of a ref takes a transaction lock on it instead
  (services/idempotency.py).

Everywhere: `audit_reanchors`, the MAC'd records of links that retention dropped with their
partitions (services/audit/retention.py), append-only on PostgreSQL. SQLite keeps plain tables:
nothing else changes there.

The downgrade copies the rows back into plain tables (refusing if a seq is duplicated).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The partitioned tables, their partition key and how many months ahead exist at migrate time.
PARTITIONED = {"audit_events": "at", "contacts": "occurred_at"}
MONTHS_AHEAD = 3
AUDIT_RETENTION_DAYS = 730  # as revision 0003 froze it

# Indexes of each table as revision 0019 left them (dropped from the old table, made again).
AUDIT_INDEXES = (
    "CREATE INDEX ix_audit_events_at ON audit_events (at)",
    "CREATE INDEX ix_audit_events_staff_id_at ON audit_events (staff_id, at)",
    "CREATE INDEX ix_audit_events_unlinked ON audit_events (at, id) WHERE seq IS NULL",
    "CREATE INDEX ix_audit_events_resident_ids ON audit_events "
    "USING gin (resident_ids jsonb_path_ops)",
)
CONTACT_INDEXES = (
    "CREATE INDEX ix_contacts_resident_id_occurred_at ON contacts (resident_id, occurred_at)",
)

PG_REFUSE_CHANGE = """
CREATE OR REPLACE FUNCTION welfare_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'welfare: % on % refused: re-anchor records are append-only',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def _month(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(month: datetime) -> datetime:
    return (
        month.replace(year=month.year + 1, month=1)
        if month.month == 12
        else month.replace(month=month.month + 1)
    )


def _create_partition(table: str, month: datetime) -> None:
    name = f"{table}_p{month:%Y%m}"
    upper = _next_month(month)
    op.execute(
        f"CREATE TABLE {name} PARTITION OF {table} "
        f"FOR VALUES FROM ('{month.isoformat()}') TO ('{upper.isoformat()}')"
    )
    if table == "audit_events":
        _no_truncate(name)


def _no_truncate(name: str) -> None:
    op.execute(
        f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION welfare_audit_append_only('{AUDIT_RETENTION_DAYS}')"
    )


def _audit_guards() -> None:
    guard = f"welfare_audit_append_only('{AUDIT_RETENTION_DAYS}')"
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        f"FOR EACH ROW EXECUTE FUNCTION {guard}"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {guard}"
    )


def _partition(table: str) -> None:
    """Turn one plain table into a monthly partitioned one, keeping every row."""
    bind = op.get_bind()
    key = PARTITIONED[table]
    old = f"{table}_unpartitioned"
    op.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    months = {
        _month(m)
        for (m,) in bind.execute(
            sa.text(f"SELECT DISTINCT date_trunc('month', {key}, 'UTC') FROM {table}")  # noqa: S608 - constant names
        )
    }
    now = _month(bind.execute(sa.text("SELECT now()")).scalar_one())
    for _ in range(MONTHS_AHEAD + 1):
        months.add(now)
        now = _next_month(now)
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER INDEX pk_{table} RENAME TO pk_{old}")
    if table == "audit_events":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events_unpartitioned")
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events_unpartitioned")
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT uq_audit_events_seq")
        for index in ("at", "staff_id_at", "unlinked", "resident_ids"):
            op.execute(f"DROP INDEX ix_audit_events_{index}")
    else:
        op.execute("DROP INDEX ix_contacts_resident_id_occurred_at")
        op.execute("DROP INDEX uq_contacts_staff_client_ref")
    op.execute(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING STORAGE) "
        f"PARTITION BY RANGE ({key})"
    )
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id, {key})")
    if table == "audit_events":
        for statement in AUDIT_INDEXES:
            op.execute(statement)
        op.execute("CREATE INDEX ix_audit_events_seq ON audit_events (seq)")
        _audit_guards()
    else:
        for statement in CONTACT_INDEXES:
            op.execute(statement)
        op.execute(
            "CREATE UNIQUE INDEX uq_contacts_staff_client_ref_occurred_at "
            "ON contacts (staff_id, client_ref, occurred_at)"
        )
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT fk_contacts_resident_id_residents")
        op.execute(
            "ALTER TABLE contacts ADD CONSTRAINT fk_contacts_resident_id_residents "
            "FOREIGN KEY (resident_id) REFERENCES residents (id)"
        )
    for month in sorted(months):
        _create_partition(table, month)
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    if table == "audit_events":
        _no_truncate(f"{table}_default")
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608 - constant names
    op.execute(f"DROP TABLE {old}")


def _unpartition(table: str) -> None:
    """Copy a partitioned table back into a plain one, as revision 0019 left it."""
    old = f"{table}_partitioned"
    op.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    if table == "audit_events":
        duplicated = (
            op.get_bind()
            .execute(
                sa.text(
                    "SELECT count(*) FROM (SELECT seq FROM audit_events WHERE seq IS NOT NULL "
                    "GROUP BY seq HAVING count(*) > 1) d"
                )
            )
            .scalar_one()
        )
        if duplicated:
            raise RuntimeError(f"audit_events: {duplicated} seqs are duplicated; cannot downgrade")
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER INDEX pk_{table} RENAME TO pk_{old}")
    if table == "audit_events":
        for index in ("at", "staff_id_at", "unlinked", "resident_ids", "seq"):
            op.execute(f"DROP INDEX ix_audit_events_{index}")
    else:
        op.execute("DROP INDEX ix_contacts_resident_id_occurred_at")
        op.execute("DROP INDEX uq_contacts_staff_client_ref_occurred_at")
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT fk_contacts_resident_id_residents")
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING STORAGE)")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608 - constant names
    op.execute(f"DROP TABLE {old}")
    if table == "audit_events":
        for statement in AUDIT_INDEXES:
            op.execute(statement)
        op.execute("ALTER TABLE audit_events ADD CONSTRAINT uq_audit_events_seq UNIQUE (seq)")
        _audit_guards()
    else:
        for statement in CONTACT_INDEXES:
            op.execute(statement)
        op.execute(
            "CREATE UNIQUE INDEX uq_contacts_staff_client_ref ON contacts (staff_id, client_ref)"
        )
        op.execute(
            "ALTER TABLE contacts ADD CONSTRAINT fk_contacts_resident_id_residents "
            "FOREIGN KEY (resident_id) REFERENCES residents (id)"
        )


def upgrade() -> None:
    op.create_table(
        "audit_reanchors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("chain", sa.String(20), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("months", sa.JSON(), nullable=False),
        sa.Column("dropped_before", welfare.models.base.UTCDateTime(), nullable=False),
        sa.Column("at", welfare.models.base.UTCDateTime(), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_reanchors")),
    )
    op.create_index("ix_audit_reanchors_chain_first_seq", "audit_reanchors", ["chain", "first_seq"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(PG_REFUSE_CHANGE)
    op.execute(
        "CREATE TRIGGER audit_reanchors_append_only BEFORE UPDATE OR DELETE ON audit_reanchors "
        "FOR EACH ROW EXECUTE FUNCTION welfare_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER audit_reanchors_no_truncate BEFORE TRUNCATE ON audit_reanchors "
        "FOR EACH STATEMENT EXECUTE FUNCTION welfare_refuse_change()"
    )
    for table in PARTITIONED:
        _partition(table)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in PARTITIONED:
            _unpartition(table)
        op.execute("DROP TABLE audit_reanchors")  # its triggers go with it
        op.execute("DROP FUNCTION welfare_refuse_change()")
        return
    op.drop_index("ix_audit_reanchors_chain_first_seq", table_name="audit_reanchors")
    op.drop_table("audit_reanchors")
