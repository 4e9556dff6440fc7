"""Elder health & hygiene visits (docs/domain.md, "Elder health & hygiene visits")."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from services import hygiene
from welfare.api.blueprint import Blueprint
from welfare.api.etags import if_match_version, set_etag
from welfare.api.policy import CASEWORK, allow
from welfare.api.schemas import Instant, PageArgs, StrictSchema
from welfare.api.security import current_actor
from welfare.models import HygieneEnrollmentStatus, Role, VisitState
from welfare.web import db_session, now

blp = Blueprint(
    "hygiene",
    __name__,
    url_prefix="/api/v1/hygiene",
    description="Elder health & hygiene visits",
)


class HygieneEnrollmentIn(StrictSchema):
    resident_id = fields.UUID(required=True)
    provider = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A hygiene_provider partner (GET /partners)"},
    )
    services = fields.List(
        fields.String(validate=validate.Length(min=1, max=30)),
        required=True,
        validate=validate.Length(min=1, max=10),
        metadata={"description": "bathing, cleaning, pest_control, health_check"},
    )
    rrule = fields.String(
        required=True,
        validate=validate.Length(min=1, max=hygiene.MAX_RRULE),
        metadata={"example": "FREQ=WEEKLY;BYDAY=TU", "description": "RFC 5545, in Seoul time"},
    )
    dtstart = Instant(required=True, metadata={"description": "The first visit's time"})


class HygieneEnrollmentOut(StrictSchema):
    id = fields.UUID()
    resident_id = fields.UUID()
    dong = fields.String()
    provider = fields.String()
    services = fields.List(fields.String())
    rrule = fields.String()
    dtstart = fields.DateTime()
    status = fields.String()
    scheduled_until = fields.DateTime()
    enrolled_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    version = fields.Integer()


class HygieneEnrollmentList(StrictSchema):
    items = fields.List(fields.Nested(HygieneEnrollmentOut))
    next_cursor = fields.String(allow_none=True)


class HygieneEnrollmentArgs(PageArgs):
    status = fields.String(
        load_default=None, validate=validate.OneOf([s.value for s in HygieneEnrollmentStatus])
    )


class HygieneVisitOut(StrictSchema):
    id = fields.UUID()
    enrollment_id = fields.UUID()
    resident_id = fields.UUID()
    dong = fields.String()
    scheduled_at = fields.DateTime()
    state = fields.String()
    met = fields.Boolean(allow_none=True)
    health_concern = fields.Boolean()
    observation = fields.String(allow_none=True)
    recorded_at = fields.DateTime(allow_none=True)
    recorded_by = fields.UUID(allow_none=True)
    contact_id = fields.UUID(allow_none=True)
    version = fields.Integer()


class HygieneVisitList(StrictSchema):
    items = fields.List(fields.Nested(HygieneVisitOut))
    next_cursor = fields.String(allow_none=True)


class HygieneVisitArgs(PageArgs):
    state = fields.String(load_default=None, validate=validate.OneOf([s.value for s in VisitState]))
    dong = fields.String(load_default=None, validate=validate.Regexp(r"^\d{10}$"))
    scheduled_from = Instant(load_default=None)
    scheduled_to = Instant(load_default=None)


class HygieneVisitRecordIn(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(list(hygiene.RECORDABLE)))
    met = fields.Boolean(load_default=False)
    health_concern = fields.Boolean(
        load_default=False,
        metadata={"description": "A health observation that is a concern: welfare_concern"},
    )
    observation = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=2000)
    )


@blp.route("/enrollments")
class HygieneEnrollments(MethodView):
    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(HygieneEnrollmentIn)
    @blp.response(201, HygieneEnrollmentOut)
    @blp.alt_response(200, description="The same enrollment again: the active one")
    @blp.alt_response(409, description="Another enrollment of the resident is active")
    def post(self, payload: dict[str, Any]) -> Any:
        """Enroll an elder for recurring visits by a provider on an RRULE. Sending the same
        enrollment again answers the active one (200)."""
        view, created = hygiene.enroll(db_session(), actor=current_actor(), now=now(), **payload)
        body, status, headers = set_etag(asdict(view), view.version, 201 if created else 200)
        headers["Location"] = f"/api/v1/hygiene/enrollments/{view.id}"
        return body, status, headers

    @allow(*CASEWORK)
    @blp.arguments(HygieneEnrollmentArgs, location="query")
    @blp.response(200, HygieneEnrollmentList)
    def get(self, args: dict[str, Any]) -> Any:
        """Enrollments of your dongs, newest first."""
        page = hygiene.list_enrollments(db_session(), actor=current_actor(), **args)
        return {"items": [asdict(v) for v in page.items], "next_cursor": page.next_cursor}


@blp.route("/enrollments/<uuid:enrollment_id>")
class HygieneEnrollmentItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, HygieneEnrollmentOut)
    def get(self, enrollment_id: uuid.UUID) -> Any:
        """One enrollment."""
        view = hygiene.get_enrollment(
            db_session(), actor=current_actor(), enrollment_id=enrollment_id
        )
        return set_etag(asdict(view), view.version)


@blp.route("/enrollments/<uuid:enrollment_id>/end")
class HygieneEnrollmentEnd(MethodView):
    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.response(200, HygieneEnrollmentOut)
    def post(self, enrollment_id: uuid.UUID) -> Any:
        """Stop the visits; those not yet due are removed."""
        view = hygiene.end_enrollment(
            db_session(),
            actor=current_actor(),
            enrollment_id=enrollment_id,
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        return set_etag(asdict(view), view.version)


@blp.route("/visits")
class HygieneVisits(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(HygieneVisitArgs, location="query")
    @blp.response(200, HygieneVisitList)
    def get(self, args: dict[str, Any]) -> Any:
        """Visits of your dongs by time."""
        page = hygiene.list_visits(db_session(), actor=current_actor(), **args)
        return {"items": [asdict(v) for v in page.items], "next_cursor": page.next_cursor}


@blp.route("/visits/<uuid:visit_id>")
class HygieneVisitItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, HygieneVisitOut)
    def get(self, visit_id: uuid.UUID) -> Any:
        """One visit, with the observation for counselors and supervisors."""
        view = hygiene.get_visit(db_session(), actor=current_actor(), visit_id=visit_id)
        return set_etag(asdict(view), view.version)


@blp.route("/visits/<uuid:visit_id>/record")
class HygieneVisitRecord(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(HygieneVisitRecordIn)
    @blp.response(200, HygieneVisitOut)
    def post(self, payload: dict[str, Any], visit_id: uuid.UUID) -> Any:
        """What the provider reports: done, missed or refused, whether the person was met, and a
        health observation (a concern raises welfare_concern)."""
        view = hygiene.record_visit(
            db_session(),
            actor=current_actor(),
            visit_id=visit_id,
            now=now(),
            expected_version=if_match_version(request, required=False),
            **payload,
        )
        return set_etag(asdict(view), view.version)
