"""The mobility support center (docs/domain.md, "Mobility support"): eligibility, the fleet,
rides booked and assigned without double-booking."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates_schema

from services import mobility
from welfare.api.blueprint import Blueprint
from welfare.api.etags import if_match_version, set_etag
from welfare.api.policy import CASEWORK, allow
from welfare.api.schemas import Instant, PageArgs, StrictSchema, resident_field
from welfare.api.security import current_actor
from welfare.models import EligibilityBasis, RideOutcome, RideState, Role
from welfare.web import db_session, now

blp = Blueprint(
    "mobility", __name__, url_prefix="/api/v1/mobility", description="Mobility support center"
)

DONG = validate.Regexp(r"^\d{10}$")
ADDRESS = validate.Length(min=1, max=300)
# Days the center can mean; beyond them a date has no Seoul day bounds in Python's range.
DAY = validate.Range(min=date(2000, 1, 1), max=date(2099, 12, 31))
HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$")
BOOKERS = (Role.COUNSELOR, Role.SUPERVISOR)
CLIENT_REF = fields.String(
    load_default=None,
    allow_none=True,
    validate=validate.Length(min=8, max=100),
    metadata={
        "description": "Your idempotency key, unique per staff member: the same key with the "
        "same body returns the first result (200); with another body, 422 "
        "idempotency_key_reused"
    },
)


def minutes(raw: str | None) -> int | None:
    if raw is None:
        return None
    hour, minute = raw.split(":")
    return int(hour) * 60 + int(minute)


# --- eligibility -------------------------------------------------------------------------------


class EligibilityIn(StrictSchema):
    resident_id = fields.UUID(required=True)
    basis = fields.String(
        required=True, validate=validate.OneOf([b.value for b in EligibilityBasis])
    )
    valid_from = fields.Date(validate=DAY, required=True)
    valid_until = fields.Date(validate=DAY, required=True)
    wheelchair = fields.Boolean(load_default=False)
    companion_allowed = fields.Boolean(load_default=False)
    evidence = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "Evidence note (e.g. the doctor's note), sealed"},
    )


class EligibilityOut(StrictSchema):
    id = fields.UUID()
    resident_id = fields.UUID()
    dong = fields.String()
    basis = fields.String()
    valid_from = fields.Date()
    valid_until = fields.Date()
    wheelchair = fields.Boolean()
    companion_allowed = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    evidence = fields.String(allow_none=True, metadata={"description": "Counselors, supervisors"})


def eligibility_body(item: mobility.EligibilityView) -> dict[str, Any]:
    return {k: getattr(item, k) for k in EligibilityOut._declared_fields}


@blp.route("/eligibility")
class Eligibilities(MethodView):
    @allow(*BOOKERS)
    @blp.arguments(EligibilityIn)
    @blp.response(201, EligibilityOut)
    def post(self, payload: dict[str, Any]) -> Any:
        """Record a resident's ride eligibility: basis, period and needs."""
        item = mobility.grant(db_session(), actor=current_actor(), now=now(), **payload)
        return set_etag(eligibility_body(item), item.version, 201)


# --- the fleet ---------------------------------------------------------------------------------


class ServiceHoursIn(StrictSchema):
    service_start = fields.String(
        load_default=None,
        allow_none=True,
        validate=HHMM,
        metadata={"description": "HH:MM Seoul time; default: the center's operating hours"},
    )
    service_end = fields.String(load_default=None, allow_none=True, validate=HHMM)


class VehicleIn(ServiceHoursIn):
    plate = fields.String(required=True, validate=validate.Length(min=1, max=20))
    seats = fields.Integer(required=True, validate=validate.Range(min=1, max=45))
    wheelchair_spaces = fields.Integer(required=True, validate=validate.Range(min=0, max=10))


class VehiclePatch(StrictSchema):
    active = fields.Boolean()
    seats = fields.Integer(validate=validate.Range(min=1, max=45))
    wheelchair_spaces = fields.Integer(validate=validate.Range(min=0, max=10))


class VehicleOut(StrictSchema):
    id = fields.UUID()
    plate = fields.String()
    seats = fields.Integer()
    wheelchair_spaces = fields.Integer()
    active = fields.Boolean()
    service_start = fields.String()
    service_end = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class VehicleList(StrictSchema):
    items = fields.List(fields.Nested(VehicleOut))
    next_cursor = fields.String(allow_none=True)


class DriverIn(ServiceHoursIn):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class DriverPatch(StrictSchema):
    active = fields.Boolean()
    name = fields.String(validate=validate.Length(min=1, max=100))


class DriverOut(StrictSchema):
    id = fields.UUID()
    name = fields.String(allow_none=True)
    active = fields.Boolean()
    service_start = fields.String()
    service_end = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    unreadable = fields.Boolean()


class DriverList(StrictSchema):
    items = fields.List(fields.Nested(DriverOut))
    next_cursor = fields.String(allow_none=True)


def vehicle_body(item: mobility.VehicleView) -> dict[str, Any]:
    return {k: getattr(item, k) for k in VehicleOut._declared_fields}


def driver_body(item: mobility.DriverView) -> dict[str, Any]:
    return {k: getattr(item, k) for k in DriverOut._declared_fields}


def hours(payload: dict[str, Any]) -> dict[str, Any]:
    payload["service_start"] = minutes(payload.get("service_start"))
    payload["service_end"] = minutes(payload.get("service_end"))
    return payload


@blp.route("/vehicles")
class Vehicles(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, VehicleList)
    def get(self, args: dict[str, Any]) -> Any:
        """The center's vehicles by plate."""
        page = mobility.list_vehicles(db_session(), actor=current_actor(), **args)
        return {"items": [vehicle_body(v) for v in page.items], "next_cursor": page.next_cursor}

    @allow(Role.SUPERVISOR)
    @blp.arguments(VehicleIn)
    @blp.response(201, VehicleOut)
    @blp.alt_response(409, description="Plate already registered")
    def post(self, payload: dict[str, Any]) -> Any:
        """Add a vehicle to the fleet."""
        item = mobility.add_vehicle(
            db_session(), actor=current_actor(), now=now(), **hours(payload)
        )
        return set_etag(vehicle_body(item), item.version, 201)


@blp.route("/vehicles/<uuid:vehicle_id>")
class VehicleItem(MethodView):
    @allow(Role.SUPERVISOR)
    @blp.arguments(VehiclePatch)
    @blp.response(200, VehicleOut)
    def patch(self, payload: dict[str, Any], vehicle_id: uuid.UUID) -> Any:
        """Change a vehicle (If-Match required); an inactive one takes no new rides."""
        item = mobility.update_vehicle(
            db_session(),
            actor=current_actor(),
            vehicle_id=vehicle_id,
            now=now(),
            expected_version=if_match_version(request),
            **payload,
        )
        return set_etag(vehicle_body(item), item.version)


@blp.route("/drivers")
class Drivers(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, DriverList)
    def get(self, args: dict[str, Any]) -> Any:
        """The center's drivers."""
        page = mobility.list_drivers(db_session(), actor=current_actor(), **args)
        return {"items": [driver_body(d) for d in page.items], "next_cursor": page.next_cursor}

    @allow(Role.SUPERVISOR)
    @blp.arguments(DriverIn)
    @blp.response(201, DriverOut)
    def post(self, payload: dict[str, Any]) -> Any:
        """Add a driver; the name is sealed."""
        item = mobility.add_driver(db_session(), actor=current_actor(), now=now(), **hours(payload))
        return set_etag(driver_body(item), item.version, 201)


@blp.route("/drivers/<uuid:driver_id>")
class DriverItem(MethodView):
    @allow(Role.SUPERVISOR)
    @blp.arguments(DriverPatch)
    @blp.response(200, DriverOut)
    def patch(self, payload: dict[str, Any], driver_id: uuid.UUID) -> Any:
        """Change a driver (If-Match required); an inactive one takes no new rides."""
        item = mobility.update_driver(
            db_session(),
            actor=current_actor(),
            driver_id=driver_id,
            now=now(),
            expected_version=if_match_version(request),
            **payload,
        )
        return set_etag(driver_body(item), item.version)


# --- rides -------------------------------------------------------------------------------------


class RideIn(StrictSchema):
    resident_id = fields.UUID(required=True)
    pickup_address = fields.String(required=True, validate=ADDRESS)
    pickup_dong = fields.String(required=True, validate=DONG)
    dropoff_address = fields.String(required=True, validate=ADDRESS)
    dropoff_dong = fields.String(required=True, validate=DONG)
    window_start = Instant(required=True)
    window_end = Instant(
        load_default=None,
        allow_none=True,
        metadata={"description": "Default: window_start plus the center's default width"},
    )
    wheelchair = fields.Boolean(load_default=False)
    companions = fields.Integer(load_default=0, validate=validate.Range(min=0, max=3))
    client_ref = CLIENT_REF

    @validates_schema
    def window_order(self, data: dict[str, Any], **_kwargs: Any) -> None:
        start, end = data.get("window_start"), data.get("window_end")
        if start is not None and end is not None and end <= start:
            raise ValidationError(
                ["종료 시각이 시작 시각보다 늦어야 합니다 (window end must come after its start)"],
                field_name="window_end",
            )


class RideOut(StrictSchema):
    id = fields.UUID()
    resident_id = fields.UUID()
    dong = fields.String(metadata={"description": "The resident's dong (the ride's scope)"})
    pickup_dong = fields.String()
    dropoff_dong = fields.String()
    pickup_address = fields.String(allow_none=True)
    dropoff_address = fields.String(allow_none=True)
    window_start = fields.DateTime()
    window_end = fields.DateTime()
    wheelchair = fields.Boolean()
    companions = fields.Integer()
    state = fields.String(
        metadata={"description": "requested, assigned, completed, no_show, cancelled, late_cancel"}
    )
    recurring_id = fields.UUID(allow_none=True)
    occurrence_date = fields.Date(allow_none=True)
    vehicle_id = fields.UUID(allow_none=True)
    driver_id = fields.UUID(allow_none=True)
    pickup_at = fields.DateTime(allow_none=True, metadata={"description": "Planned pickup"})
    busy_until = fields.DateTime(
        allow_none=True, metadata={"description": "Estimated drop-off plus turnaround"}
    )
    assigned_at = fields.DateTime(allow_none=True)
    outcome_at = fields.DateTime(allow_none=True)
    outcome_by = fields.UUID(allow_none=True)
    outcome_reason = fields.String(
        allow_none=True, metadata={"description": "Counselors, supervisors"}
    )
    client_ref = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    resident = resident_field()
    unreadable = fields.Boolean(
        metadata={"description": "A sealed field failed authentication: none is shown"}
    )


class RideArgs(PageArgs):
    date = fields.Date(
        validate=DAY,
        load_default=None,
        metadata={"description": "The Seoul day, YYYY-MM-DD; default today"},
    )
    state = fields.String(load_default=None, validate=validate.OneOf([s.value for s in RideState]))


class RideList(StrictSchema):
    items = fields.List(fields.Nested(RideOut))
    next_cursor = fields.String(allow_none=True)


class RideAssignIn(StrictSchema):
    vehicle_id = fields.UUID(required=True)
    driver_id = fields.UUID(required=True)
    pickup_at = Instant(required=True)


def ride_body(item: mobility.RideView) -> dict[str, Any]:
    return {k: getattr(item, k) for k in RideOut._declared_fields}


def ride_answer(item: mobility.RideView, status: int = 200) -> Any:
    location = f"/api/v1/mobility/rides/{item.id}" if status == 201 else None
    return set_etag(ride_body(item), item.version, status, location=location)


@blp.route("/rides")
class Rides(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(RideArgs, location="query")
    @blp.response(200, RideList)
    def get(self, args: dict[str, Any]) -> Any:
        """A day's rides of the caller's dongs, by window."""
        moment = now()
        day = args.pop("date") or mobility.seoul_today(moment)
        page = mobility.list_rides(db_session(), actor=current_actor(), day=day, now=moment, **args)
        return {"items": [ride_body(r) for r in page.items], "next_cursor": page.next_cursor}

    @allow(*BOOKERS)
    @blp.arguments(RideIn)
    @blp.response(201, RideOut)
    @blp.alt_response(200, description="Same client_ref again: the first ride")
    @blp.alt_response(409, description="Another ride of the resident overlaps (ride_overlaps)")
    def post(self, payload: dict[str, Any]) -> Any:
        """Book a ride for a resident of your dongs; addresses are sealed."""
        booked = mobility.book_ride(db_session(), actor=current_actor(), now=now(), **payload)
        return ride_answer(booked.ride, 201 if booked.created else 200)


@blp.route("/rides/<uuid:ride_id>")
class RideItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, RideOut)
    def get(self, ride_id: uuid.UUID) -> Any:
        """One ride."""
        return ride_answer(
            mobility.get_ride(db_session(), actor=current_actor(), ride_id=ride_id, now=now())
        )


@blp.route("/rides/<uuid:ride_id>/assign")
class RideAssign(MethodView):
    @allow(Role.SUPERVISOR)
    @blp.arguments(RideAssignIn)
    @blp.response(200, RideOut)
    @blp.alt_response(409, description="The vehicle or the driver is busy (double_booked)")
    def post(self, payload: dict[str, Any], ride_id: uuid.UUID) -> Any:
        """Assign a vehicle, a driver and a planned pickup inside the window."""
        return ride_answer(
            mobility.assign(
                db_session(),
                actor=current_actor(),
                ride_id=ride_id,
                now=now(),
                expected_version=if_match_version(request, required=False),
                **payload,
            )
        )


# --- outcomes ----------------------------------------------------------------------------------


class RideOutcomeIn(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf([o.value for o in RideOutcome]))
    occurred_at = Instant(required=True)
    reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={"description": "Why, when known (e.g. of a no-show); sealed"},
    )
    client_ref = CLIENT_REF


@blp.route("/rides/<uuid:ride_id>/outcome")
class RideOutcomeRecord(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(RideOutcomeIn)
    @blp.response(200, RideOut)
    @blp.alt_response(409, description="The ride already ended, or was never assigned")
    def post(self, payload: dict[str, Any], ride_id: uuid.UUID) -> Any:
        """Record how the ride ended. `completed` is an Ongi contact for an enrolled resident;
        `no_show` raises a `ride_no_show` follow-up for one; a cancellation after the
        late-cancel cut-off is recorded as `late_cancel`."""
        return ride_answer(
            mobility.record_outcome(
                db_session(),
                actor=current_actor(),
                ride_id=ride_id,
                now=now(),
                expected_version=if_match_version(request, required=False),
                **payload,
            )
        )


# --- recurring rides ---------------------------------------------------------------------------


class RecurringIn(StrictSchema):
    resident_id = fields.UUID(required=True)
    rrule = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"example": "FREQ=WEEKLY;BYDAY=MO,WE,FR", "description": "RFC 5545 RRULE"},
    )
    pickup_time = fields.String(
        required=True, validate=HHMM, metadata={"description": "HH:MM, Asia/Seoul"}
    )
    window_minutes = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=5, max=180)
    )
    starts_on = fields.Date(validate=DAY, required=True)
    until = fields.Date(validate=DAY, load_default=None, allow_none=True)
    skip_holidays = fields.Boolean(load_default=False)
    pickup_address = fields.String(required=True, validate=ADDRESS)
    pickup_dong = fields.String(required=True, validate=DONG)
    dropoff_address = fields.String(required=True, validate=ADDRESS)
    dropoff_dong = fields.String(required=True, validate=DONG)
    wheelchair = fields.Boolean(load_default=False)
    companions = fields.Integer(load_default=0, validate=validate.Range(min=0, max=3))


class RecurringExceptionOut(StrictSchema):
    date = fields.Date()
    kind = fields.String(
        metadata={"description": "cancelled, moved, holiday, ineligible, overlaps"}
    )
    window_start = fields.DateTime(allow_none=True)
    window_end = fields.DateTime(allow_none=True)
    label = fields.String(allow_none=True, metadata={"description": "The holiday's name"})


class RecurringOut(StrictSchema):
    id = fields.UUID()
    resident_id = fields.UUID()
    dong = fields.String()
    rrule = fields.String()
    pickup_time = fields.String()
    window_minutes = fields.Integer()
    starts_on = fields.Date()
    until = fields.Date(allow_none=True)
    skip_holidays = fields.Boolean()
    pickup_dong = fields.String()
    dropoff_dong = fields.String()
    pickup_address = fields.String(allow_none=True)
    dropoff_address = fields.String(allow_none=True)
    wheelchair = fields.Boolean()
    companions = fields.Integer()
    active = fields.Boolean()
    materialized_through = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    exceptions = fields.List(fields.Nested(RecurringExceptionOut))
    rides_created = fields.Integer(metadata={"description": "Rides this request materialized"})


class RecurringExceptionIn(StrictSchema):
    date = fields.Date(validate=DAY, required=True)
    action = fields.String(required=True, validate=validate.OneOf(["cancel", "move"]))
    window_start = Instant(load_default=None, allow_none=True)
    window_end = Instant(load_default=None, allow_none=True)


def recurring_body(item: mobility.RecurringView) -> dict[str, Any]:
    data = {k: getattr(item, k) for k in RecurringOut._declared_fields if k != "exceptions"}
    data["exceptions"] = [
        {k: getattr(e, k) for k in RecurringExceptionOut._declared_fields} for e in item.exceptions
    ]
    return data


@blp.route("/recurring-rides")
class RecurringRides(MethodView):
    @allow(*BOOKERS)
    @blp.arguments(RecurringIn)
    @blp.response(201, RecurringOut)
    def post(self, payload: dict[str, Any]) -> Any:
        """A standing booking from an RRULE (e.g. dialysis on Monday, Wednesday and Friday);
        its rides over the rolling horizon are made at once, then by the scheduler."""
        session = db_session()
        item = mobility.create_recurring(
            session,
            actor=current_actor(),
            now=now(),
            calendar=mobility.business_calendar(session),
            **payload,
        )
        location = f"/api/v1/mobility/recurring-rides/{item.id}"
        return set_etag(recurring_body(item), item.version, 201, location=location)


@blp.route("/recurring-rides/<uuid:recurring_id>")
class RecurringRideItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, RecurringOut)
    def get(self, recurring_id: uuid.UUID) -> Any:
        """One recurring ride with its exceptions (cancelled, moved and skipped dates)."""
        item = mobility.get_recurring(
            db_session(), actor=current_actor(), recurring_id=recurring_id
        )
        return set_etag(recurring_body(item), item.version)


@blp.route("/recurring-rides/<uuid:recurring_id>/exceptions")
class RecurringRideExceptions(MethodView):
    @allow(*BOOKERS)
    @blp.arguments(RecurringExceptionIn)
    @blp.response(200, RecurringOut)
    @blp.alt_response(409, description="The date already has an exception")
    def post(self, payload: dict[str, Any], recurring_id: uuid.UUID) -> Any:
        """Cancel or move one date; kept for good, so the scheduler never brings it back."""
        item = mobility.add_exception(
            db_session(),
            actor=current_actor(),
            recurring_id=recurring_id,
            day=payload.pop("date"),
            now=now(),
            **payload,
        )
        return set_etag(recurring_body(item), item.version)


# --- dispatch, the board, the no-show review ---------------------------------------------------


class DispatchIn(StrictSchema):
    date = fields.Date(
        validate=DAY, required=True, metadata={"description": "The Seoul day to dispatch"}
    )


class DispatchedOut(StrictSchema):
    ride_id = fields.UUID()
    vehicle_id = fields.UUID()
    driver_id = fields.UUID()
    pickup_at = fields.DateTime()
    busy_until = fields.DateTime()


class NotDispatchedOut(StrictSchema):
    ride_id = fields.UUID()
    reason = fields.String(
        metadata={
            "description": "no_vehicle_free, no_wheelchair_vehicle, not_enough_seats, "
            "outside_service_hours, no_vehicle, window_passed"
        }
    )


class DispatchOut(StrictSchema):
    date = fields.Date()
    assigned = fields.List(fields.Nested(DispatchedOut))
    unassigned = fields.List(fields.Nested(NotDispatchedOut))
    vehicles_used = fields.Integer(
        metadata={"description": "Vehicles holding the day's rides of your dongs"}
    )


@blp.route("/dispatch")
class Dispatch(MethodView):
    @allow(Role.SUPERVISOR)
    @blp.arguments(DispatchIn)
    @blp.response(200, DispatchOut)
    @blp.alt_response(409, description="A concurrent assignment took a vehicle meanwhile")
    def post(self, payload: dict[str, Any]) -> Any:
        """Assign every unassigned ride of your dongs on that day that fits; for each one that
        does not, the reason."""
        result = mobility.dispatch_day(
            db_session(), actor=current_actor(), day=payload["date"], now=now()
        )
        return {
            "date": result.date,
            "assigned": [
                {k: getattr(a, k) for k in DispatchedOut._declared_fields} for a in result.assigned
            ],
            "unassigned": [{"ride_id": u.ride_id, "reason": u.reason} for u in result.unassigned],
            "vehicles_used": result.vehicles_used,
        }


class BoardArgs(StrictSchema):
    date = fields.Date(
        validate=DAY, load_default=None, metadata={"description": "Default: today (Seoul)"}
    )


class BoardLaneOut(StrictSchema):
    vehicle_id = fields.UUID()
    plate = fields.String()
    rides = fields.List(fields.Nested(RideOut))


class BoardOut(StrictSchema):
    date = fields.Date()
    vehicles = fields.List(fields.Nested(BoardLaneOut))
    unassigned = fields.List(fields.Nested(RideOut))
    late = fields.List(
        fields.Nested(RideOut),
        metadata={"description": "Unassigned past the window's start, or past the pickup"},
    )
    truncated = fields.Boolean(metadata={"description": "More rides than one board shows"})


@blp.route("/board")
class DispatchBoard(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(BoardArgs, location="query")
    @blp.response(200, BoardOut)
    def get(self, args: dict[str, Any]) -> Any:
        """A day's dispatch board for your dongs: rides by vehicle and time, the unassigned,
        the late."""
        moment = now()
        day = args["date"] or mobility.seoul_today(moment)
        found = mobility.board(db_session(), actor=current_actor(), day=day, now=moment)
        return {
            "date": found.date,
            "vehicles": [
                {
                    "vehicle_id": lane.vehicle_id,
                    "plate": lane.plate,
                    "rides": [ride_body(r) for r in lane.rides],
                }
                for lane in found.vehicles
            ],
            "unassigned": [ride_body(r) for r in found.unassigned],
            "late": [ride_body(r) for r in found.late],
            "truncated": found.truncated,
        }


class NoShowRiderOut(StrictSchema):
    resident_id = fields.UUID()
    resident = resident_field()
    rides = fields.Integer(metadata={"description": "Ended rides in the period"})
    no_shows = fields.Integer()
    rate = fields.Float()
    last_no_show_at = fields.DateTime(allow_none=True)
    reasons = fields.List(fields.String(), metadata={"description": "Counselors, supervisors"})


class NoShowList(StrictSchema):
    items = fields.List(fields.Nested(NoShowRiderOut))
    next_cursor = fields.String(allow_none=True)


@blp.route("/no-show-review")
class NoShowReview(MethodView):
    @allow(Role.SUPERVISOR)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, NoShowList)
    def get(self, args: dict[str, Any]) -> Any:
        """Riders of your dongs with repeated no-shows in the review period
        (config/mobility.json), with the reasons: for a human decision, never an automatic
        suspension."""
        page = mobility.no_show_review(db_session(), actor=current_actor(), now=now(), **args)
        return {
            "items": [
                {k: getattr(r, k) for k in NoShowRiderOut._declared_fields} for r in page.items
            ],
            "next_cursor": page.next_cursor,
        }
