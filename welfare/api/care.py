"""The 24-hour care center (docs/domain.md, "24-hour care center"): requests at any hour, by
deadline."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from services import care
from welfare.api.blueprint import Blueprint
from welfare.api.etags import if_match_version, set_etag
from welfare.api.policy import CASEWORK, allow
from welfare.api.schemas import AssigneeIn, Instant, PageArgs, StrictSchema, resident_field
from welfare.api.security import current_actor
from welfare.models import CareChannel, CareOutcome, CareType, Role, Urgency
from welfare.web import db_session, now

blp = Blueprint(
    "care", __name__, url_prefix="/api/v1/care-requests", description="24-hour care center"
)

TEXT = validate.Length(min=1, max=4000)


class CareRequestIn(StrictSchema):
    dong = fields.String(required=True, validate=validate.Regexp(r"^\d{10}$"))
    care_type = fields.String(required=True, validate=validate.OneOf([t.value for t in CareType]))
    urgency = fields.String(required=True, validate=validate.OneOf([u.value for u in Urgency]))
    summary = fields.String(required=True, validate=TEXT)
    resident_id = fields.UUID(load_default=None, allow_none=True)
    caller_name = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=100)
    )
    caller_phone = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=40)
    )
    received_at = Instant(load_default=None, allow_none=True)
    channel = fields.String(
        load_default=CareChannel.PHONE.value,
        validate=validate.OneOf([c.value for c in CareChannel]),
    )


class CareEventOut(StrictSchema):
    id = fields.UUID()
    at = fields.DateTime()
    kind = fields.String(
        metadata={"description": "received, responded, handover, outcome, linked, moved"}
    )
    actor_staff_id = fields.UUID(allow_none=True)
    detail = fields.Dict()
    note = fields.String(allow_none=True)


class CareRequestOut(StrictSchema):
    id = fields.UUID()
    dong = fields.String()
    resident_id = fields.UUID(allow_none=True)
    care_type = fields.String()
    channel = fields.String()
    urgency = fields.String()
    state = fields.String(metadata={"description": "received, responded, done"})
    received_at = fields.DateTime()
    respond_by = fields.DateTime()
    responded_at = fields.DateTime(allow_none=True)
    responded_by = fields.UUID(allow_none=True)
    assignee_id = fields.UUID(allow_none=True)
    outcome = fields.String(allow_none=True)
    outcome_at = fields.DateTime(allow_none=True)
    linked_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    is_overdue = fields.Boolean()
    caller_name = fields.String(allow_none=True)
    caller_phone = fields.String(allow_none=True)
    summary = fields.String(allow_none=True, metadata={"description": "Counselors, supervisors"})
    resident = resident_field()
    unreadable = fields.Boolean(
        metadata={
            "description": "A sealed field failed authentication: caller and summary "
            "are not shown, and the dong's supervisors have a data_unreadable follow-up"
        }
    )


class CareRequestDetail(CareRequestOut):
    events = fields.List(fields.Nested(CareEventOut))


class HandoverArgs(PageArgs):
    dong = fields.String(load_default=None, validate=validate.Regexp(r"^\d{10}$"))


class HandoverList(StrictSchema):
    items = fields.List(fields.Nested(CareRequestOut))
    next_cursor = fields.String(allow_none=True)


class RespondIn(StrictSchema):
    note = fields.String(required=True, validate=TEXT)


class HandoverIn(AssigneeIn):
    LEGACY = "to_staff_id"
    to_staff_id = fields.UUID(
        load_default=None, metadata={"description": "Older name of assignee_id (still accepted)"}
    )
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class OutcomeIn(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf([o.value for o in CareOutcome]))
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class LinkIn(StrictSchema):
    resident_id = fields.UUID(required=True)


def body(item: care.CareRequestView, *, with_events: bool = True) -> dict[str, Any]:
    data = {k: getattr(item, k) for k in CareRequestOut._declared_fields}
    if with_events:
        data["events"] = [
            {k: getattr(e, k) for k in CareEventOut._declared_fields} for e in item.events
        ]
    return data


def answer(item: care.CareRequestView, status: int = 200) -> Any:
    location = f"/api/v1/care-requests/{item.id}" if status == 201 else None
    return set_etag(body(item), item.version, status, location=location)


@blp.route("")
class CareRequests(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(CareRequestIn)
    @blp.response(201, CareRequestDetail)
    def post(self, payload: dict[str, Any]) -> Any:
        """Take a request at any hour; the urgency sets `respond_by`. The caller's details and
        the summary are sealed; a request may arrive before the person is registered."""
        item = care.receive_request(db_session(), actor=current_actor(), now=now(), **payload)
        return answer(item, 201)


@blp.route("/handover")
class CareHandover(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(HandoverArgs, location="query")
    @blp.response(200, HandoverList)
    def get(self, args: dict[str, Any]) -> Any:
        """The handover view: open requests of the caller's dongs, soonest deadline first."""
        page = care.handover_view(db_session(), actor=current_actor(), now=now(), **args)
        return {
            "items": [body(r, with_events=False) for r in page.items],
            "next_cursor": page.next_cursor,
        }


@blp.route("/<uuid:request_id>")
class CareRequestItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, CareRequestDetail)
    def get(self, request_id: uuid.UUID) -> Any:
        """One request with its history."""
        return answer(
            care.get_request(db_session(), actor=current_actor(), request_id=request_id, now=now())
        )


@blp.route("/<uuid:request_id>/respond")
class CareRespond(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(RespondIn)
    @blp.response(200, CareRequestDetail)
    @blp.alt_response(409, description="Already responded or closed")
    def post(self, payload: dict[str, Any], request_id: uuid.UUID) -> Any:
        """Answer the request: the deadline clock stops and `responded_at` is set."""
        return answer(
            care.respond(
                db_session(),
                actor=current_actor(),
                request_id=request_id,
                note=payload["note"],
                now=now(),
                expected_version=if_match_version(request, required=False),
            )
        )


@blp.route("/<uuid:request_id>/handover")
class CareHandOver(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(HandoverIn)
    @blp.response(200, CareRequestDetail)
    def post(self, payload: dict[str, Any], request_id: uuid.UUID) -> Any:
        """Hand an open request to a staff member of its dong (e.g. the next shift)."""
        return answer(
            care.hand_over(
                db_session(),
                actor=current_actor(),
                request_id=request_id,
                to_staff_id=payload["assignee_id"],
                note=payload["note"],
                now=now(),
                expected_version=if_match_version(request, required=False),
            )
        )


@blp.route("/<uuid:request_id>/outcome")
class CareOutcomeRecord(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(OutcomeIn)
    @blp.response(200, CareRequestDetail)
    def post(self, payload: dict[str, Any], request_id: uuid.UUID) -> Any:
        """Close the request as handled, referred or closed."""
        return answer(
            care.record_outcome(
                db_session(),
                actor=current_actor(),
                request_id=request_id,
                outcome=payload["outcome"],
                note=payload["note"],
                now=now(),
                expected_version=if_match_version(request, required=False),
            )
        )


@blp.route("/<uuid:request_id>/link")
class CareLink(MethodView):
    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(LinkIn)
    @blp.response(200, CareRequestDetail)
    @blp.alt_response(409, description="Already linked")
    def post(self, payload: dict[str, Any], request_id: uuid.UUID) -> Any:
        """Link the request to the resident it is about, once registered; its personal data
        moves under the resident's key."""
        return answer(
            care.link_resident(
                db_session(),
                actor=current_actor(),
                request_id=request_id,
                resident_id=payload["resident_id"],
                now=now(),
                expected_version=if_match_version(request, required=False),
            )
        )
