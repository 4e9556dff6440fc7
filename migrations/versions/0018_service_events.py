"""The history of counselor dispatches and external referrals.

`dispatch_events` and `referral_events` keep one row per thing that happened to a dispatch
(requested, assigned, en route, on site, done, moved with the resident, cancelled) or to a
referral (sent, accepted, declined, completed, moved, withdrawn), as `care_request_events` does
for care requests: codes, states and staff ids only, never personal data, so nothing in them is
sealed and they outlive an erasure. Rows made before this revision have no history; their
timestamps on the dispatch or referral still tell when each step happened. The downgrade drops
both tables.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    ("dispatch_events", "dispatch_id", "dispatches"),
    ("referral_events", "referral_id", "external_referrals"),
)


def upgrade() -> None:
    for table, subject, parent in TABLES:
        op.create_table(
            table,
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column(subject, sa.Uuid(), nullable=False),
            sa.Column("at", welfare.models.base.UTCDateTime(timezone=True), nullable=False),
            sa.Column("kind", sa.String(length=20), nullable=False),
            sa.Column("actor_staff_id", sa.Uuid(), nullable=True),
            sa.Column("detail", sa.JSON(), nullable=False),
            sa.ForeignKeyConstraint(
                [subject], [f"{parent}.id"], name=op.f(f"fk_{table}_{subject}_{parent}")
            ),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f"ix_{table}_{subject}_at", [subject, "at"], unique=False)


def downgrade() -> None:
    for table, subject, _parent in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_{subject}_at")
        op.drop_table(table)
