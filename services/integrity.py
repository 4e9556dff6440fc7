"""Containment of damaged data: one unreadable record never takes down a list.

A value that fails authentication (tampered, moved to another row, or its key destroyed while
the record stayed) is opened in a batch by `open_contained`: the rest of the page is served, the
damaged item is marked unreadable (its id and status, no data), one `decrypt_failed` security
record names the subjects (services/vault.open_many), and one `data_unreadable` follow-up per
subject tells the supervisors of its dong, so someone repairs it instead of everyone working
around a blank row. Reading the item itself still answers the generic `data_unreadable` problem.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import followups, vault
from services.followups import Raise
from welfare.models import Actor, CareRequest, FollowUpReason, Resident

REASON = FollowUpReason.DATA_UNREADABLE.value


def open_contained(
    session: Session, *, actor: Actor, values: Sequence[vault.Sealed], now: datetime
) -> list[str | vault.UnreadableValue | None]:
    """`vault.open_many`, and a `data_unreadable` follow-up for every subject that failed."""
    opened = vault.open_many(session, actor=actor, values=values)
    failed = {v.subject_id for v, o in zip(values, opened, strict=True) if o is vault.UNREADABLE}
    if failed:
        report_unreadable(session, failed, now=now)
    return opened


def report_unreadable(session: Session, subject_ids: set[uuid.UUID], *, now: datetime) -> int:
    """Raise one live `data_unreadable` follow-up per damaged subject (a resident, or a care
    request not yet linked to one), scoped to its dong; a second report is a no-op."""
    raises = []
    for resident_id, dong in session.execute(
        select(Resident.id, Resident.dong_code).where(Resident.id.in_(sorted(subject_ids)))
    ):
        raises.append(_raise("resident", resident_id, resident_id, dong, now))
    for request_id, dong in session.execute(
        select(CareRequest.id, CareRequest.dong_code).where(
            CareRequest.id.in_(sorted(subject_ids)), CareRequest.resident_id.is_(None)
        )
    ):
        raises.append(_raise("care_request", request_id, None, dong, now))
    return followups.raise_many(
        session,
        raises,
        as_of=now,
        run_id=None,
        calendar=followups.business_calendar(session),
    )


def _raise(
    subject_type: str,
    subject_id: uuid.UUID,
    resident_id: uuid.UUID | None,
    dong: str,
    now: datetime,
) -> Raise:
    return Raise(
        subject_type=subject_type,
        subject_id=subject_id,
        resident_id=resident_id,
        dong_code=dong,
        program="system",
        reason=REASON,
        risk_level=None,
        due_at=now,
        evidence={"found_at": now.isoformat()},
    )
