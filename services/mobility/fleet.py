"""The center's fleet: vehicles and drivers, managed by supervisors.

The fleet belongs to the district's center, not to a dong, and holds no resident data: any
supervisor manages it and everyone who works rides reads it. A driver's name is personal data
about staff of a contractor: sealed under a data key of the driver's own (subject = driver id).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, vault
from services.conflicts import flush_or_conflict
from services.mobility.common import service_minutes
from services.pagination import KeyKind, Keyset, Page, paginate
from welfare.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from welfare.models import Actor, Driver, Vehicle

DRIVERS_TABLE = "mobility_drivers"
VEHICLE_ORDER = Keyset.of((Vehicle.plate, KeyKind.TEXT), (Vehicle.id, KeyKind.UUID))
DRIVER_ORDER = Keyset.of((Driver.created_at, KeyKind.INSTANT), (Driver.id, KeyKind.UUID))


@dataclass(frozen=True, slots=True)
class DriverView:
    id: uuid.UUID
    name: str | None
    active: bool
    service_start: str
    service_end: str
    created_at: datetime
    updated_at: datetime
    version: int
    unreadable: bool = False


@dataclass(frozen=True, slots=True)
class VehicleView:
    id: uuid.UUID
    plate: str
    seats: int
    wheelchair_spaces: int
    active: bool
    service_start: str
    service_end: str
    created_at: datetime
    updated_at: datetime
    version: int


def _check_version(version: int, expected_version: int | None) -> None:
    """412 when the caller changes a fleet record at another version than it has now."""
    if expected_version is not None and version != expected_version:
        raise PreconditionFailed


def hhmm(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


def vehicle_view(vehicle: Vehicle) -> VehicleView:
    start, end = service_minutes(vehicle.service_start_min, vehicle.service_end_min)
    return VehicleView(
        id=vehicle.id,
        plate=vehicle.plate,
        seats=vehicle.seats,
        wheelchair_spaces=vehicle.wheelchair_spaces,
        active=vehicle.active,
        service_start=hhmm(start),
        service_end=hhmm(end),
        created_at=vehicle.created_at,
        updated_at=vehicle.updated_at,
        version=vehicle.version,
    )


def driver_view(driver: Driver, name: str | None, *, unreadable: bool = False) -> DriverView:
    start, end = service_minutes(driver.service_start_min, driver.service_end_min)
    return DriverView(
        id=driver.id,
        name=name,
        active=driver.active,
        service_start=hhmm(start),
        service_end=hhmm(end),
        created_at=driver.created_at,
        updated_at=driver.updated_at,
        version=driver.version,
        unreadable=unreadable,
    )


def _hours(
    start: int | None, end: int | None, errors: dict[str, list[str]]
) -> tuple[int | None, int | None]:
    if (start is None) != (end is None):
        errors["service_end" if end is None else "service_start"] = [
            "운행 시작과 종료를 함께 정하세요 (give both service_start and service_end)"
        ]
    elif start is not None and end is not None and end <= start:
        errors["service_end"] = ["종료가 시작보다 늦어야 합니다 (end must come after start)"]
    return start, end


def _plate_taken() -> Conflict:
    return Conflict("이미 등록된 차량 번호입니다 (plate already registered)", code="plate_taken")


def add_vehicle(
    session: Session,
    *,
    actor: Actor,
    plate: str,
    seats: int,
    wheelchair_spaces: int,
    now: datetime,
    service_start: int | None = None,
    service_end: int | None = None,
) -> VehicleView:
    errors: dict[str, list[str]] = {}
    plate = plate.strip()
    if not plate:
        errors["plate"] = ["차량 번호를 입력하세요 (plate is required)"]
    if wheelchair_spaces > seats:
        errors["wheelchair_spaces"] = [
            "휠체어 공간이 좌석 수보다 많을 수 없습니다 (more wheelchair spaces than seats)"
        ]
    _hours(service_start, service_end, errors)
    if errors:
        raise InvalidInput(errors)
    if session.scalar(select(Vehicle.id).where(Vehicle.plate == plate)) is not None:
        raise _plate_taken()
    vehicle = Vehicle(
        id=uuid.uuid4(),
        plate=plate,
        seats=seats,
        wheelchair_spaces=wheelchair_spaces,
        active=True,
        service_start_min=service_start,
        service_end_min=service_end,
        created_by=actor.staff_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(vehicle)
    flush_or_conflict(session, _plate_taken)
    result = vehicle_view(vehicle)
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[])
    return result


def update_vehicle(
    session: Session,
    *,
    actor: Actor,
    vehicle_id: uuid.UUID,
    now: datetime,
    expected_version: int | None,
    active: bool | None = None,
    seats: int | None = None,
    wheelchair_spaces: int | None = None,
) -> VehicleView:
    """Change a vehicle; an inactive vehicle keeps the rides it has but takes no new ones."""
    vehicle = session.scalar(select(Vehicle).where(Vehicle.id == vehicle_id).with_for_update())
    if vehicle is None:
        raise NotFound
    _check_version(vehicle.version, expected_version)
    errors: dict[str, list[str]] = {}
    new_seats = vehicle.seats if seats is None else seats
    new_spaces = vehicle.wheelchair_spaces if wheelchair_spaces is None else wheelchair_spaces
    if new_spaces > new_seats:
        errors["wheelchair_spaces"] = [
            "휠체어 공간이 좌석 수보다 많을 수 없습니다 (more wheelchair spaces than seats)"
        ]
    if errors:
        raise InvalidInput(errors)
    vehicle.seats, vehicle.wheelchair_spaces = new_seats, new_spaces
    if active is not None:
        vehicle.active = active
    vehicle.updated_at = now
    session.flush()
    result = vehicle_view(vehicle)
    access.commit_recorded(session, actor=actor, action="update", resident_ids=[])
    return result


def list_vehicles(
    session: Session, *, actor: Actor, cursor: str | None = None, limit: int = 50
) -> Page[VehicleView]:
    page = paginate(session, select(Vehicle), VEHICLE_ORDER, cursor=cursor, limit=limit)
    return page.map(vehicle_view)


def add_driver(
    session: Session,
    *,
    actor: Actor,
    name: str,
    now: datetime,
    service_start: int | None = None,
    service_end: int | None = None,
) -> DriverView:
    errors: dict[str, list[str]] = {}
    name = name.strip()
    if not name:
        errors["name"] = ["이름을 입력하세요 (name is required)"]
    _hours(service_start, service_end, errors)
    if errors:
        raise InvalidInput(errors)
    driver_id = uuid.uuid4()
    key = vault.create_data_key(session, driver_id, now)
    driver = Driver(
        id=driver_id,
        name_enc=vault.seal(
            session, driver_id, DRIVERS_TABLE, "name", driver_id, plaintext=name, key=key
        ),
        active=True,
        service_start_min=service_start,
        service_end_min=service_end,
        created_by=actor.staff_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(driver)
    session.flush()
    result = driver_view(driver, name)
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[])
    return result


def update_driver(
    session: Session,
    *,
    actor: Actor,
    driver_id: uuid.UUID,
    now: datetime,
    expected_version: int | None,
    active: bool | None = None,
    name: str | None = None,
) -> DriverView:
    driver = session.scalar(select(Driver).where(Driver.id == driver_id).with_for_update())
    if driver is None:
        raise NotFound
    _check_version(driver.version, expected_version)
    if name is not None:
        if not name.strip():
            raise InvalidInput({"name": ["이름을 입력하세요 (name is required)"]})
        driver.name_enc = vault.seal(
            session, driver.id, DRIVERS_TABLE, "name", driver.id, plaintext=name.strip()
        )
    if active is not None:
        driver.active = active
    driver.updated_at = now
    session.flush()
    result = driver_views(session, actor, [driver])[0]
    access.commit_recorded(session, actor=actor, action="update", resident_ids=[])
    return result


def driver_views(session: Session, actor: Actor, drivers: list[Driver]) -> list[DriverView]:
    opened = vault.open_many(
        session,
        actor=actor,
        values=[vault.Sealed(d.id, DRIVERS_TABLE, "name", d.id, d.name_enc) for d in drivers],
    )
    return [
        driver_view(
            d,
            o if isinstance(o, str) else None,
            unreadable=o is vault.UNREADABLE,
        )
        for d, o in zip(drivers, opened, strict=True)
    ]


def list_drivers(
    session: Session, *, actor: Actor, cursor: str | None = None, limit: int = 50
) -> Page[DriverView]:
    page = paginate(session, select(Driver), DRIVER_ORDER, cursor=cursor, limit=limit)
    result = Page(items=driver_views(session, actor, page.items), next_cursor=page.next_cursor)
    session.commit()  # a decrypt failure's security record
    return result
