"""Keyed genesis of the audit chains: when each chain was started, and the MAC that starts it.

A freshly migrated chain head has no MAC (a migration never holds the audit key). The first
process that holds the key writes the chain's genesis: `started_at` and `genesis_hash`, a MAC of
the chain's name and that instant which becomes the `prev_hash` of the chain's first link
(services/audit/chain.py). The head's guard triggers now also refuse to take a MAC or a genesis
away once written, so resetting a head to its freshly migrated state needs the trigger switched
off (a database administrator), and `welfare audit verify` still reports it.

Chains started before this revision keep both columns null and verify as before. Downgrading
drops the columns and with them when each chain started; the heads keep their MACs, which never
covered the columns, and the first link still names the genesis kept in `anchor_prev_hash`, so
the chains verify under the older code and after upgrading again (their start then unknown).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_HEAD_GUARD = """
CREATE OR REPLACE FUNCTION welfare_audit_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.chain = OLD.chain
           AND NEW.last_seq >= OLD.last_seq
           AND NEW.anchor_seq >= OLD.anchor_seq
           AND (OLD.mac IS NULL OR NEW.mac IS NOT NULL)
           AND (OLD.started_at IS NULL OR NEW.started_at IS NOT DISTINCT FROM OLD.started_at)
           AND (OLD.genesis_hash IS NULL
                OR NEW.genesis_hash IS NOT DISTINCT FROM OLD.genesis_hash) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'welfare: % on % refused: a chain head only moves forward',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

# The function as revision 0003 wrote it, restored on downgrade.
PG_HEAD_GUARD_0003 = """
CREATE OR REPLACE FUNCTION welfare_audit_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
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

SQLITE_HEAD_GUARD = (
    "CREATE TRIGGER audit_chain_heads_forward_only BEFORE UPDATE ON audit_chain_heads "
    "WHEN NEW.chain <> OLD.chain OR NEW.last_seq < OLD.last_seq "
    "OR NEW.anchor_seq < OLD.anchor_seq "
    "OR (OLD.mac IS NOT NULL AND NEW.mac IS NULL) "
    "OR (OLD.started_at IS NOT NULL AND NEW.started_at IS NOT OLD.started_at) "
    "OR (OLD.genesis_hash IS NOT NULL AND NEW.genesis_hash IS NOT OLD.genesis_hash) "
    "BEGIN SELECT RAISE(ABORT, 'welfare: a chain head only moves forward'); END"
)

SQLITE_HEAD_GUARD_0003 = (
    "CREATE TRIGGER audit_chain_heads_forward_only BEFORE UPDATE ON audit_chain_heads "
    "WHEN NEW.chain <> OLD.chain OR NEW.last_seq < OLD.last_seq "
    "OR NEW.anchor_seq < OLD.anchor_seq "
    "BEGIN SELECT RAISE(ABORT, 'welfare: a chain head only moves forward'); END"
)


def upgrade() -> None:
    op.add_column(
        "audit_chain_heads",
        sa.Column("started_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("audit_chain_heads", sa.Column("genesis_hash", sa.String(64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_HEAD_GUARD)
    else:
        op.execute("DROP TRIGGER audit_chain_heads_forward_only")
        op.execute(SQLITE_HEAD_GUARD)


def downgrade() -> None:
    # The guard goes back first: it names the columns about to be dropped.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_HEAD_GUARD_0003)
    else:
        op.execute("DROP TRIGGER audit_chain_heads_forward_only")
        op.execute(SQLITE_HEAD_GUARD_0003)
    # A plain DROP COLUMN (SQLite 3.35+), never batch mode: rebuilding the table on SQLite would
    # drop its other guard trigger with it.
    op.drop_column("audit_chain_heads", "genesis_hash")
    op.drop_column("audit_chain_heads", "started_at")
