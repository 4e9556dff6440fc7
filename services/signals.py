"""Gateway signals: sensor activity, AI check-in calls and messages read, as contacts.

Batched and idempotent by the gateway's event id; a device or account is mapped to a resident
through a registered source, whose reference is stored only as a keyed hash.

A gateway speaks only for its own sources (`access.gateway_scope`): pinned to its account, or
unpinned in one of its dongs. A source outside that scope is answered exactly like an unknown
one, by the same single lookup, so a gateway cannot learn which device ids exist elsewhere;
both are recorded as a denied attempt (resident ids only, never a device id).
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

from services import access, gateway_silence, idempotency, ongi, residents, vault
from services.conflicts import flush_or_conflict
from welfare.errors import Conflict
from welfare.models import Actor, Contact, Resident, ResidentStatus, Role, SignalSource

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
    status: str  # accepted, duplicate, key_reused, unknown_source, rejected


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
    gateway_id: uuid.UUID | None = None,
) -> SignalSource:
    """Link a device or account to a resident of the caller's dongs. Unpinned, every gateway of
    the resident's dong may post its signals; with `gateway_id`, only that gateway account (an
    active gateway of the resident's dong)."""
    resident = residents.load(session, actor, resident_id)
    if gateway_id is not None:
        access.gateway(session, gateway_id, resident.dong_code, field="gateway_id")
    source = SignalSource(
        id=uuid.uuid4(),
        kind=source_family(kind),
        source_index=_source_index(session, kind, source_ref),
        resident_id=resident.id,
        dong_code=resident.dong_code,
        gateway_id=gateway_id,
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
    """Turn a batch of gateway events into contacts; each event id counts once.

    Every event naming a source goes through the same one lookup, which says in SQL whether the
    source is the caller's: an unknown source and another gateway's (or another dong's) both
    answer `unknown_source` and both add to one `access_denied` record of the batch.
    """
    batch = list(events)
    results: list[SignalResult | None] = [None] * len(batch)
    touched: list[uuid.UUID] = []
    refused = False
    refused_residents: set[uuid.UUID] = set()
    scope = access.gateway_scope(actor, SignalSource.dong_code, SignalSource.gateway_id)
    sources = [
        session.execute(
            select(SignalSource.resident_id, scope.label("in_scope")).where(
                SignalSource.source_index
                == _source_index(session, event["kind"], event["source_ref"])
            )
        ).first()
        for event in batch
    ]
    # Each accepted event locks its resident's enrollment until the batch commits. Taking them in
    # one order (by resident id) means two batches, or a batch and a contact, that share
    # residents queue behind each other instead of deadlocking; results keep the batch's order.
    order = sorted(
        range(len(batch)),
        key=lambda i: (str(found.resident_id) if (found := sources[i]) is not None else "", i),
    )
    for index in order:
        event, found = batch[index], sources[index]
        event_id = str(event["event_id"])
        client_ref = signal_ref(actor, event_id)
        mac = idempotency.request_mac(
            session,
            "signal",
            {k: event[k] for k in ("kind", "source_ref", "occurred_at")},
        )
        seen = session.execute(
            select(Contact.request_mac).where(
                Contact.staff_id == actor.staff_id, Contact.client_ref == client_ref
            )
        ).first()
        if seen is not None:
            # The same event id again: a retry, or (another body) an id reused for another event.
            same = idempotency.same_request(seen.request_mac, mac)
            results[index] = SignalResult(event_id, "duplicate" if same else "key_reused")
            continue
        if event["occurred_at"] > now + ongi.CLOCK_SKEW:
            results[index] = SignalResult(event_id, "rejected")
            continue
        if found is None or not found.in_scope:
            refused = True
            if found is not None:
                refused_residents.add(found.resident_id)
            results[index] = SignalResult(event_id, "unknown_source")
            continue
        resident = session.get(Resident, found.resident_id)
        if resident is None or resident.status != ResidentStatus.ACTIVE:
            # The caller's own source of someone who moved away, died or was erased.
            results[index] = SignalResult(event_id, "unknown_source")
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
                    request_mac=mac,
                )
        except IntegrityError:
            results[index] = SignalResult(event_id, "duplicate")
            continue
        touched.append(resident.id)
        results[index] = SignalResult(event_id, "accepted")
    if touched:
        if actor.role is Role.GATEWAY and actor.staff_id is not None:
            gateway_silence.note_signals(session, gateway_id=actor.staff_id, now=now)
        access.record(session, actor=actor, action="create", resident_ids=sorted(set(touched)))
    if refused:
        access.record(
            session,
            actor=actor,
            action="access_denied",
            resident_ids=sorted(refused_residents),
            outcome="denied",
        )
    session.commit()
    return [result for result in results if result is not None]
