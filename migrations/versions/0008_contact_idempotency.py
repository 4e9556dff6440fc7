"""Contact idempotency keys are scoped per sender and bound to their request.

`client_ref` was unique across the district, so another team reusing a ref got a 404 for its
own resident; it is now unique per staff member or gateway (`staff_id`, `client_ref`). Each
contact logged with a ref keeps a keyed MAC of its request (`request_mac`), so the same ref with
another body is refused (422 `idempotency_key_reused`) instead of answered with the first
contact. Contacts logged before this revision have no MAC: a retry with their ref is answered
with the first contact, as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_contacts_client_ref"), type_="unique")
        batch_op.add_column(sa.Column("request_mac", sa.LargeBinary(length=32), nullable=True))
        batch_op.create_index(
            "uq_contacts_staff_client_ref", ["staff_id", "client_ref"], unique=True
        )


def downgrade() -> None:
    # Refs reused by different senders cannot share the old district-wide constraint: keep the
    # first of each and clear the others' refs (their contacts stay, as without a ref).
    op.execute(
        sa.text(
            "UPDATE contacts SET client_ref = NULL WHERE client_ref IS NOT NULL AND EXISTS "
            "(SELECT 1 FROM contacts c WHERE c.client_ref = contacts.client_ref "
            "AND (c.recorded_at < contacts.recorded_at OR (c.recorded_at = contacts.recorded_at "
            "AND CAST(c.id AS TEXT) < CAST(contacts.id AS TEXT))))"
        )
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("uq_contacts_staff_client_ref")
        batch_op.drop_column("request_mac")
        batch_op.create_unique_constraint(batch_op.f("uq_contacts_client_ref"), ["client_ref"])
