"""Mobility support: a day's dispatch board by vehicle and time, the unassigned rides, assigning
a vehicle, a driver and a pickup (supervisors), recording how a ride ended from a phone, and the
day's no-shows to review. The same use cases as /api/v1/mobility."""

from __future__ import annotations

import secrets
import uuid
from datetime import date
from typing import Any

from flask import Blueprint, request, url_for
from marshmallow import ValidationError, fields
from werkzeug.wrappers import Response as BaseResponse

from services import mobility
from welfare.api.mobility import DispatchIn, RideAssignIn, RideOutcomeIn
from welfare.api.policy import CASEWORK, page
from welfare.console.base import back_to, load_form, local_instant, local_now, me, query, render
from welfare.errors import InvalidInput
from welfare.models import Role
from welfare.web import db_session, now

bp = Blueprint("mobility", __name__, url_prefix="/mobility")

RIDE_STATES = {
    "requested": "배차 전",
    "assigned": "배차됨",
    "completed": "완료",
    "no_show": "노쇼",
    "cancelled": "취소",
    "late_cancel": "늦은 취소",
}
RIDE_OUTCOMES = {
    "completed": "완료",
    "no_show": "노쇼 (나오지 않음)",
    "cancelled": "취소",
}
DAY_LIMIT = 200
# Why automatic dispatch left a ride waiting (services/mobility/planning.py, dispatch.py).
WAIT_REASONS = {
    "no_vehicle": "운행 가능한 차량 없음",
    "no_wheelchair_vehicle": "휠체어 차량 없음",
    "not_enough_seats": "좌석 부족",
    "outside_service_hours": "운행 시간 밖",
    "no_vehicle_free": "빈 차량 없음",
    "window_passed": "희망 시간 지남",
}


def _day() -> date:
    raw = request.args.get("date")
    if not raw:
        return mobility.seoul_today(now())
    try:
        loaded: date = fields.Date().deserialize(raw)
    except ValidationError:
        raise InvalidInput({"date": ["YYYY-MM-DD 형식의 날짜 (a date, YYYY-MM-DD)"]}) from None
    return loaded


def _version() -> int | None:
    value = request.form.get("version", "")
    return int(value) if value.isdigit() else None


def _fleet() -> tuple[list[Any], list[Any]]:
    session = db_session()
    actor = me().actor()
    vehicles = [
        v for v in mobility.list_vehicles(session, actor=actor, limit=200).items if v.active
    ]
    drivers = [d for d in mobility.list_drivers(session, actor=actor, limit=200).items if d.active]
    return vehicles, drivers


@bp.get("")
@page(*CASEWORK)
@query("date")
def board() -> Any:
    return _board(_day())


@bp.post("/dispatch")
@page(Role.SUPERVISOR)
def dispatch() -> Any:
    """Run automatic dispatch for the day, as POST /api/v1/mobility/dispatch, and answer with
    the day's board and what the run did (placed, and why each leftover waits)."""
    day: date = load_form(DispatchIn, ("date",))["date"]
    result = mobility.dispatch_day(db_session(), actor=me().actor(), day=day, now=now())
    return _board(day, result)


def _board(day: date, result: Any = None) -> Any:
    rides = mobility.list_rides(
        db_session(), actor=me().actor(), day=day, now=now(), limit=DAY_LIMIT
    )
    vehicles, drivers = _fleet()
    by_vehicle: dict[uuid.UUID, list[Any]] = {}
    for ride in rides.items:
        if ride.vehicle_id is not None and ride.state != "requested":
            by_vehicle.setdefault(ride.vehicle_id, []).append(ride)
    for assigned in by_vehicle.values():
        assigned.sort(key=lambda r: r.pickup_at or r.window_start)
    return render(
        "console/mobility_board.html",
        day=day,
        previous_day=date.fromordinal(day.toordinal() - 1),
        next_day=date.fromordinal(day.toordinal() + 1),
        unassigned=[r for r in rides.items if r.state == "requested"],
        by_vehicle=by_vehicle,
        no_shows=[r for r in rides.items if r.state == "no_show"],
        vehicles={v.id: v for v in vehicles},
        drivers={d.id: d for d in drivers},
        more=rides.next_cursor is not None,
        ride_states=RIDE_STATES,
        can_dispatch=me().role is Role.SUPERVISOR,
        result=result,
        rides_by_id={r.id: r for r in rides.items},
        wait_reasons=WAIT_REASONS,
    )


@bp.get("/rides/<uuid:ride_id>")
@page(*CASEWORK)
@query()
def ride(ride_id: uuid.UUID) -> Any:
    found = mobility.get_ride(db_session(), actor=me().actor(), ride_id=ride_id, now=now())
    vehicles, drivers = _fleet()
    return render(
        "console/mobility_ride.html",
        ride=found,
        vehicles=vehicles,
        drivers=drivers,
        vehicle_names={v.id: v.plate for v in vehicles},
        driver_names={d.id: d.name for d in drivers},
        can_assign=me().role is Role.SUPERVISOR,
        ride_states=RIDE_STATES,
        ride_outcomes=RIDE_OUTCOMES,
        default_time=local_now(),
        rendered_at=now().isoformat(),
        client_ref=secrets.token_urlsafe(18),
    )


@bp.post("/rides/<uuid:ride_id>/outcome")
@page(*CASEWORK)
def outcome(ride_id: uuid.UUID) -> BaseResponse:
    payload = load_form(
        RideOutcomeIn,
        ("outcome", "reason", "client_ref"),
        {
            "occurred_at": local_instant("occurred_at")
            or request.form.get("rendered_at")
            or now().isoformat()
        },
    )
    mobility.record_outcome(
        db_session(),
        actor=me().actor(),
        ride_id=ride_id,
        now=now(),
        expected_version=_version(),
        **payload,
    )
    return back_to(url_for(".ride", ride_id=ride_id), "saved")


@bp.post("/rides/<uuid:ride_id>/assign")
@page(Role.SUPERVISOR)
def assign(ride_id: uuid.UUID) -> BaseResponse:
    payload = load_form(
        RideAssignIn, ("vehicle_id", "driver_id"), {"pickup_at": local_instant("pickup_at")}
    )
    mobility.assign(
        db_session(),
        actor=me().actor(),
        ride_id=ride_id,
        now=now(),
        expected_version=_version(),
        **payload,
    )
    return back_to(url_for(".ride", ride_id=ride_id), "saved")
