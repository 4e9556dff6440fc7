"""A counselor's duty shift in a dong is entered once.

`uq_duty_shifts_dong_staff_starts`: one shift per dong, counselor and start time, so a roster
form or an API call sent twice puts the counselor on duty once (services/dispatch.py answers the
repeat with the first shift). Rows that already repeat a (dong, counselor, start) are merged
first into the one that ends latest (ties: the smallest id), which is what the duty check read
from them anyway. The downgrade drops the index; merged rows stay merged.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        DELETE FROM duty_shifts
        WHERE EXISTS (
            SELECT 1 FROM duty_shifts AS other
            WHERE other.dong_code = duty_shifts.dong_code
              AND other.staff_id = duty_shifts.staff_id
              AND other.starts_at = duty_shifts.starts_at
              AND (other.ends_at > duty_shifts.ends_at
                   OR (other.ends_at = duty_shifts.ends_at AND other.id < duty_shifts.id))
        )
        """
    )
    with op.batch_alter_table("duty_shifts", schema=None) as batch_op:
        batch_op.create_index(
            "uq_duty_shifts_dong_staff_starts",
            ["dong_code", "staff_id", "starts_at"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("duty_shifts", schema=None) as batch_op:
        batch_op.drop_index("uq_duty_shifts_dong_staff_starts")
