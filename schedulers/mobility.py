"""The mobility center's job: materialize recurring rides over the rolling horizon.

Level-triggered and idempotent: a unique index allows one ride per (recurring ride, date), and
each run reads the stored exceptions (cancelled, moved, skipped) before making anything, so two
runs, or a run after a crash, never create a ride twice and never bring back a cancelled date.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from services import followups
from services.mobility import recurring


def materialize_recurring_rides(session: Session, as_of: datetime) -> Mapping[str, int]:
    return recurring.materialize(
        session, as_of=as_of, calendar=followups.business_calendar(session)
    )
