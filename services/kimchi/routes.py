"""Routes: one dong's round on one delivery date, with ordered stops, a deliverer, and the route
sheet the deliverer carries (names, addresses and phones: an audited read).

An allocation is an open stop of at most one route (a partial unique index on open stops);
abandoning a route returns its open stops to the pool in one step.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, case, exists, select, update
from sqlalchemy.orm import Session

from services import access, integrity, vault
from services.conflicts import flush_or_conflict
from services.kimchi.records import load_campaign
from services.pagination import KeyKind, Keyset, Page, paginate
from services.residents.labels import ResidentLabel, labels
from services.residents.records import TABLE as RESIDENTS
from welfare.database import database_now
from welfare.errors import Conflict, InvalidInput
from welfare.identity import format_phone
from welfare.identity.address import normalize_address
from welfare.models import (
    Actor,
    AllocationStatus,
    DeliveryAttempt,
    KimchiAllocation,
    KimchiRoute,
    KimchiStop,
    Resident,
    RouteStatus,
    StopState,
)
from welfare.models.base import eq_literal

TABLE = "kimchi_routes"
MAX_STOPS = 200
SHEET_EXPORT_REASON = "김장 배송 경로표 출력 (kimchi route sheet printed for delivery)"
BY_CREATION = Keyset.of((KimchiRoute.created_at, KeyKind.INSTANT), (KimchiRoute.id, KeyKind.UUID))


@dataclass(frozen=True, slots=True)
class StopView:
    seq: int
    allocation_id: uuid.UUID
    resident_id: uuid.UUID
    state: str
    allocation_status: str


@dataclass(frozen=True, slots=True)
class RouteView:
    id: uuid.UUID
    campaign_id: uuid.UUID
    dong: str
    name: str
    delivery_on: date
    deliverer_staff_id: uuid.UUID | None
    volunteer_name: str | None
    status: str
    stops: list[StopView]
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class SheetLine:
    """One stop as the deliverer needs it. `unreadable`: a sealed field failed to open."""

    seq: int
    allocation_id: uuid.UUID
    resident_id: uuid.UUID
    name: str | None
    address: str | None
    phone: str | None
    boxes: int
    state: str
    allocation_status: str
    unreadable: bool = False


@dataclass(frozen=True, slots=True)
class RouteSheet:
    route: RouteView
    box_kg: float
    lines: list[SheetLine]


def load_route(
    session: Session, actor: Actor, route_id: uuid.UUID, *, for_update: bool = False
) -> KimchiRoute:
    """A route of the caller's dongs (404 and a denial record otherwise)."""
    return access.load_scoped(session, KimchiRoute, route_id, actor=actor, for_update=for_update)


def _stops(session: Session, route_id: uuid.UUID) -> list[tuple[KimchiStop, KimchiAllocation]]:
    return [
        (row[0], row[1])
        for row in session.execute(
            select(KimchiStop, KimchiAllocation)
            .join(KimchiAllocation, KimchiAllocation.id == KimchiStop.allocation_id)
            .where(KimchiStop.route_id == route_id)
            .order_by(KimchiStop.seq)
        )
    ]


def route_view(session: Session, actor: Actor, route: KimchiRoute) -> RouteView:
    volunteer = None
    if route.volunteer_name_enc is not None:
        volunteer = vault.open_value(
            session,
            actor=actor,
            subject_id=route.id,
            table=TABLE,
            column="volunteer_name",
            row_id=route.id,
            blob=route.volunteer_name_enc,
        )
    return RouteView(
        id=route.id,
        campaign_id=route.campaign_id,
        dong=route.dong_code,
        name=route.name,
        delivery_on=route.delivery_on,
        deliverer_staff_id=route.deliverer_staff_id,
        volunteer_name=volunteer,
        status=route.status,
        stops=[
            StopView(
                seq=stop.seq,
                allocation_id=allocation.id,
                resident_id=allocation.resident_id,
                state=stop.state,
                allocation_status=allocation.status,
            )
            for stop, allocation in _stops(session, route.id)
        ],
        created_at=route.created_at,
        updated_at=route.updated_at,
        version=route.version,
    )


def create_route(
    session: Session,
    *,
    actor: Actor,
    campaign_id: uuid.UUID,
    name: str,
    delivery_on: date,
    allocation_ids: Sequence[uuid.UUID],
    now: datetime,
    deliverer_staff_id: uuid.UUID | None = None,
    volunteer_name: str | None = None,
    suggest_order: bool = False,
) -> RouteView:
    """A round of one dong's allocations of the campaign, in the order given (or the suggested
    order: by normalized address), delivered by a staff member of the dong or a named
    volunteer."""
    errors: dict[str, list[str]] = {}
    name = " ".join(name.split())
    volunteer_name = " ".join((volunteer_name or "").split()) or None
    if not name:
        errors["name"] = ["경로 이름을 입력하세요 (a name is required)"]
    if not 1 <= len(allocation_ids) <= MAX_STOPS:
        errors["allocation_ids"] = [f"1~{MAX_STOPS}곳 (between 1 and {MAX_STOPS} stops)"]
    elif len(set(allocation_ids)) != len(allocation_ids):
        errors["allocation_ids"] = ["같은 배분이 두 번 있습니다 (an allocation is listed twice)"]
    if deliverer_staff_id is not None and volunteer_name is not None:
        errors["volunteer_name"] = [
            "배송자는 직원이나 자원봉사자 중 하나입니다 (a staff member or a volunteer, not both)"
        ]
    if errors:
        raise InvalidInput(errors)
    campaign = load_campaign(session, actor, campaign_id)
    campaign.ensure_open()
    if not campaign.covers(delivery_on):
        raise InvalidInput(
            {"delivery_on": ["캠페인 배송 기간 밖의 날짜입니다 (outside the campaign's period)"]}
        )
    allocations = _load_allocations(session, actor, allocation_ids, campaign.id)
    dongs = {a.dong_code for a in allocations.values()}
    if len(dongs) != 1:
        raise InvalidInput(
            {"allocation_ids": ["경로는 한 동의 배분만 담습니다 (one dong per route)"]}
        )
    dong = dongs.pop()
    if deliverer_staff_id is not None:
        access.assignee(session, deliverer_staff_id, dong, field="deliverer_staff_id")
    order = list(allocation_ids)
    if suggest_order:
        order = suggested_order(session, actor, [allocations[i] for i in order])
    route_id = uuid.uuid4()
    route = KimchiRoute(
        id=route_id,
        campaign_id=campaign.id,
        dong_code=dong,
        name=name,
        delivery_on=delivery_on,
        deliverer_staff_id=deliverer_staff_id,
        volunteer_name_enc=_seal_volunteer(session, route_id, volunteer_name, now),
        status=RouteStatus.OPEN.value,
        created_by=actor.staff_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(route)
    session.flush()
    for seq, allocation_id in enumerate(order, start=1):
        allocation = allocations[allocation_id]
        allocation.route(at=now)
        session.add(
            KimchiStop(
                id=uuid.uuid4(),
                route_id=route.id,
                allocation_id=allocation.id,
                seq=seq,
                state=StopState.OPEN.value,
                dong_code=dong,
            )
        )
    # Two planners routing one allocation at once: the open-stop index lets one win.
    flush_or_conflict(session, _already_routed)
    result = route_view(session, actor, route)
    access.commit_recorded(
        session,
        actor=actor,
        action="create",
        resident_ids=[a.resident_id for a in allocations.values()],
    )
    return result


def _already_routed() -> Conflict:
    return Conflict(
        "이미 다른 경로에 있는 배분입니다 (already on an open route)", code="allocation_routed"
    )


def _seal_volunteer(
    session: Session, route_id: uuid.UUID, volunteer_name: str | None, now: datetime
) -> bytes | None:
    """A volunteer is nobody's resident record: their name gets a data key of the route's own."""
    if volunteer_name is None:
        return None
    key = vault.create_data_key(session, route_id, now)
    return vault.seal(
        session, route_id, TABLE, "volunteer_name", route_id, plaintext=volunteer_name, key=key
    )


def _load_allocations(
    session: Session, actor: Actor, ids: Sequence[uuid.UUID], campaign_id: uuid.UUID
) -> dict[uuid.UUID, KimchiAllocation]:
    """The named allocations, locked, in the caller's scope and of this campaign; 422 on
    `allocation_ids` otherwise (one out of scope is also recorded as a denial)."""
    found = {
        a.id: a
        for a in session.scalars(
            select(KimchiAllocation)
            .where(
                KimchiAllocation.id.in_(list(ids)),
                access.dong_scope(actor, KimchiAllocation.dong_code),
            )
            .order_by(KimchiAllocation.id)
            .with_for_update()
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        hidden = list(
            session.scalars(
                select(KimchiAllocation.resident_id).where(KimchiAllocation.id.in_(missing))
            )
        )
        if hidden:
            access.deny(session, actor=actor, resident_ids=hidden)
        raise InvalidInput({"allocation_ids": ["알 수 없는 배분입니다 (unknown allocation)"]})
    if any(a.campaign_id != campaign_id for a in found.values()):
        raise InvalidInput(
            {"allocation_ids": ["다른 캠페인의 배분입니다 (an allocation of another campaign)"]}
        )
    return found


def suggested_order(
    session: Session, actor: Actor, allocations: Sequence[KimchiAllocation]
) -> list[uuid.UUID]:
    """The suggested stop order: by dong, then normalized address (a damaged or missing address
    goes last, in the order given)."""
    residents = {
        r.id: r
        for r in session.scalars(
            select(Resident).where(Resident.id.in_([a.resident_id for a in allocations]))
        )
    }
    sealed = [
        vault.Sealed(a.resident_id, RESIDENTS, "address", a.resident_id, _address(residents, a))
        for a in allocations
    ]
    opened = integrity.open_contained(session, actor=actor, values=sealed, now=_now(session))

    def key(pair: tuple[int, KimchiAllocation]) -> tuple[str, int, str, int]:
        i, allocation = pair
        address = opened[i]
        if isinstance(address, str) and normalize_address(address):
            return (allocation.dong_code, 0, normalize_address(address), i)
        return (allocation.dong_code, 1, "", i)

    return [a.id for _, a in sorted(enumerate(allocations), key=key)]


def _address(residents: dict[uuid.UUID, Resident], allocation: KimchiAllocation) -> bytes | None:
    resident = residents.get(allocation.resident_id)
    return resident.address_enc if resident is not None else None


def _now(session: Session) -> datetime:
    return database_now(session)


def get_route(session: Session, *, actor: Actor, route_id: uuid.UUID) -> RouteView:
    route = load_route(session, actor, route_id)
    result = route_view(session, actor, route)
    access.commit_recorded(
        session, actor=actor, action="read", resident_ids=[s.resident_id for s in result.stops]
    )
    return result


def get_route_labelled(
    session: Session, *, actor: Actor, route_id: uuid.UUID
) -> tuple[RouteView, dict[uuid.UUID, ResidentLabel]]:
    """One route with its stops' resident labels (display name, masked phone: what a queue
    shows, not the sheet's address and phone), recorded as one read of them all."""
    route = load_route(session, actor, route_id)
    result = route_view(session, actor, route)
    found = labels(session, actor, [s.resident_id for s in result.stops])
    access.commit_recorded(
        session, actor=actor, action="read", resident_ids=[s.resident_id for s in result.stops]
    )
    return result, found


def list_routes(
    session: Session,
    *,
    actor: Actor,
    campaign_id: uuid.UUID,
    delivery_on: date | None = None,
    mine: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[RouteView]:
    """The campaign's routes in the caller's dongs, oldest first; `mine`: those the caller
    delivers."""
    if cursor is not None:
        BY_CREATION.decode(cursor)
    campaign = load_campaign(session, actor, campaign_id)
    stmt: Select[Any] = select(KimchiRoute).where(
        KimchiRoute.campaign_id == campaign.id, access.dong_scope(actor, KimchiRoute.dong_code)
    )
    if delivery_on is not None:
        stmt = stmt.where(KimchiRoute.delivery_on == delivery_on)
    if mine:
        stmt = stmt.where(KimchiRoute.deliverer_staff_id == actor.staff_id)
    page = paginate(session, stmt, BY_CREATION, cursor=cursor, limit=limit)
    result = page.map(lambda r: route_view(session, actor, r))
    access.commit_recorded(
        session,
        actor=actor,
        action="search",
        resident_ids=[s.resident_id for r in result.items for s in r.stops],
    )
    return result


def route_sheet(
    session: Session, *, actor: Actor, route_id: uuid.UUID, export: bool = False
) -> RouteSheet:
    """The deliverer's sheet: each stop's name, address and phone, opened in one batch (a
    damaged one is marked, the rest served). An audited read (`export` for the file)."""
    route = load_route(session, actor, route_id)
    view = route_view(session, actor, route)
    campaign = load_campaign(session, actor, route.campaign_id)
    pairs = _stops(session, route.id)
    residents = {
        r.id: r
        for r in session.scalars(
            select(Resident).where(Resident.id.in_([a.resident_id for _, a in pairs]))
        )
    }
    columns = ("name", "address", "phone")
    sealed = [
        vault.Sealed(
            a.resident_id,
            RESIDENTS,
            c,
            a.resident_id,
            getattr(residents[a.resident_id], f"{c}_enc") if a.resident_id in residents else None,
        )
        for _, a in pairs
        for c in columns
    ]
    opened = integrity.open_contained(session, actor=actor, values=sealed, now=_now(session))
    lines = []
    for i, (stop, allocation) in enumerate(pairs):
        values = opened[i * 3 : i * 3 + 3]
        damaged = any(v is vault.UNREADABLE for v in values)
        name, address, phone = (v if isinstance(v, str) and not damaged else None for v in values)
        lines.append(
            SheetLine(
                seq=stop.seq,
                allocation_id=allocation.id,
                resident_id=allocation.resident_id,
                name=name,
                address=address,
                phone=format_phone(phone) if phone else None,
                boxes=allocation.boxes,
                state=stop.state,
                allocation_status=allocation.status,
                unreadable=damaged,
            )
        )
    access.commit_recorded(
        session,
        actor=actor,
        action="export" if export else "read",
        resident_ids=[a.resident_id for _, a in pairs],
        reason=SHEET_EXPORT_REASON if export else None,
    )
    return RouteSheet(route=view, box_kg=campaign.box_kg, lines=lines)


def abandon_route(
    session: Session,
    *,
    actor: Actor,
    route_id: uuid.UUID,
    now: datetime,
    expected_version: int | None = None,
) -> RouteView:
    """The deliverer did not come: the route ends and its open stops go back to the pool, in
    one step (delivered and failed stops keep their outcome)."""
    route = access.load_for_change(
        session, KimchiRoute, route_id, actor=actor, expected_version=expected_version
    )
    route.ensure_open()
    open_allocations = select(KimchiStop.allocation_id).where(
        KimchiStop.route_id == route.id, eq_literal(KimchiStop.state, StopState.OPEN.value)
    )
    session.execute(
        update(KimchiAllocation)
        .where(
            KimchiAllocation.id.in_(open_allocations),
            KimchiAllocation.status == AllocationStatus.ROUTED.value,
        )
        .values(
            # Back to the pool as it was: failed if it was attempted before (any attempt that
            # did not end it failed), allocated otherwise.
            status=case(
                (
                    exists().where(DeliveryAttempt.allocation_id == KimchiAllocation.id),
                    AllocationStatus.FAILED.value,
                ),
                else_=AllocationStatus.ALLOCATED.value,
            ),
            updated_at=now,
            version=KimchiAllocation.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(KimchiStop)
        .where(KimchiStop.route_id == route.id, eq_literal(KimchiStop.state, StopState.OPEN.value))
        .values(state=StopState.RETURNED.value)
        .execution_options(synchronize_session=False)
    )
    route.status = RouteStatus.ABANDONED.value
    route.updated_at = now
    session.flush()
    session.expire_all()  # the stops and allocations changed by the statements above
    result = route_view(session, actor, route)
    access.commit_recorded(
        session, actor=actor, action="update", resident_ids=[s.resident_id for s in result.stops]
    )
    return result
