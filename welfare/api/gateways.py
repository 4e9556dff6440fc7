"""Gateway silence: incidents of silent gateways with their grouped follow-ups, and each
gateway's signal rhythm (docs/domain.md, "Gateway silence")."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from services import gateway_silence
from services.gateway_silence import IncidentView
from welfare.api.blueprint import Blueprint
from welfare.api.etags import if_match_version, set_etag
from welfare.api.followups import FollowUpList, followup_body
from welfare.api.policy import CASEWORK, allow
from welfare.api.schemas import PageArgs, StrictSchema
from welfare.api.security import current_actor
from welfare.models import Role
from welfare.web import db_session, now

blp = Blueprint(
    "gateways",
    __name__,
    url_prefix="/api/v1/gateways",
    description="Gateway silence: incidents and signal rhythms",
)


class IncidentArgs(PageArgs):
    live = fields.Boolean(
        load_default=True, metadata={"description": "false: closed incidents too"}
    )


class IncidentOut(StrictSchema):
    id = fields.UUID()
    gateway_id = fields.UUID()
    gateway_name = fields.String()
    state = fields.String()
    step = fields.Integer()
    due_at = fields.DateTime(
        metadata={"description": "When the gateway's silence passed its threshold"}
    )
    raised_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    outcome = fields.String(allow_none=True)
    dependents = fields.Integer(
        metadata={"description": "Residents whose last proof of life came through it, at raise"}
    )
    last_signal_at = fields.DateTime(allow_none=True)
    dongs = fields.List(fields.String())
    grouped = fields.Integer(metadata={"description": "Follow-ups grouped under it (your dongs)"})
    grouped_live = fields.Integer()


class IncidentList(StrictSchema):
    items = fields.List(fields.Nested(IncidentOut))
    next_cursor = fields.String(allow_none=True)


class WatchOut(StrictSchema):
    gateway_id = fields.UUID()
    gateway_name = fields.String()
    last_signal_at = fields.DateTime(allow_none=True)
    batches = fields.Integer()
    learned_interval_seconds = fields.Integer(allow_none=True)
    expected_interval_seconds = fields.Integer(
        allow_none=True, metadata={"description": "Configured by an admin; null: learned"}
    )
    effective_expected_seconds = fields.Integer()
    silence_threshold_seconds = fields.Integer()
    silent = fields.Boolean()
    version = fields.Integer()


class WatchList(StrictSchema):
    items = fields.List(fields.Nested(WatchOut))
    next_cursor = fields.String(allow_none=True)


class SignalRateIn(StrictSchema):
    expected_interval_minutes = fields.Integer(
        required=True,
        allow_none=True,
        validate=validate.Range(min=1, max=gateway_silence.MAX_EXPECTED_MINUTES),
        metadata={"description": "The gap to expect between batches; null: learn it"},
    )


def incident_body(view: IncidentView) -> dict[str, Any]:
    incident, evidence = view.followup, view.followup.evidence
    return {
        "id": incident.id,
        "gateway_id": incident.subject_id,
        "gateway_name": view.gateway_name,
        "state": incident.state,
        "step": incident.step,
        "due_at": incident.due_at,
        "raised_at": incident.raised_at,
        "resolved_at": incident.resolved_at,
        "outcome": incident.outcome,
        "dependents": int(evidence.get("dependents", 0)),
        "last_signal_at": _instant(evidence.get("last_signal_at")),
        "dongs": list(evidence.get("dongs", [])),
        "grouped": view.grouped,
        "grouped_live": view.grouped_live,
    }


def _instant(raw: object) -> datetime | None:
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


@blp.route("/incidents")
class Incidents(MethodView):
    @allow(Role.ADMIN, Role.SUPERVISOR)
    @blp.arguments(IncidentArgs, location="query")
    @blp.response(200, IncidentList)
    def get(self, args: dict[str, Any]) -> Any:
        """Silent-gateway incidents: all for admins, those of your dongs' gateways for
        supervisors; the longest silence first."""
        page = gateway_silence.list_incidents(
            db_session(),
            actor=current_actor(),
            live_only=args["live"],
            cursor=args["cursor"],
            limit=args["limit"],
        )
        return {"items": [incident_body(v) for v in page.items], "next_cursor": page.next_cursor}


@blp.route("/incidents/<uuid:incident_id>")
class Incident(MethodView):
    @allow(Role.ADMIN, Role.SUPERVISOR)
    @blp.response(200, IncidentOut)
    def get(self, incident_id: uuid.UUID) -> Any:
        """One incident: the gateway, how many residents depend on it, what is grouped."""
        return incident_body(
            gateway_silence.get_incident(
                db_session(), actor=current_actor(), incident_id=incident_id
            )
        )


@blp.route("/incidents/<uuid:incident_id>/followups")
class IncidentFollowUps(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(IncidentArgs, location="query")
    @blp.response(200, FollowUpList)
    def get(self, args: dict[str, Any], incident_id: uuid.UUID) -> Any:
        """The follow-ups grouped under an incident in your dongs: highest risk first, then by
        due time."""
        page = gateway_silence.incident_followups(
            db_session(),
            actor=current_actor(),
            incident_id=incident_id,
            live_only=args["live"],
            cursor=args["cursor"],
            limit=args["limit"],
        )
        return {
            "items": [followup_body(i.record, i.resident) for i in page.items],
            "next_cursor": page.next_cursor,
        }


@blp.route("/watches")
class Watches(MethodView):
    @allow(Role.ADMIN)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, WatchList)
    def get(self, args: dict[str, Any]) -> Any:
        """Every gateway's signal rhythm: configured, learned, and whether it is silent now."""
        page = gateway_silence.list_watches(db_session(), actor=current_actor(), now=now(), **args)
        return {"items": [asdict(v) for v in page.items], "next_cursor": page.next_cursor}


@blp.route("/<uuid:gateway_id>/signal-rate")
class SignalRate(MethodView):
    @allow(Role.ADMIN)
    @blp.arguments(SignalRateIn)
    @blp.response(200, WatchOut)
    def put(self, payload: dict[str, Any], gateway_id: uuid.UUID) -> Any:
        """Configure how often a gateway should send (null: learn it from its batches)."""
        view = gateway_silence.set_expected_interval(
            db_session(),
            actor=current_actor(),
            gateway_id=gateway_id,
            expected_minutes=payload["expected_interval_minutes"],
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        return set_etag(asdict(view), view.version)
