"""Ongi enrollments, the contact log and gateway signals (docs/domain.md, "Ongi"; conventions in
docs/architecture.md, "The HTTP interface")."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from services import contacts, ongi, signals
from welfare.api.blueprint import Blueprint
from welfare.api.etags import if_match_version, set_etag
from welfare.api.policy import CASEWORK, allow
from welfare.api.schemas import Instant, PageArgs, StrictSchema
from welfare.api.security import current_actor
from welfare.models import Channel, OngiEnrollment, Outcome, Role
from welfare.web import db_session, now

blp = Blueprint("ongi", __name__, url_prefix="/api/v1", description="Ongi checks and contacts")

RISK = validate.OneOf(["high", "medium", "low"])


class EnrollmentIn(StrictSchema):
    resident_id = fields.UUID(required=True)
    risk_level = fields.String(required=True, validate=RISK)
    enrolled_at = Instant(load_default=None)


class EnrollmentPatch(StrictSchema):
    risk_level = fields.String(validate=RISK)
    status = fields.String(validate=validate.OneOf(["active", "paused", "ended"]))


class EnrollmentArgs(PageArgs):
    resident_id = fields.UUID(load_default=None)
    status = fields.String(
        load_default=None, validate=validate.OneOf(["active", "paused", "ended"])
    )
    dong = fields.String(load_default=None, validate=validate.Regexp(r"^\d{10}$"))


class EnrollmentOut(StrictSchema):
    id = fields.UUID()
    resident_id = fields.UUID()
    risk_level = fields.String()
    interval_hours = fields.Integer()
    status = fields.String()
    enrolled_at = fields.DateTime()
    last_success_at = fields.DateTime(allow_none=True)
    next_due_at = fields.DateTime(allow_none=True)


class ContactIn(StrictSchema):
    resident_id = fields.UUID(required=True)
    channel = fields.String(required=True, validate=validate.OneOf([c.value for c in Channel]))
    outcome = fields.String(required=True, validate=validate.OneOf([o.value for o in Outcome]))
    occurred_at = Instant(required=True)
    program = fields.String(
        load_default="ongi", validate=validate.OneOf(["ongi", "care_center", "kimchi", "mobility"])
    )
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    client_ref = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=8, max=100),
        metadata={
            "description": "Your idempotency key, unique per staff member: the same key with "
            "the same body returns the first contact (200); with another body, 422 "
            "idempotency_key_reused"
        },
    )


class ContactOut(StrictSchema):
    id = fields.UUID()
    resident_id = fields.UUID()
    channel = fields.String()
    outcome = fields.String()
    occurred_at = fields.DateTime()
    recorded_at = fields.DateTime()
    program = fields.String()
    client_ref = fields.String(allow_none=True)


class ContactDetail(ContactOut):
    staff_id = fields.UUID(allow_none=True)
    source = fields.String(metadata={"description": "staff or gateway"})
    note = fields.String(
        allow_none=True,
        metadata={"description": "Counselors, supervisors and the staff member who wrote it"},
    )
    note_unreadable = fields.Boolean()


class ContactList(StrictSchema):
    items = fields.List(fields.Nested(ContactDetail))
    next_cursor = fields.String(allow_none=True)


class SignalIn(StrictSchema):
    event_id = fields.String(required=True, validate=validate.Length(min=1, max=80))
    kind = fields.String(required=True, validate=validate.OneOf(list(signals.SIGNAL_KINDS)))
    source_ref = fields.String(
        required=True,
        validate=validate.Length(min=1, max=120),
        metadata={"description": "Device or account id at the gateway"},
    )
    occurred_at = Instant(required=True)


class SignalBatchIn(StrictSchema):
    events = fields.List(
        fields.Nested(SignalIn), required=True, validate=validate.Length(min=1, max=500)
    )


class SignalResultOut(StrictSchema):
    event_id = fields.String()
    status = fields.String(
        metadata={
            "description": "accepted; duplicate (this event id was already recorded with the "
            "same content: nothing new); key_reused (this event id was recorded with other "
            "content: refused, send a new id); unknown_source (no such source, or not one "
            "this gateway may post for); rejected (in the future)"
        }
    )


class SignalBatchOut(StrictSchema):
    results = fields.List(fields.Nested(SignalResultOut))


class SignalSourceIn(StrictSchema):
    resident_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(list(signals.SIGNAL_KINDS)))
    source_ref = fields.String(required=True, validate=validate.Length(min=1, max=120))
    gateway_id = fields.UUID(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Pin the source to one gateway account (an active gateway of the "
            "resident's dong); without it, every gateway of the resident's dong may post for it"
        },
    )


class SignalSourceOut(StrictSchema):
    id = fields.UUID()
    resident_id = fields.UUID()
    kind = fields.String()
    gateway_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()


def enrollment_body(e: OngiEnrollment) -> dict[str, Any]:
    return {k: getattr(e, k) for k in EnrollmentOut._declared_fields}


class EnrollmentList(StrictSchema):
    items = fields.List(fields.Nested(EnrollmentOut))
    next_cursor = fields.String(allow_none=True)


@blp.route("/ongi/enrollments")
class Enrollments(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(EnrollmentArgs, location="query")
    @blp.response(200, EnrollmentList)
    def get(self, args: dict[str, Any]) -> Any:
        """Enrollments of the caller's dongs, newest first: `resident_id=` for one resident's
        history, `status=active` for the dong's watch list."""
        page = ongi.list_enrollments(db_session(), actor=current_actor(), **args)
        return {"items": [enrollment_body(e) for e in page.items], "next_cursor": page.next_cursor}

    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(EnrollmentIn)
    @blp.response(201, EnrollmentOut)
    @blp.alt_response(409, description="Already enrolled")
    def post(self, payload: dict[str, Any]) -> Any:
        """Enroll a resident at a risk level; the first contact is due one interval later."""
        enrollment = ongi.enroll(db_session(), actor=current_actor(), now=now(), **payload)
        return set_etag(
            enrollment_body(enrollment),
            enrollment.version,
            201,
            location=f"/api/v1/ongi/enrollments/{enrollment.id}",
        )


@blp.route("/ongi/enrollments/<uuid:enrollment_id>")
class Enrollment(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, EnrollmentOut)
    def get(self, enrollment_id: uuid.UUID) -> Any:
        enrollment = ongi.get_enrollment(
            db_session(), actor=current_actor(), enrollment_id=enrollment_id
        )
        return set_etag(enrollment_body(enrollment), enrollment.version)

    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(EnrollmentPatch)
    @blp.response(200, EnrollmentOut)
    def patch(self, payload: dict[str, Any], enrollment_id: uuid.UUID) -> Any:
        """Change the risk level, or pause, resume or end (If-Match required)."""
        enrollment = ongi.update_enrollment(
            db_session(),
            actor=current_actor(),
            enrollment_id=enrollment_id,
            expected_version=if_match_version(request),
            now=now(),
            **payload,
        )
        return set_etag(enrollment_body(enrollment), enrollment.version)


@blp.route("/contacts")
class Contacts(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(ContactIn)
    @blp.response(201, ContactOut)
    @blp.alt_response(200, description="Same client_ref again: the first contact")
    def post(self, payload: dict[str, Any]) -> Any:
        """Log a call, visit or other contact; `reached` proves the person is well."""
        logged = ongi.log_contact(db_session(), actor=current_actor(), now=now(), **payload)
        c = logged.contact
        data = {k: getattr(c, k) for k in ContactOut._declared_fields}
        return data, 201 if logged.created else 200, {"Location": f"/api/v1/contacts/{c.id}"}


@blp.route("/contacts/<uuid:contact_id>")
class ContactItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, ContactDetail)
    def get(self, contact_id: uuid.UUID) -> Any:
        """One contact, with its note for the roles that may read it."""
        return asdict(
            contacts.get_contact(db_session(), actor=current_actor(), contact_id=contact_id)
        )


@blp.route("/residents/<uuid:resident_id>/contacts")
class ResidentContacts(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ContactList)
    def get(self, args: dict[str, Any], resident_id: uuid.UUID) -> Any:
        """A resident's contacts by any channel and program, newest first."""
        page = contacts.resident_contacts(
            db_session(), actor=current_actor(), resident_id=resident_id, **args
        )
        return {"items": [asdict(c) for c in page.items], "next_cursor": page.next_cursor}


@blp.route("/signals")
class Signals(MethodView):
    @allow(Role.GATEWAY)
    @blp.arguments(SignalBatchIn)
    @blp.response(200, SignalBatchOut)
    def post(self, payload: dict[str, Any]) -> Any:
        """Gateway batch of sensor activity, AI calls and messages read; idempotent by event."""
        results = signals.ingest(
            db_session(), actor=current_actor(), events=payload["events"], now=now()
        )
        return {"results": [{"event_id": r.event_id, "status": r.status} for r in results]}


@blp.route("/signals/sources")
class SignalSources(MethodView):
    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(SignalSourceIn)
    @blp.response(201, SignalSourceOut)
    def post(self, payload: dict[str, Any]) -> Any:
        """Link a device or account at a gateway to a resident, so its signals count."""
        source = signals.register_source(db_session(), actor=current_actor(), now=now(), **payload)
        return {
            "id": source.id,
            "resident_id": source.resident_id,
            "kind": source.kind,
            "gateway_id": source.gateway_id,
            "created_at": source.created_at,
        }
