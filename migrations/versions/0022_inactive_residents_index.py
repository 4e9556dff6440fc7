"""A partial index of the residents who are not active (moved out, deceased, erased).

The follow-up tick asks of every due enrollment and every live follow-up whether its resident is
still active. Probing the primary key read each wide, sealed resident row (at 1,000,000 residents
about 500 MB, more than the buffer cache), once per live lapse per tick; the question is answered
from this index instead, which holds only the residents who left (few against the active):
PostgreSQL probes it, SQLite reads it once per statement into a list.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_ACTIVE = sa.text("status <> 'active'")


def upgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_residents_not_active",
            ["id"],
            unique=False,
            sqlite_where=NOT_ACTIVE,
            postgresql_where=NOT_ACTIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_index("ix_residents_not_active")
