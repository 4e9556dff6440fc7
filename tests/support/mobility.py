"""Mobility center helpers: eligible riders, a fleet, rides at Seoul times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.support.casework import register
from tests.support.staff import GASAN, SIHEUNG1

SEOUL = ZoneInfo("Asia/Seoul")
_plates = iter(range(1000, 9999))


def seoul_day(days_ahead: int = 1) -> date:
    return datetime.now(SEOUL).date() + timedelta(days=days_ahead)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A Seoul wall-clock time on `day`, as an aware UTC datetime."""
    return datetime.combine(day, time(hour, minute), tzinfo=SEOUL).astimezone(UTC)


def eligible(
    client: Any,
    dong: str = GASAN,
    *,
    wheelchair: bool = True,
    companion: bool = True,
    **resident: Any,
) -> str:
    """A registered resident of `dong` with an eligibility covering the next year."""
    resident_id = str(register(client, dong, **resident)["id"])
    today = datetime.now(SEOUL).date()
    response = client.post(
        "/api/v1/mobility/eligibility",
        json={
            "resident_id": resident_id,
            "basis": "wheelchair" if wheelchair else "frail_elder",
            "valid_from": (today - timedelta(days=30)).isoformat(),
            "valid_until": (today + timedelta(days=365)).isoformat(),
            "wheelchair": wheelchair,
            "companion_allowed": companion,
        },
    )
    assert response.status_code == 201, response.get_json()
    return resident_id


def vehicle(supervisor: Any, *, seats: int = 4, wheelchair_spaces: int = 1) -> str:
    response = supervisor.post(
        "/api/v1/mobility/vehicles",
        json={
            "plate": f"서울12바{next(_plates)}",
            "seats": seats,
            "wheelchair_spaces": wheelchair_spaces,
        },
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def driver(supervisor: Any, name: str = "박운전") -> str:
    response = supervisor.post("/api/v1/mobility/drivers", json={"name": name})
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def ride_body(resident_id: str, start: datetime, **overrides: Any) -> dict[str, Any]:
    return {
        "resident_id": resident_id,
        "pickup_address": "서울 금천구 가산로 1, 101동 101호",
        "pickup_dong": GASAN,
        "dropoff_address": "금천구 시흥대로 신장내과",
        "dropoff_dong": SIHEUNG1,
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(minutes=30)).isoformat(),
        **overrides,
    }


def book(client: Any, resident_id: str, start: datetime, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/mobility/rides", json=ride_body(resident_id, start, **overrides)
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def assign(
    supervisor: Any, ride_id: str, vehicle_id: str, driver_id: str, pickup_at: datetime
) -> Any:
    return supervisor.post(
        f"/api/v1/mobility/rides/{ride_id}/assign",
        json={
            "vehicle_id": vehicle_id,
            "driver_id": driver_id,
            "pickup_at": pickup_at.isoformat(),
        },
    )


def make_current(app: Any, ride_id: str, started: datetime) -> None:
    """Move an assigned ride's window to have begun at `started` (tests cannot book the past)."""
    import uuid

    from welfare.models import Ride
    from welfare.web import get_database

    with get_database(app).new_session() as s:
        row = s.get(Ride, uuid.UUID(ride_id))
        assert row is not None and row.pickup_at is not None and row.busy_until is not None
        shift = started - row.window_start
        row.window_start += shift
        row.window_end += shift
        row.pickup_at += shift
        row.busy_until += shift
        s.commit()
