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

    A batch costs a fixed number of statements whatever its size (tests/api/
    test_signal_batches.py counts them): one lookup each for the sources, the event ids already
    seen, the residents, and their enrollments (locked in one statement, in resident-id order,
    so two batches or a batch and a contact that share residents queue instead of
    deadlocking); one INSERT of the contacts, one UPDATE of the enrollments, and the lapse
    follow-ups they resolve in one UPDATE and one INSERT of events.
    """
    batch = list(events)
    for _attempt in range(_RETRIES):
        try:
            with session.begin_nested():
                results, touched, refused, refused_residents = _ingest(session, actor, batch, now)
            break
        except IntegrityError:
            # Another request stored one of these event ids after our lookup (its transaction
            # committed while we waited on its row): look again, and it reads as a duplicate.
            continue
    else:
        raise Conflict("잠시 후 다시 보내 주세요 (concurrent batch; retry)", code="signal_conflict")
    if touched:
        if actor.role is Role.GATEWAY and actor.staff_id is not None:
            gateway_silence.note_signals(session, gateway_id=actor.staff_id, now=now)
        access.record(session, actor=actor, action="create", resident_ids=sorted(touched))
    if refused:
        access.record(
            session,
            actor=actor,
            action="access_denied",
            resident_ids=sorted(refused_residents),
            outcome="denied",
        )
    session.commit()
    return results


_RETRIES = 3


def _ingest(
    session: Session, actor: Actor, batch: list[Mapping[str, Any]], now: datetime
) -> tuple[list[SignalResult], set[uuid.UUID], bool, set[uuid.UUID]]:
    """The batch's reads and writes (see `ingest`): its results in the batch's order, the
    residents it wrote for, whether any source was refused, and the refused residents."""
    count = len(batch)
    results: list[SignalResult | None] = [None] * count
    indexes = [_source_index(session, e["kind"], e["source_ref"]) for e in batch]
    refs = [signal_ref(actor, str(e["event_id"])) for e in batch]
    # Before the lookup of seen ids: on PostgreSQL the contacts' unique index includes
    # occurred_at (monthly partitions), so the refs' locks keep a reused id out (one statement).
    idempotency.lock_refs(session, actor.staff_id, refs)
    scope = access.gateway_scope(actor, SignalSource.dong_code, SignalSource.gateway_id)
    found_sources = (
        {
            row.source_index: row
            for row in session.execute(
                select(
                    SignalSource.source_index, SignalSource.resident_id, scope.label("in_scope")
                ).where(SignalSource.source_index.in_(sorted(set(indexes))))
            )
        }
        if batch
        else {}
    )
    sources = [found_sources.get(index) for index in indexes]
    seen: dict[str, bytes | None] = (
        {
            row.client_ref: row.request_mac
            for row in session.execute(
                select(Contact.client_ref, Contact.request_mac).where(
                    Contact.staff_id == actor.staff_id, Contact.client_ref.in_(sorted(set(refs)))
                )
            )
        }
        if batch
        else {}
    )
    wanted = sorted(
        {found.resident_id for found in sources if found is not None and found.in_scope}
    )
    people = (
        {r.id: r for r in session.scalars(select(Resident).where(Resident.id.in_(wanted)))}
        if wanted
        else {}
    )
    refused = False
    refused_residents: set[uuid.UUID] = set()
    accepted: list[tuple[int, Resident, bytes]] = []
    # Results are decided in resident-id order (as the events are applied), then returned in
    # the batch's order; a repeated event id within the batch reads as its first use did.
    order = sorted(
        range(count),
        key=lambda i: (str(found.resident_id) if (found := sources[i]) is not None else "", i),
    )
    for index in order:
        event, found = batch[index], sources[index]
        event_id, ref = str(event["event_id"]), refs[index]
        mac = idempotency.request_mac(
            session, "signal", {k: event[k] for k in ("kind", "source_ref", "occurred_at")}
        )
        if ref in seen:
            # The same event id again: a retry, or (another body) an id reused for another event.
            same = idempotency.same_request(seen[ref], mac)
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
        resident = people.get(found.resident_id)
        if resident is None or resident.status != ResidentStatus.ACTIVE:
            # The caller's own source of someone who moved away, died or was erased.
            results[index] = SignalResult(event_id, "unknown_source")
            continue
        seen[ref] = mac
        accepted.append((index, resident, mac))
        results[index] = SignalResult(event_id, "accepted")
    touched = ongi.record_signals(
        session,
        actor=actor,
        signals=[
            ongi.Signal(
                resident=resident,
                channel=SIGNAL_KINDS[batch[index]["kind"]][0],
                outcome=SIGNAL_KINDS[batch[index]["kind"]][1],
                occurred_at=batch[index]["occurred_at"],
                client_ref=refs[index],
                request_mac=mac,
            )
            for index, resident, mac in accepted
        ],
        now=now,
    )
    return [r for r in results if r is not None], touched, refused, refused_residents
