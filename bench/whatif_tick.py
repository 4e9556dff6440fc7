"""What-if for bench_tick: the tick with two proposed fixes, patched in for one process only.

Nothing here is shipped code; it shows what the fixes proposed in bench/README.md would buy,
measured beside the shipped tick in the same run.

1. The live states as literals. The partial indexes say `state IN ('open', 'escalated')`, but
   the queries bind the states as parameters, and SQLite proves a partial index usable only
   from literal terms: every `NOT EXISTS (live follow-up)` probe and the escalation query then
   scan the whole follow-up table. An expanding bind parameter with `literal_execute=True`
   renders the literals and still caches the statement.
2. Raising in bulk with cached statements. `raise_many` builds `insert(...).values(rows)` with
   2,000 rows: a fresh statement of 32,000 bind parameters that SQLAlchemy compiles (and
   psycopg re-parses) for every batch, then adds an ORM object per event and per outbox message
   and flushes them through the unit of work. The executemany form (insertmanyvalues, compiled
   once) and Core inserts for events and outbox rows do the same work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import schedulers.followups
import services.followups
from services.followups import LIVE_STATES, Raise, ladders
from welfare.calendar import BusinessCalendar, next_escalation_at
from welfare.models import FollowUp, FollowUpEvent, FollowUpState, OutboxMessage
from welfare.models.followup import LIVE

LITERAL_LIVE_STATES = bindparam(
    "live_states", list(LIVE_STATES), expanding=True, literal_execute=True
)


def raise_many_in_bulk(
    session: Session,
    raises: Sequence[Raise],
    *,
    as_of: datetime,
    run_id: uuid.UUID | None,
    calendar: BusinessCalendar,
) -> int:
    """services.followups.raise_many with cached executemany statements and no ORM objects."""
    if not raises:
        return 0
    rows = []
    for item in raises:
        first = ladders().for_(item.reason, item.risk_level).step(1)
        rows.append(
            {
                "id": uuid.uuid4(),
                "subject_type": item.subject_type,
                "subject_id": item.subject_id,
                "resident_id": item.resident_id,
                "dong_code": item.dong_code,
                "program": item.program,
                "reason": item.reason,
                "risk_level": item.risk_level,
                "state": FollowUpState.OPEN.value,
                "step": 1,
                "due_at": item.due_at,
                "next_escalation_at": next_escalation_at(as_of, first, calendar),
                "raised_at": as_of,
                "raised_by_run_id": run_id,
                "evidence": dict(item.evidence),
                "version": 1,
            }
        )
    session.flush()  # what the ORM holds goes first, as the shipped code's execute would do
    table = cast(Table, FollowUp.__table__)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .on_conflict_do_nothing(
            index_elements=["subject_id", "reason"],
            index_where=LIVE,  # the index's own WHERE
        )
        .returning(table.c.id, table.c.reason, table.c.dong_code, table.c.risk_level)
    )
    inserted = session.connection().execute(stmt, rows).all()
    events: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    for followup_id, reason, dong, risk in inserted:
        step = ladders().for_(reason, risk).step(1)
        events.append(
            {
                "id": uuid.uuid4(),
                "followup_id": followup_id,
                "at": as_of,
                "kind": "raised",
                "step": 1,
                "actor_staff_id": None,
                "run_id": run_id,
                "detail": {"action": step.action, "target_role": step.target_role},
                "note_enc": None,
            }
        )
        outbox.append(
            {
                "id": uuid.uuid4(),
                "idempotency_key": f"followup:{followup_id}:1:"[:120],
                "kind": "followup_step",
                "payload": {
                    "followup_id": str(followup_id),
                    "step": 1,
                    "action": step.action,
                    "target_role": step.target_role,
                    "dong": dong,
                },
                "created_at": as_of,
                "next_attempt_at": as_of,
                "attempts": 0,
                "delivered_at": None,
                "last_error": None,
            }
        )
    if inserted:
        connection = session.connection()
        connection.execute(cast(Table, FollowUpEvent.__table__).insert(), events)
        connection.execute(cast(Table, OutboxMessage.__table__).insert(), outbox)
    return len(inserted)


@contextmanager
def proposed_fixes() -> Iterator[None]:
    """Patch both fixes into the service and scheduler modules; restore them afterwards."""
    saved = (
        services.followups.LIVE_STATES,
        schedulers.followups.LIVE_STATES,
        services.followups.raise_many,
    )
    services.followups.LIVE_STATES = LITERAL_LIVE_STATES  # type: ignore[assignment]
    schedulers.followups.LIVE_STATES = LITERAL_LIVE_STATES  # type: ignore[assignment]
    services.followups.raise_many = raise_many_in_bulk
    try:
        yield
    finally:
        (
            services.followups.LIVE_STATES,
            schedulers.followups.LIVE_STATES,
            services.followups.raise_many,
        ) = saved
