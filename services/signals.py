"""Gateway signals: sensor activity, AI check-in calls and messages read, as contacts.

Batched and idempotent by the gateway's event id; a device or account is mapped to a resident
through a registered source, whose reference is stored only as a keyed hash.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import access, ongi, residents, vault
from services.conflicts import flush_or_conflict
from welfare.errors import Conflict
from welfare.models import Actor, Contact, Resident, ResidentStatus, SignalSource

# kind -> (contact channel, outcome)
SIGNAL_KINDS: Mapping[str, tuple[str, str]] = {
    "sensor_activity": ("sensor", "reached"),
    "ai_call_answered": ("ai_call", "reached"),
    "ai_call_unanswered": ("ai_call", "no_answer"),
    "message_read": ("message", "reached"),
}
SOURCE_INDEX = "signal_sources.source_ref"


@dataclass(frozen=True, slots=True)
class SignalResult:
    event_id: str
    status: str  # accepted, duplicate, unknown_source, rejected


def signal_ref(actor: Actor, event_id: str) -> str:
    """The idempotency key of one gateway event: a digest, so long event ids never collide by
    truncation (a collision would drop a real signal as a duplicate)."""
    digest = hashlib.sha256(f"{actor.staff_id}:{event_id}".encode()).hexdigest()
    return f"signal:{digest}"


def source_family(kind: str) -> str:
    return SIGNAL_KINDS[kind][0]


def _source_index(session: Session, kind: str, source_ref: str) -> bytes:
    return vault.indexer(session).full(SOURCE_INDEX, f"{source_family(kind)}:{source_ref.strip()}")


def register_source(
    session: Session,
    *,
    actor: Actor,
    resident_id: uuid.UUID,
    kind: str,
    source_ref: str,
    now: datetime,
) -> SignalSource:
    resident = residents.load(session, actor, resident_id)
    source = SignalSource(
        id=uuid.uuid4(),
        kind=source_family(kind),
        source_index=_source_index(session, kind, source_ref),
        resident_id=resident.id,
        dong_code=resident.dong_code,
        created_at=now,
        created_by=actor.staff_id,
    )
    session.add(source)
    flush_or_conflict(
        session,
        lambda: Conflict(
            "이미 등록된 기기/계정입니다 (source already linked)", code="source_exists"
        ),
    )
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[resident.id])
    return source


def ingest(
    session: Session, *, actor: Actor, events: Iterable[Mapping[str, Any]], now: datetime
) -> list[SignalResult]:
    """Turn a batch of gateway events into contacts; each event id counts once."""
    results: list[SignalResult] = []
    touched: list[uuid.UUID] = []
    for event in events:
        event_id = str(event["event_id"])
        client_ref = signal_ref(actor, event_id)
        if session.scalar(select(Contact.id).where(Contact.client_ref == client_ref)):
            results.append(SignalResult(event_id, "duplicate"))
            continue
        if event["occurred_at"] > now + ongi.CLOCK_SKEW:
            results.append(SignalResult(event_id, "rejected"))
            continue
        source = session.scalar(
            select(SignalSource).where(
                SignalSource.source_index
                == _source_index(session, event["kind"], event["source_ref"])
            )
        )
        resident = session.get(Resident, source.resident_id) if source else None
        if resident is None or resident.status != ResidentStatus.ACTIVE:
            results.append(SignalResult(event_id, "unknown_source"))
            continue
        channel, outcome = SIGNAL_KINDS[event["kind"]]
        try:
            with session.begin_nested():
                ongi.record_contact(
                    session,
                    resident=resident,
                    actor=actor,
                    channel=channel,
                    outcome=outcome,
                    occurred_at=event["occurred_at"],
                    now=now,
                    program="ongi",
                    note=None,
                    client_ref=client_ref,
                    source="gateway",
                )
        except IntegrityError:
            results.append(SignalResult(event_id, "duplicate"))
            continue
        touched.append(resident.id)
        results.append(SignalResult(event_id, "accepted"))
    if touched:
        access.record(session, actor=actor, action="create", resident_ids=sorted(set(touched)))
    session.commit()
    return results
