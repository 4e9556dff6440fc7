"""API tokens expire and name their issuer; access records name the token; TOTP enrolment waits
for confirmation beside the current factor.

- `api_tokens.expires_at`, `issued_by`, `issued_via`. Tokens issued before this revision cannot
  be attributed: they are marked `legacy` and expire 90 days after the upgrade (not at once, so
  gateways keep posting signals while their operators issue new ones). A `legacy` token of a
  person (not a gateway) is no longer served at all: persons hold only tokens they issued
  themselves or the operator issued.
- `audit_events.token_id` and `access_right_changes.token_id`: the token a record was made with.
  The link hash covers it only when set, so every record written before verifies as before.
  Plain `ADD COLUMN` (never a batch rebuild), which keeps SQLite's append-only triggers.
- `staff.totp_pending_secret`: a seed being enrolled, sealed like `totp_secret`.

Downgrading refuses while any record names a token: without the column such a record could
no longer be verified, and the chains must stay verifiable.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import welfare.models.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY_TOKEN_GRACE = timedelta(days=90)
RECORD_TABLES = ("audit_events", "access_right_changes")


def upgrade() -> None:
    op.add_column(
        "api_tokens",
        sa.Column("expires_at", welfare.models.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("api_tokens", sa.Column("issued_by", sa.Uuid(), nullable=True))
    op.add_column("api_tokens", sa.Column("issued_via", sa.String(length=10), nullable=True))
    tokens = sa.table(
        "api_tokens",
        sa.column("expires_at", welfare.models.base.UTCDateTime(timezone=True)),
        sa.column("issued_via", sa.String(length=10)),
    )
    op.execute(
        tokens.update().values(
            expires_at=datetime.now(UTC) + LEGACY_TOKEN_GRACE, issued_via="legacy"
        )
    )
    # api_tokens has no triggers, so SQLite may rebuild it to make the columns NOT NULL.
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("expires_at", nullable=False)
        batch_op.alter_column("issued_via", nullable=False)

    op.add_column("staff", sa.Column("totp_pending_secret", sa.LargeBinary(), nullable=True))
    for table in RECORD_TABLES:
        # Not batch mode: rebuilding these tables would drop SQLite's append-only triggers.
        op.add_column(table, sa.Column("token_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    for table in RECORD_TABLES:
        named = bind.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE token_id IS NOT NULL")  # noqa: S608 - a constant table name
        ).scalar()
        if named:
            raise RuntimeError(
                f"{table}: {named} records name an API token; without token_id they would no "
                "longer verify, so this revision cannot be downgraded"
            )
    for table in RECORD_TABLES:
        op.drop_column(table, "token_id")
    op.drop_column("staff", "totp_pending_secret")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("issued_via")
        batch_op.drop_column("issued_by")
        batch_op.drop_column("expires_at")
