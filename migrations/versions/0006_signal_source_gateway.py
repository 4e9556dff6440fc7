"""Signal sources may be pinned to one gateway account; their dong follows their resident.

A source belongs to the gateway it is pinned to, or, unpinned (every source registered before
this revision), to the gateways whose dongs include its dong. Residents who moved before now
left their sources' dong behind, so the upgrade copies each resident's current dong onto their
sources; the downgrade only drops the column (the refreshed dongs are correct either way).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signal_sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gateway_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_signal_sources_gateway_id_staff"), "staff", ["gateway_id"], ["id"]
        )
    op.execute(
        sa.text(
            "UPDATE signal_sources SET dong_code = "
            "(SELECT residents.dong_code FROM residents "
            "WHERE residents.id = signal_sources.resident_id)"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("signal_sources", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_signal_sources_gateway_id_staff"), type_="foreignkey"
        )
        batch_op.drop_column("gateway_id")
