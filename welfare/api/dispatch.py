"""Counselor dispatch and the duty roster (docs/domain.md, "Counselor dispatch")."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from services import dispatch
from welfare.api.blueprint import Blueprint
from welfare.api.etags import if_match_version, set_etag
from welfare.api.policy import CASEWORK, allow
from welfare.api.schemas import HistoryEventOut, Instant, PageArgs, StrictSchema
from welfare.api.security import current_actor
from welfare.models import DispatchOutcome, DispatchState, Program, RequesterKind, Role
from welfare.web import db_session, now

blp = Blueprint(
    "dispatch", __name__, url_prefix="/api/v1", description="Counselor dispatch, duty roster"
)
TEXT = validate.Length(min=1, max=2000)
DONG = validate.Regexp(r"^\d{10}$")


class OutreachDispatchIn(StrictSchema):
    dong = fields.String(required=True, validate=DONG)
    urgency = fields.String(
        required=True, validate=validate.OneOf(["emergency", "urgent", "normal"])
    )
    requester_kind = fields.String(
        required=True, validate=validate.OneOf([k.value for k in RequesterKind])
    )
    requester_partner = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "The partner code (GET /partners) when a partner asks"},
    )
    resident_id = fields.UUID(load_default=None, allow_none=True)
    address = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=300),
        metadata={"description": "Where to go, for a person not registered yet (sealed)"},
    )
    summary = fields.String(required=True, validate=TEXT)
    client_ref = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=8, max=100)
    )


class OutreachDispatchOut(StrictSchema):
    id = fields.UUID()
    dong = fields.String()
    resident_id = fields.UUID(allow_none=True)
    requester_kind = fields.String()
    requester_partner = fields.String(allow_none=True)
    urgency = fields.String()
    state = fields.String()
    outcome = fields.String(allow_none=True)
    requested_at = fields.DateTime()
    requested_by = fields.UUID(allow_none=True)
    deadline_at = fields.DateTime()
    assignee_id = fields.UUID(allow_none=True)
    assigned_at = fields.DateTime(allow_none=True)
    en_route_at = fields.DateTime(allow_none=True)
    on_site_at = fields.DateTime(allow_none=True)
    done_at = fields.DateTime(allow_none=True)
    case_id = fields.UUID(allow_none=True)
    contact_id = fields.UUID(allow_none=True)
    address = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    version = fields.Integer()


class OutreachDispatchDetail(OutreachDispatchOut):
    events = fields.List(
        fields.Nested(HistoryEventOut),
        metadata={"description": "What happened to it, oldest first (not in a list)"},
    )


class OutreachDispatchList(StrictSchema):
    items = fields.List(fields.Nested(OutreachDispatchOut))
    next_cursor = fields.String(allow_none=True)


class OutreachDispatchArgs(PageArgs):
    state = fields.String(
        load_default=None, validate=validate.OneOf([s.value for s in DispatchState])
    )
    dong = fields.String(load_default=None, validate=DONG)


class OutreachDispatchAssignIn(StrictSchema):
    staff_id = fields.UUID(
        load_default=None,
        allow_none=True,
        metadata={"description": "A counselor on duty in the dong; none: the least busy one"},
    )


class OutreachDispatchMoveIn(StrictSchema):
    to = fields.String(required=True, validate=validate.OneOf(["en_route", "on_site"]))


class OutreachDispatchDoneIn(StrictSchema):
    outcome = fields.String(
        required=True, validate=validate.OneOf([o.value for o in DispatchOutcome])
    )
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)
    resident_id = fields.UUID(
        load_default=None,
        allow_none=True,
        metadata={"description": "The resident registered on site, for a dispatch made before"},
    )
    case_program = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf([p.value for p in Program]),
        metadata={"description": "With case_opened: the program (default outreach_dispatch)"},
    )


class DutyShiftIn(StrictSchema):
    dong = fields.String(required=True, validate=DONG)
    staff_id = fields.UUID(required=True)
    starts_at = Instant(required=True)
    ends_at = Instant(required=True)


class DutyShiftOut(StrictSchema):
    id = fields.UUID()
    dong = fields.String()
    staff_id = fields.UUID()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()


class DutyShiftList(StrictSchema):
    items = fields.List(fields.Nested(DutyShiftOut))
    next_cursor = fields.String(allow_none=True)


class DutyShiftArgs(PageArgs):
    dong = fields.String(load_default=None, validate=DONG)
    on_duty_at = Instant(load_default=None)


def shift_body(shift: Any) -> dict[str, Any]:
    return {
        "id": shift.id,
        "dong": shift.dong_code,
        "staff_id": shift.staff_id,
        "starts_at": shift.starts_at,
        "ends_at": shift.ends_at,
    }


@blp.route("/dispatches")
class Dispatches(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(OutreachDispatchIn)
    @blp.response(201, OutreachDispatchDetail)
    @blp.alt_response(200, description="Same client_ref again: the first request")
    def post(self, payload: dict[str, Any]) -> Any:
        """Ask for an on-site counselor visit (for a dong center, the care center or a
        partner); its deadline follows the urgency."""
        view, created = dispatch.request_dispatch(
            db_session(), actor=current_actor(), now=now(), **payload
        )
        body, status, headers = set_etag(asdict(view), view.version, 201 if created else 200)
        headers["Location"] = f"/api/v1/dispatches/{view.id}"
        return body, status, headers

    @allow(*CASEWORK)
    @blp.arguments(OutreachDispatchArgs, location="query")
    @blp.response(200, OutreachDispatchList)
    def get(self, args: dict[str, Any]) -> Any:
        """Dispatches of your dongs, newest first."""
        page = dispatch.list_dispatches(db_session(), actor=current_actor(), **args)
        return {"items": [asdict(v) for v in page.items], "next_cursor": page.next_cursor}


@blp.route("/dispatches/<uuid:dispatch_id>")
class DispatchItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, OutreachDispatchDetail)
    def get(self, dispatch_id: uuid.UUID) -> Any:
        """One dispatch, with where to go."""
        view = dispatch.get_dispatch(db_session(), actor=current_actor(), dispatch_id=dispatch_id)
        return set_etag(asdict(view), view.version)


@blp.route("/dispatches/<uuid:dispatch_id>/assign")
class DispatchAssign(MethodView):
    @allow(Role.SUPERVISOR, Role.COUNSELOR)
    @blp.arguments(OutreachDispatchAssignIn)
    @blp.response(200, OutreachDispatchDetail)
    def post(self, payload: dict[str, Any], dispatch_id: uuid.UUID) -> Any:
        """Give it to a counselor on duty in its dong."""
        view = dispatch.assign(
            db_session(),
            actor=current_actor(),
            dispatch_id=dispatch_id,
            staff_id=payload["staff_id"],
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        return set_etag(asdict(view), view.version)


@blp.route("/dispatches/<uuid:dispatch_id>/moves")
class DispatchMove(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(OutreachDispatchMoveIn)
    @blp.response(200, OutreachDispatchDetail)
    def post(self, payload: dict[str, Any], dispatch_id: uuid.UUID) -> Any:
        """On the way (`en_route`), or arrived (`on_site`)."""
        view = dispatch.move(
            db_session(),
            actor=current_actor(),
            dispatch_id=dispatch_id,
            to=payload["to"],
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        return set_etag(asdict(view), view.version)


@blp.route("/dispatches/<uuid:dispatch_id>/done")
class DispatchDone(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(OutreachDispatchDoneIn)
    @blp.response(200, OutreachDispatchDetail)
    def post(self, payload: dict[str, Any], dispatch_id: uuid.UUID) -> Any:
        """Done, with an outcome; meeting the person is an Ongi contact (visit)."""
        view = dispatch.finish(
            db_session(),
            actor=current_actor(),
            dispatch_id=dispatch_id,
            now=now(),
            expected_version=if_match_version(request, required=False),
            **payload,
        )
        return set_etag(asdict(view), view.version)


@blp.route("/duty-shifts")
class DutyShifts(MethodView):
    @allow(Role.SUPERVISOR)
    @blp.arguments(DutyShiftIn)
    @blp.response(201, DutyShiftOut)
    @blp.alt_response(200, description="The same shift again: the first one")
    @blp.alt_response(409, description="The counselor has a shift with this start in this dong")
    def post(self, payload: dict[str, Any]) -> Any:
        """Put a counselor of the dong on duty for dispatches. A shift is entered once per dong,
        counselor and start: sending it again answers the first (200)."""
        shift, created = dispatch.add_shift(
            db_session(), actor=current_actor(), now=now(), **payload
        )
        return shift_body(shift), 201 if created else 200

    @allow(*CASEWORK)
    @blp.arguments(DutyShiftArgs, location="query")
    @blp.response(200, DutyShiftList)
    def get(self, args: dict[str, Any]) -> Any:
        """The duty roster of your dongs (`on_duty_at`: who is on duty then)."""
        page = dispatch.list_shifts(db_session(), actor=current_actor(), **args)
        return {"items": [shift_body(s) for s in page.items], "next_cursor": page.next_cursor}
