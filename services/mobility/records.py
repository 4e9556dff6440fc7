"""Loading rides in scope and the decrypted views the caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy.orm import Session

from services import access, integrity, vault
from services.residents.labels import ResidentLabel
from welfare.models import Actor, Ride

TABLE = "mobility_rides"
SEALED = ("pickup_address", "dropoff_address")
NOTE_LIKE = ("outcome_reason",)  # shown to note readers only, like counseling notes


@dataclass(frozen=True, slots=True)
class RideView:
    id: uuid.UUID
    resident_id: uuid.UUID
    dong: str
    pickup_dong: str
    dropoff_dong: str
    window_start: datetime
    window_end: datetime
    wheelchair: bool
    companions: int
    state: str
    recurring_id: uuid.UUID | None
    occurrence_date: date | None
    vehicle_id: uuid.UUID | None
    driver_id: uuid.UUID | None
    pickup_at: datetime | None
    busy_until: datetime | None
    assigned_at: datetime | None
    outcome_at: datetime | None
    outcome_by: uuid.UUID | None
    client_ref: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    pickup_address: str | None = None
    dropoff_address: str | None = None
    outcome_reason: str | None = None
    resident: ResidentLabel | None = None
    unreadable: bool = False


def load(session: Session, actor: Actor, ride_id: uuid.UUID, *, for_update: bool = False) -> Ride:
    """A ride of the caller's dongs (its resident's dong); 404 and a denial otherwise."""
    return access.load_scoped(
        session,
        Ride,
        ride_id,
        actor=actor,
        resident_id_of=lambda r: r.resident_id,
        for_update=for_update,
    )


def load_for_change(
    session: Session, actor: Actor, ride_id: uuid.UUID, expected_version: int | None
) -> Ride:
    return access.load_for_change(
        session,
        Ride,
        ride_id,
        actor=actor,
        expected_version=expected_version,
        resident_id_of=lambda r: r.resident_id,
    )


def seal(
    session: Session, ride: Ride, column: str, value: str | None, key: bytes | None = None
) -> bytes | None:
    return vault.seal(session, ride.resident_id, TABLE, column, ride.id, plaintext=value, key=key)


def _columns(actor: Actor) -> list[str]:
    return [*SEALED, *(NOTE_LIKE if access.may_read_notes(actor) else ())]


def views(
    session: Session,
    actor: Actor,
    rides: Sequence[Ride],
    *,
    now: datetime,
    labels: Mapping[uuid.UUID, ResidentLabel] | None = None,
) -> list[RideView]:
    """Rides with their sealed fields opened in one batch; a damaged one is marked unreadable
    and shown without them, the rest served (services/integrity.py). The caller records the
    access."""
    columns = _columns(actor)
    sealed = [
        vault.Sealed(r.resident_id, TABLE, c, r.id, getattr(r, f"{c}_enc"))
        for r in rides
        for c in columns
    ]
    opened = integrity.open_contained(session, actor=actor, values=sealed, now=now)
    found = []
    for i, ride in enumerate(rides):
        values = dict(zip(columns, opened[i * len(columns) : (i + 1) * len(columns)], strict=True))
        damaged = any(v is vault.UNREADABLE for v in values.values())
        plain = {k: None if damaged or not isinstance(v, str) else v for k, v in values.items()}
        item = bare(ride, plain, (labels or {}).get(ride.resident_id))
        found.append(replace(item, unreadable=True) if damaged else item)
    return found


def view(session: Session, actor: Actor, ride: Ride, *, now: datetime) -> RideView:
    return views(session, actor, [ride], now=now)[0]


def bare(
    ride: Ride, plain: Mapping[str, str | None], label: ResidentLabel | None = None
) -> RideView:
    return RideView(
        id=ride.id,
        resident_id=ride.resident_id,
        dong=ride.dong_code,
        pickup_dong=ride.pickup_dong,
        dropoff_dong=ride.dropoff_dong,
        window_start=ride.window_start,
        window_end=ride.window_end,
        wheelchair=ride.wheelchair,
        companions=ride.companions,
        state=ride.state,
        recurring_id=ride.recurring_id,
        occurrence_date=ride.occurrence_date,
        vehicle_id=ride.vehicle_id,
        driver_id=ride.driver_id,
        pickup_at=ride.pickup_at,
        busy_until=ride.busy_until,
        assigned_at=ride.assigned_at,
        outcome_at=ride.outcome_at,
        outcome_by=ride.outcome_by,
        client_ref=ride.client_ref,
        created_at=ride.created_at,
        updated_at=ride.updated_at,
        version=ride.version,
        pickup_address=plain.get("pickup_address"),
        dropoff_address=plain.get("dropoff_address"),
        outcome_reason=plain.get("outcome_reason"),
        resident=label,
    )
