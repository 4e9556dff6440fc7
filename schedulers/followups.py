"""The follow-up tick: raise missing follow-ups, cancel cleared ones, escalate due ones.

One transaction and one `as_of` for all of it, so a tick sees one consistent state. What each
program raises and cancels is its own rule (`schedulers/rules/`), registered in `RULES`; the tick
runs them in order, then its own stall alarm and the escalations every follow-up shares.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from schedulers.gateway_silence import run_gateway_silence
from schedulers.rules import RULES, run_rule
from services import followups, hygiene
from services.followups import Raise
from services.scheduler_runs import last_success
from welfare.calendar import BusinessCalendar
from welfare.models import FollowUpReason

JOB = "followups"
SYSTEM_SUBJECT = uuid.UUID("00000000-0000-4000-8000-5c4ed0000001")  # the scheduler itself
STALL_THRESHOLD = timedelta(minutes=30)


def run_followups(session: Session, as_of: datetime) -> Mapping[str, int]:
    """The whole tick for every program; each step is idempotent."""
    calendar = followups.business_calendar(session)
    run_id = _run_id(session)
    counts = {"stalled_alarm": raise_stall_alarm(session, as_of, calendar)}
    # Before the rules: a silent gateway's lapses are raised grouped under its incident.
    counts |= run_gateway_silence(session, as_of=as_of, calendar=calendar, run_id=run_id)
    # Hygiene visits exist ahead of time, so a visit nobody recorded is seen as missed.
    counts["hygiene_visits_scheduled"] = hygiene.extend_schedules(session, as_of)
    for rule in RULES:
        counts |= run_rule(session, rule, as_of=as_of, calendar=calendar, run_id=run_id)
    counts["escalated"] = followups.escalate_due(
        session, as_of=as_of, run_id=run_id, calendar=calendar
    )
    return counts


def raise_stall_alarm(session: Session, as_of: datetime, calendar: BusinessCalendar) -> int:
    """A scheduler that did not run for a while raises its own alarm when it comes back."""
    previous = last_success(session, JOB)
    if previous is None or as_of - previous < STALL_THRESHOLD:
        return 0
    return followups.raise_many(
        session,
        [
            Raise(
                subject_type="system",
                subject_id=SYSTEM_SUBJECT,
                resident_id=None,
                dong_code=None,
                program="system",
                reason=FollowUpReason.SCHEDULER_STALLED.value,
                risk_level=None,
                due_at=previous + STALL_THRESHOLD,
                evidence={"last_success_at": previous.isoformat(), "as_of": as_of.isoformat()},
            )
        ],
        as_of=as_of,
        run_id=_run_id(session),
        calendar=calendar,
    )


def _run_id(session: Session) -> uuid.UUID | None:
    value = session.info.get("welfare.run_id")
    return value if isinstance(value, uuid.UUID) else None
