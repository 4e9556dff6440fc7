"""Residents: the fixed registry API (docs/architecture.md, "The HTTP interface")."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from services import resident_picture, residents
from services.residents import ResidentView
from welfare.api.blueprint import Blueprint
from welfare.api.etags import if_match_version, set_etag
from welfare.api.policy import CASEWORK, allow
from welfare.api.schemas import PageArgs, StrictSchema
from welfare.api.security import current_actor
from welfare.models import HouseholdType, Role
from welfare.web import db_session, now

blp = Blueprint(
    "residents",
    __name__,
    url_prefix="/api/v1/residents",
    description="The encrypted resident registry",
)

HOUSEHOLD_TYPES = [h.value for h in HouseholdType]
TEXT = validate.Length(max=2000)


class ResidentIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    rrn = fields.String(required=True, validate=validate.Length(max=40))
    dong = fields.String(required=True, validate=validate.Regexp(r"^\d{10}$"))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    address = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))
    household_type = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(HOUSEHOLD_TYPES)
    )
    notes = fields.String(load_default=None, allow_none=True, validate=TEXT)
    rrn_reissued = fields.Boolean(
        load_default=False,
        metadata={
            "description": "The RRN was issued after October 2020 (random last digits): its "
            "check digit is not expected to hold. Without it, a failed check digit for someone "
            "born before October 2020 is answered 422 rrn_checksum_unconfirmed (likely a typo)."
        },
    )
    possible_duplicate_reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=2, max=500),
        metadata={
            "description": "Why this is another person than the residents of the same name and "
            "birth date already registered (409 possible_duplicate); kept in the access record"
        },
    )


class ResidentPatch(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=50))
    dong = fields.String(validate=validate.Regexp(r"^\d{10}$"))
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    address = fields.String(allow_none=True, validate=validate.Length(max=300))
    household_type = fields.String(allow_none=True, validate=validate.OneOf(HOUSEHOLD_TYPES))
    notes = fields.String(allow_none=True, validate=TEXT)


class ResidentOut(StrictSchema):
    id = fields.UUID()
    name = fields.String(allow_none=True)
    rrn_masked = fields.String(allow_none=True, metadata={"example": "900101-1******"})
    birth_date = fields.Date(allow_none=True)
    sex = fields.String()
    dong = fields.String()
    phone = fields.String(allow_none=True, metadata={"example": "010-1234-5678"})
    address = fields.String(allow_none=True)
    household_type = fields.String(allow_none=True)
    status = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    notes = fields.String(allow_none=True, metadata={"description": "Counselors and supervisors"})
    unreadable = fields.Boolean(
        metadata={
            "description": "A stored field failed authentication: no personal data is shown, "
            "and the supervisors of the dong have a data_unreadable follow-up"
        }
    )


class EnrollmentSummaryOut(StrictSchema):
    id = fields.UUID()
    risk_level = fields.String()
    status = fields.String()
    interval_hours = fields.Integer()
    last_success_at = fields.DateTime(allow_none=True)
    next_due_at = fields.DateTime(allow_none=True)
    version = fields.Integer(metadata={"description": 'For If-Match on PATCH: "v{version}"'})


class CaseSummaryOut(StrictSchema):
    id = fields.UUID()
    program = fields.String()
    status = fields.String()
    priority = fields.String()
    assignee_id = fields.UUID(allow_none=True)
    opened_at = fields.DateTime()


class FollowUpSummaryOut(StrictSchema):
    id = fields.UUID()
    program = fields.String()
    reason = fields.String()
    state = fields.String()
    step = fields.Integer()
    due_at = fields.DateTime()
    assignee_id = fields.UUID(allow_none=True)


class CareRequestSummaryOut(StrictSchema):
    id = fields.UUID()
    care_type = fields.String()
    urgency = fields.String()
    state = fields.String()
    received_at = fields.DateTime()
    respond_by = fields.DateTime()
    assignee_id = fields.UUID(allow_none=True)


class ProgramsOut(StrictSchema):
    ongi_enrollment = fields.Nested(EnrollmentSummaryOut, allow_none=True)
    open_cases = fields.List(fields.Nested(CaseSummaryOut))
    live_followups = fields.List(fields.Nested(FollowUpSummaryOut))
    open_care_requests = fields.List(fields.Nested(CareRequestSummaryOut))


class ResidentDetail(ResidentOut):
    programs = fields.Nested(
        ProgramsOut,
        metadata={
            "description": "What every program is doing for the resident now: the live Ongi "
            "enrollment, open cases, live follow-ups and open care requests"
        },
    )


class ResidentList(StrictSchema):
    items = fields.List(fields.Nested(ResidentOut))
    next_cursor = fields.String(allow_none=True)


class ResidentListArgs(PageArgs):
    dong = fields.String(load_default=None, validate=validate.Regexp(r"^\d{10}$"))


class SearchIn(StrictSchema):
    rrn = fields.String(validate=validate.Length(max=40))
    phone = fields.String(validate=validate.Length(max=40))
    name = fields.String(validate=validate.Length(min=1, max=50))

    @validates_schema
    def exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        if len(data) != 1:
            raise ValidationError(
                "rrn, phone, name 중 정확히 하나 (exactly one of rrn, phone, name)",
                field_name="rrn",
            )


class SearchOut(StrictSchema):
    items = fields.List(fields.Nested(ResidentOut))


class ReasonIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=500))


class RevealOut(StrictSchema):
    rrn = fields.String()


class StatusIn(StrictSchema):
    status = fields.String(
        required=True, validate=validate.OneOf(["active", "moved_out", "deceased"])
    )


class ErasureOut(StrictSchema):
    id = fields.UUID()
    status = fields.String()


def body(item: ResidentView) -> dict[str, Any]:
    data = {name: getattr(item, name) for name in ResidentOut._declared_fields}
    if item.notes is None:
        data.pop("notes")
    return data


@blp.route("")
class Residents(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(ResidentListArgs, location="query")
    @blp.response(200, ResidentList)
    def get(self, args: dict[str, Any]) -> Any:
        """Residents of the caller's dongs, in a stable order with a cursor."""
        page = residents.list_residents(
            db_session(),
            actor=current_actor(),
            dong=args["dong"],
            cursor=args["cursor"],
            limit=args["limit"],
            now=now(),
        )
        return {"items": [body(r) for r in page.items], "next_cursor": page.next_cursor}

    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(ResidentIn)
    @blp.response(201, ResidentOut)
    @blp.alt_response(409, description="RRN already registered (existing_id when visible)")
    def post(self, payload: dict[str, Any]) -> Any:
        """Register a resident; name, RRN, phone, address and notes are stored encrypted."""
        item = residents.register_resident(
            db_session(), actor=current_actor(), now=now(), **payload
        )
        return set_etag(body(item), item.version, 201, location=f"/api/v1/residents/{item.id}")


@blp.route("/search")
class ResidentSearch(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(SearchIn)
    @blp.response(200, SearchOut)
    def post(self, payload: dict[str, Any]) -> Any:
        """Exact search by RRN, phone or name (POST: personal data never goes in a URL)."""
        found = residents.search_residents(
            db_session(), actor=current_actor(), now=now(), **payload
        )
        return {"items": [body(r) for r in found]}


@blp.route("/<uuid:resident_id>")
class ResidentItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, ResidentDetail)
    @blp.alt_response(410, description="Erased")
    def get(self, resident_id: uuid.UUID) -> Any:
        """The resident, and what every program is doing for them now."""
        item, programs = resident_picture.get_picture(
            db_session(), actor=current_actor(), resident_id=resident_id
        )
        return set_etag({**body(item), "programs": asdict(programs)}, item.version)

    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(ResidentPatch)
    @blp.response(200, ResidentOut)
    @blp.alt_response(412, description="Stale If-Match")
    def patch(self, payload: dict[str, Any], resident_id: uuid.UUID) -> Any:
        """Update with If-Match; a stale ETag gets 412 and nothing changes."""
        item = residents.update_resident(
            db_session(),
            actor=current_actor(),
            resident_id=resident_id,
            expected_version=if_match_version(request) or 0,
            changes=payload,
            now=now(),
        )
        return set_etag(body(item), item.version)


@blp.route("/<uuid:resident_id>/status")
class ResidentStatusChange(MethodView):
    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(StatusIn)
    @blp.response(200, ResidentOut)
    def post(self, payload: dict[str, Any], resident_id: uuid.UUID) -> Any:
        """Record a move out of the district or a death (If-Match required)."""
        item = residents.change_status(
            db_session(),
            actor=current_actor(),
            resident_id=resident_id,
            status=payload["status"],
            expected_version=if_match_version(request) or 0,
            now=now(),
        )
        return set_etag(body(item), item.version)


@blp.route("/<uuid:resident_id>/reveal-rrn")
class ResidentReveal(MethodView):
    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(ReasonIn)
    @blp.response(200, RevealOut)
    def post(self, payload: dict[str, Any], resident_id: uuid.UUID) -> Any:
        """The full RRN, with a reason; recorded as a reveal."""
        return {
            "rrn": residents.reveal_rrn(
                db_session(),
                actor=current_actor(),
                resident_id=resident_id,
                reason=payload["reason"],
            )
        }


@blp.route("/<uuid:resident_id>/erasure")
class ResidentErasure(MethodView):
    @allow(Role.SUPERVISOR)
    @blp.arguments(ReasonIn)
    @blp.response(200, ErasureOut)
    def post(self, payload: dict[str, Any], resident_id: uuid.UUID) -> Any:
        """Erase for good: the data key is destroyed; afterwards GET answers 410."""
        residents.erase_resident(
            db_session(),
            actor=current_actor(),
            resident_id=resident_id,
            reason=payload["reason"],
            now=now(),
        )
        return {"id": resident_id, "status": "erased"}
