"""Kimchi delivery campaigns ('김치가 온다', docs/domain.md): campaigns, one allocation per
household, routes and route sheets, delivery attempts."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import asdict
from typing import Any

from flask import Response, request
from flask.views import MethodView
from marshmallow import fields, validate

from services import kimchi
from welfare.api.blueprint import Blueprint
from welfare.api.etags import if_match_version, set_etag
from welfare.api.policy import CASEWORK, allow
from welfare.api.schemas import Instant, PageArgs, StrictSchema, resident_field
from welfare.api.security import current_actor
from welfare.models import AllocationStatus, CampaignStatus, HouseholdType, Role
from welfare.web import db_session, now

blp = Blueprint("kimchi", __name__, url_prefix="/api/v1/kimchi", description="Kimchi delivery")

ALLOCATORS = (Role.COUNSELOR, Role.SUPERVISOR)
DONG = validate.Regexp(r"^\d{10}$")


class KimchiCampaignIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    box_count = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000))
    box_kg = fields.Float(load_default=5.0, validate=validate.Range(min=0.1, max=100))
    dongs = fields.List(
        fields.String(validate=DONG),
        load_default=None,
        validate=validate.Length(min=1, max=50),
        metadata={
            "description": "The dongs the campaign covers (their staff see it): your dongs by "
            "default; a district campaign lists all ten"
        },
    )


class KimchiCampaignOut(StrictSchema):
    id = fields.UUID()
    name = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    box_count = fields.Integer()
    box_kg = fields.Float()
    status = fields.String(metadata={"description": "planning, allocating, delivering, closed"})
    dongs = fields.List(fields.String())
    allocated_boxes = fields.Integer()
    remaining_stock = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class KimchiCampaignList(StrictSchema):
    items = fields.List(fields.Nested(KimchiCampaignOut))
    next_cursor = fields.String(allow_none=True)


class KimchiStatusIn(StrictSchema):
    status = fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in CampaignStatus if s != CampaignStatus.PLANNING]),
    )


class KimchiClosingReportOut(StrictSchema):
    campaign = fields.Nested(KimchiCampaignOut)
    undelivered = fields.Integer(metadata={"description": "Allocations never delivered"})
    undelivered_by_status = fields.Dict(keys=fields.String(), values=fields.Integer())
    undelivered_by_dong = fields.Dict(keys=fields.String(), values=fields.Integer())


class KimchiTallyOut(StrictSchema):
    allocated = fields.Integer()
    boxes = fields.Integer()
    delivered = fields.Integer()
    failed = fields.Integer()
    routed = fields.Integer()
    waiting = fields.Integer()
    cancelled = fields.Integer()


class KimchiSummaryOut(StrictSchema):
    campaign_id = fields.UUID()
    allocated = fields.Integer(metadata={"description": "Live allocations in your dongs"})
    delivered = fields.Integer()
    failed = fields.Integer()
    remaining_stock = fields.Integer(
        metadata={"description": "Boxes of the campaign not allocated"}
    )
    routed = fields.Integer()
    waiting = fields.Integer()
    cancelled = fields.Integer()
    boxes = fields.Integer()
    by_dong = fields.Dict(keys=fields.String(), values=fields.Nested(KimchiTallyOut))
    by_agency = fields.Dict(keys=fields.String(), values=fields.Nested(KimchiTallyOut))


class KimchiAllocationIn(StrictSchema):
    resident_id = fields.UUID(required=True)
    agency = fields.String(required=True, validate=validate.Length(min=1, max=100))
    boxes = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=50),
        metadata={"description": "More than one for a care facility receiving as one recipient"},
    )


class KimchiAllocationOut(StrictSchema):
    id = fields.UUID()
    campaign_id = fields.UUID()
    resident_id = fields.UUID()
    dong = fields.String()
    agency = fields.String()
    boxes = fields.Integer()
    status = fields.String(
        metadata={"description": "allocated, routed, delivered, failed, cancelled"}
    )
    allocated_at = fields.DateTime()
    allocated_by = fields.UUID(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    ended_reason = fields.String(allow_none=True)
    updated_at = fields.DateTime()
    resident = resident_field()


class KimchiAllocationArgs(PageArgs):
    status = fields.String(
        load_default=None, validate=validate.OneOf([s.value for s in AllocationStatus])
    )
    dong = fields.String(load_default=None, validate=DONG)


class KimchiAllocationList(StrictSchema):
    items = fields.List(fields.Nested(KimchiAllocationOut))
    next_cursor = fields.String(allow_none=True)


def campaign_body(item: kimchi.CampaignView) -> dict[str, Any]:
    return {k: getattr(item, k) for k in KimchiCampaignOut._declared_fields}


def allocation_body(item: kimchi.AllocationView) -> dict[str, Any]:
    return {k: getattr(item, k) for k in KimchiAllocationOut._declared_fields}


@blp.route("/campaigns")
class Campaigns(MethodView):
    @allow(Role.SUPERVISOR)
    @blp.arguments(KimchiCampaignIn)
    @blp.response(201, KimchiCampaignOut)
    def post(self, payload: dict[str, Any]) -> Any:
        """Start a campaign (in planning) with its delivery period and stock of boxes."""
        item = kimchi.create_campaign(db_session(), actor=current_actor(), now=now(), **payload)
        location = f"/api/v1/kimchi/campaigns/{item.id}"
        return set_etag(campaign_body(item), item.version, 201, location=location)

    @allow(*CASEWORK)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, KimchiCampaignList)
    def get(self, args: dict[str, Any]) -> Any:
        """Every campaign, newest first."""
        page = kimchi.list_campaigns(db_session(), actor=current_actor(), **args)
        return {
            "items": [campaign_body(c) for c in page.items],
            "next_cursor": page.next_cursor,
        }


@blp.route("/campaigns/<uuid:campaign_id>")
class CampaignItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, KimchiCampaignOut)
    def get(self, campaign_id: uuid.UUID) -> Any:
        """One campaign with its stock."""
        item = kimchi.get_campaign(db_session(), actor=current_actor(), campaign_id=campaign_id)
        return set_etag(campaign_body(item), item.version)


@blp.route("/campaigns/<uuid:campaign_id>/status")
class CampaignStatusChange(MethodView):
    @allow(Role.SUPERVISOR)
    @blp.arguments(KimchiStatusIn)
    @blp.response(200, KimchiClosingReportOut)
    @blp.alt_response(409, description="The status only moves forward; a closed campaign stays")
    def post(self, payload: dict[str, Any], campaign_id: uuid.UUID) -> Any:
        """Move the campaign forward (allocating, delivering, closed); the answer says what was
        never delivered, which is the closing report when closing."""
        report = kimchi.change_status(
            db_session(),
            actor=current_actor(),
            campaign_id=campaign_id,
            status=payload["status"],
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        body = {
            "campaign": campaign_body(report.campaign),
            "undelivered": report.undelivered,
            "undelivered_by_status": report.undelivered_by_status,
            "undelivered_by_dong": report.undelivered_by_dong,
        }
        return set_etag(body, report.campaign.version)


@blp.route("/campaigns/<uuid:campaign_id>/summary")
class CampaignSummaryView(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, KimchiSummaryOut)
    def get(self, campaign_id: uuid.UUID) -> Any:
        """Allocated, delivered, failed and remaining stock; by dong and agency (your dongs)."""
        item = kimchi.summary(db_session(), actor=current_actor(), campaign_id=campaign_id)
        return {
            "campaign_id": item.campaign.id,
            "allocated": item.allocated,
            "delivered": item.delivered,
            "failed": item.failed,
            "remaining_stock": item.remaining_stock,
            "routed": item.routed,
            "waiting": item.waiting,
            "cancelled": item.cancelled,
            "boxes": item.boxes,
            "by_dong": {k: asdict(v) for k, v in item.by_dong.items()},
            "by_agency": {k: asdict(v) for k, v in item.by_agency.items()},
        }


@blp.route("/campaigns/<uuid:campaign_id>/allocations")
class CampaignAllocations(MethodView):
    @allow(*ALLOCATORS)
    @blp.arguments(KimchiAllocationIn)
    @blp.response(201, KimchiAllocationOut)
    @blp.alt_response(
        409,
        description="The household already has a box (`existing_id` when in your dongs), "
        "or the stock is out (`out_of_stock`)",
    )
    def post(self, payload: dict[str, Any], campaign_id: uuid.UUID) -> Any:
        """Allocate a box to the resident's household for an agency: one per household (the
        same address however it was typed, by any agency), within the stock."""
        item = kimchi.allocate(
            db_session(), actor=current_actor(), campaign_id=campaign_id, now=now(), **payload
        )
        location = f"/api/v1/kimchi/allocations/{item.id}"
        return set_etag(allocation_body(item), item.version, 201, location=location)

    @allow(*CASEWORK)
    @blp.arguments(KimchiAllocationArgs, location="query")
    @blp.response(200, KimchiAllocationList)
    def get(self, args: dict[str, Any], campaign_id: uuid.UUID) -> Any:
        """The campaign's allocations in your dongs."""
        page = kimchi.list_allocations(
            db_session(), actor=current_actor(), campaign_id=campaign_id, **args
        )
        return {
            "items": [allocation_body(a) for a in page.items],
            "next_cursor": page.next_cursor,
        }


class KimchiBulkIn(StrictSchema):
    agency = fields.String(required=True, validate=validate.Length(min=1, max=100))
    dongs = fields.List(fields.String(validate=DONG), load_default=None)
    risk_levels = fields.List(
        fields.String(validate=validate.Length(max=10)),
        load_default=None,
        metadata={"description": "Ongi risk levels; `none` for residents not enrolled"},
    )
    household_types = fields.List(
        fields.String(validate=validate.OneOf([t.value for t in HouseholdType])),
        load_default=None,
    )
    not_served_in = fields.UUID(
        load_default=None,
        allow_none=True,
        metadata={"description": "An earlier campaign: skip households it delivered to"},
    )
    limit = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=100_000)
    )
    dry_run = fields.Boolean(load_default=False)


class KimchiBulkOut(StrictSchema):
    dry_run = fields.Boolean()
    candidates = fields.Integer(metadata={"description": "Residents matching the criteria"})
    allocated = fields.Integer()
    same_household = fields.Integer(
        metadata={"description": "Candidates whose household was allocated in this run"}
    )
    stock_exhausted = fields.Boolean()
    remaining_stock = fields.Integer()


@blp.route("/campaigns/<uuid:campaign_id>/allocations/bulk")
class CampaignBulkAllocation(MethodView):
    @allow(*ALLOCATORS)
    @blp.arguments(KimchiBulkIn)
    @blp.response(200, KimchiBulkOut)
    @blp.alt_response(409, description="The campaign is closed")
    def post(self, payload: dict[str, Any], campaign_id: uuid.UUID) -> Any:
        """Allocate a box to every household matching the criteria (dongs, Ongi risk levels,
        household types, not served in an earlier campaign) in your dongs, highest risk and
        oldest first, until the stock or `limit` runs out. `dry_run` counts without writing."""
        result = kimchi.allocate_by_criteria(
            db_session(), actor=current_actor(), campaign_id=campaign_id, now=now(), **payload
        )
        return {k: getattr(result, k) for k in KimchiBulkOut._declared_fields}


@blp.route("/allocations/<uuid:allocation_id>")
class AllocationItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, KimchiAllocationOut)
    def get(self, allocation_id: uuid.UUID) -> Any:
        """One allocation and its status."""
        item = kimchi.get_allocation(
            db_session(), actor=current_actor(), allocation_id=allocation_id
        )
        return set_etag(allocation_body(item), item.version)


@blp.route("/allocations/<uuid:allocation_id>/cancel")
class AllocationCancel(MethodView):
    @allow(*ALLOCATORS)
    @blp.response(200, KimchiAllocationOut)
    @blp.alt_response(409, description="Already delivered or cancelled")
    def post(self, allocation_id: uuid.UUID) -> Any:
        """Withdraw an allocation not yet delivered: the box goes back to the stock."""
        item = kimchi.cancel_allocation(
            db_session(),
            actor=current_actor(),
            allocation_id=allocation_id,
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        return set_etag(allocation_body(item), item.version)


class KimchiRouteIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    delivery_on = fields.Date(required=True)
    allocation_ids = fields.List(
        fields.UUID(), required=True, validate=validate.Length(min=1, max=200)
    )
    deliverer_staff_id = fields.UUID(
        load_default=None, allow_none=True, metadata={"description": "A staff member of the dong"}
    )
    volunteer_name = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=50),
        metadata={"description": "A named volunteer instead of a staff member (sealed)"},
    )
    suggest_order = fields.Boolean(
        load_default=False,
        metadata={"description": "Order the stops by dong, then normalized address"},
    )


class KimchiStopOut(StrictSchema):
    seq = fields.Integer()
    allocation_id = fields.UUID()
    resident_id = fields.UUID()
    state = fields.String(metadata={"description": "open, done, returned"})
    allocation_status = fields.String()


class KimchiRouteOut(StrictSchema):
    id = fields.UUID()
    campaign_id = fields.UUID()
    dong = fields.String()
    name = fields.String()
    delivery_on = fields.Date()
    deliverer_staff_id = fields.UUID(allow_none=True)
    volunteer_name = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "open, done, abandoned"})
    stops = fields.List(fields.Nested(KimchiStopOut))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class KimchiRouteArgs(PageArgs):
    delivery_on = fields.Date(load_default=None)
    mine = fields.Boolean(load_default=False, metadata={"description": "Routes you deliver"})


class KimchiRouteList(StrictSchema):
    items = fields.List(fields.Nested(KimchiRouteOut))
    next_cursor = fields.String(allow_none=True)


class KimchiSheetLineOut(StrictSchema):
    seq = fields.Integer()
    allocation_id = fields.UUID()
    resident_id = fields.UUID()
    name = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    boxes = fields.Integer()
    state = fields.String()
    allocation_status = fields.String()
    unreadable = fields.Boolean()


class KimchiSheetOut(StrictSchema):
    route = fields.Nested(KimchiRouteOut)
    box_kg = fields.Float()
    lines = fields.List(fields.Nested(KimchiSheetLineOut))


class KimchiAttemptIn(StrictSchema):
    outcome = fields.String(
        required=True,
        metadata={
            "description": "handed_over, left_at_door, absent, refused, bad_address, cancelled"
        },
    )
    occurred_at = Instant(required=True)
    recipient_relation = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "handed_over only: self, household_member, neighbour"},
    )
    observation = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=2000)
    )
    concern = fields.Boolean(
        load_default=False,
        metadata={"description": "The observation is a welfare concern for the counselor"},
    )
    client_ref = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=120)
    )


class KimchiAttemptOut(StrictSchema):
    id = fields.UUID()
    allocation_id = fields.UUID()
    route_id = fields.UUID(allow_none=True)
    resident_id = fields.UUID()
    outcome = fields.String()
    recipient_relation = fields.String(allow_none=True)
    occurred_at = fields.DateTime()
    recorded_at = fields.DateTime()
    staff_id = fields.UUID(allow_none=True)
    observation = fields.String(
        allow_none=True, metadata={"description": "Counselors, supervisors and the recorder"}
    )
    concern = fields.Boolean()
    contact_id = fields.UUID(
        allow_none=True, metadata={"description": "The Ongi contact a handover recorded"}
    )
    allocation_status = fields.String()


class KimchiAttemptList(StrictSchema):
    items = fields.List(fields.Nested(KimchiAttemptOut))


def route_body(item: kimchi.RouteView) -> dict[str, Any]:
    data = {k: getattr(item, k) for k in KimchiRouteOut._declared_fields}
    data["stops"] = [asdict(s) for s in item.stops]
    return data


def attempt_body(item: kimchi.AttemptView) -> dict[str, Any]:
    return {k: getattr(item, k) for k in KimchiAttemptOut._declared_fields}


@blp.route("/campaigns/<uuid:campaign_id>/routes")
class CampaignRoutes(MethodView):
    @allow(*ALLOCATORS)
    @blp.arguments(KimchiRouteIn)
    @blp.response(201, KimchiRouteOut)
    @blp.alt_response(409, description="An allocation is on another open route, or ended")
    def post(self, payload: dict[str, Any], campaign_id: uuid.UUID) -> Any:
        """Plan a round: one dong's allocations of the campaign on a delivery date within the
        campaign, in the order given or the suggested one, by a staff member or a volunteer."""
        item = kimchi.create_route(
            db_session(), actor=current_actor(), campaign_id=campaign_id, now=now(), **payload
        )
        location = f"/api/v1/kimchi/routes/{item.id}"
        return set_etag(route_body(item), item.version, 201, location=location)

    @allow(*CASEWORK)
    @blp.arguments(KimchiRouteArgs, location="query")
    @blp.response(200, KimchiRouteList)
    def get(self, args: dict[str, Any], campaign_id: uuid.UUID) -> Any:
        """The campaign's routes in your dongs (`mine`: the ones you deliver)."""
        page = kimchi.list_routes(
            db_session(), actor=current_actor(), campaign_id=campaign_id, **args
        )
        return {"items": [route_body(r) for r in page.items], "next_cursor": page.next_cursor}


@blp.route("/routes/<uuid:route_id>")
class RouteItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, KimchiRouteOut)
    def get(self, route_id: uuid.UUID) -> Any:
        """One route with its stops in order."""
        item = kimchi.get_route(db_session(), actor=current_actor(), route_id=route_id)
        return set_etag(route_body(item), item.version)


@blp.route("/routes/<uuid:route_id>/sheet")
class RouteSheetView(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, KimchiSheetOut)
    def get(self, route_id: uuid.UUID) -> Any:
        """The deliverer's route sheet: names, addresses and phones of the stops, in order. An
        audited read."""
        sheet = kimchi.route_sheet(db_session(), actor=current_actor(), route_id=route_id)
        return {
            "route": route_body(sheet.route),
            "box_kg": sheet.box_kg,
            "lines": [asdict(line) for line in sheet.lines],
        }


SHEET_COLUMNS = ("순번", "이름", "주소", "전화", "상자", "상태", "배분 ID")


@blp.route("/routes/<uuid:route_id>/sheet.csv")
class RouteSheetCsv(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, {"type": "string"}, content_type="text/csv")
    def get(self, route_id: uuid.UUID) -> Any:
        """The route sheet to print: CSV (UTF-8 with a byte order mark, so spreadsheets show
        Korean), one stop a line. Recorded as an export."""
        sheet = kimchi.route_sheet(
            db_session(), actor=current_actor(), route_id=route_id, export=True
        )
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(SHEET_COLUMNS)
        for line in sheet.lines:
            writer.writerow(
                [
                    line.seq,
                    _cell(line.name),
                    _cell(line.address),
                    _cell(line.phone),
                    line.boxes,
                    line.allocation_status,
                    line.allocation_id,
                ]
            )
        response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
        response.headers["Content-Disposition"] = "attachment; filename=route-sheet.csv"
        response.headers["Cache-Control"] = "no-store"
        return response


def _cell(value: str | None) -> str:
    """A cell that a spreadsheet never runs as a formula (CSV injection)."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@blp.route("/routes/<uuid:route_id>/abandon")
class RouteAbandon(MethodView):
    @allow(*ALLOCATORS)
    @blp.response(200, KimchiRouteOut)
    @blp.alt_response(409, description="The route is no longer open")
    def post(self, route_id: uuid.UUID) -> Any:
        """The deliverer did not come: the route's open stops go back to the pool at once."""
        item = kimchi.abandon_route(
            db_session(),
            actor=current_actor(),
            route_id=route_id,
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        return set_etag(route_body(item), item.version)


@blp.route("/allocations/<uuid:allocation_id>/attempts")
class AllocationAttempts(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(KimchiAttemptIn)
    @blp.response(201, KimchiAttemptOut)
    @blp.alt_response(200, schema=KimchiAttemptOut, description="The same client_ref again")
    @blp.alt_response(409, description="The allocation was already delivered or cancelled")
    def post(self, payload: dict[str, Any], allocation_id: uuid.UUID) -> Any:
        """Record a delivery attempt and its outcome: delivered, failed (a `delivery_failed`
        follow-up), or ended; a handover in person is an Ongi contact; a concern raises a
        `welfare_concern` follow-up. The same `client_ref` again answers the first attempt."""
        recorded = kimchi.record_attempt(
            db_session(),
            actor=current_actor(),
            allocation_id=allocation_id,
            now=now(),
            expected_version=if_match_version(request, required=False),
            **payload,
        )
        item = recorded.attempt
        location = f"/api/v1/kimchi/allocations/{item.allocation_id}/attempts"
        status = 201 if recorded.created else 200
        return attempt_body(item), status, {"Location": location}

    @allow(*CASEWORK)
    @blp.response(200, KimchiAttemptList)
    def get(self, allocation_id: uuid.UUID) -> Any:
        """The allocation's attempts, oldest first."""
        items = kimchi.list_attempts(
            db_session(), actor=current_actor(), allocation_id=allocation_id
        )
        return {"items": [attempt_body(a) for a in items]}
