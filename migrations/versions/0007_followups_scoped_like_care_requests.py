"""Follow-ups about a care request are scoped like the request.

Before this revision a resident's move took every follow-up with their resident id to the new
dong, including the overdue alarms of care requests that stayed behind: the request's team could
not see its alarm, the new team could see the alarm but not the request. From now on an open
linked request moves with its resident, together with its follow-ups (services/residents). Rows
split by the old behaviour are put back together here on the request's side, where the request
and its history are; its team can hand it over. Nothing to undo on downgrade: the repaired
scope is correct under either revision.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE followups SET dong_code = "
            "(SELECT care_requests.dong_code FROM care_requests "
            "WHERE care_requests.id = followups.subject_id) "
            "WHERE subject_type = 'care_request' AND EXISTS "
            "(SELECT 1 FROM care_requests WHERE care_requests.id = followups.subject_id "
            "AND care_requests.dong_code <> followups.dong_code)"
        )
    )


def downgrade() -> None:
    pass  # a data repair: the dongs it restored are right for every revision
