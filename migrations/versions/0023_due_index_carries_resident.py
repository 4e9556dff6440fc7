"""The due-enrollment index carries the resident and the enrollment id (PostgreSQL).

The follow-up tick compares, once a minute, the enrollments due with the live lapse follow-ups
(schedulers/rules/ongi.py `candidates`). With `resident_id` and `id` in the partial due index,
that side is an index-only read instead of a heap page per due enrollment. SQLite keeps its
index as it is (it has no INCLUDE and takes another path).

Like every migration here it runs inside the one upgrade transaction, so the index is rebuilt
with `ongi_enrollments` locked against writes: contacts and the tick wait for the build
(0.7-0.8 s at 1,000,000 enrollments measured; docs/operations.md).

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    _rebuild(include=["resident_id", "id"])


def downgrade() -> None:
    _rebuild(include=None)


def _rebuild(include: list[str] | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_ongi_enrollments_due", table_name="ongi_enrollments")
    op.create_index(
        "ix_ongi_enrollments_due",
        "ongi_enrollments",
        ["next_due_at"],
        unique=False,
        postgresql_where=ACTIVE,
        postgresql_include=include,
    )
