"""Gateway silence for supervisors and admins: the incidents of silent gateways (the longest
silence first), each naming its gateway and how many residents depend on it, with the lapse
follow-ups grouped under it in my dongs, highest risk first; admins also see the gateway's
signal rhythm and set or clear the interval to expect from it. The same use cases as
/api/v1/gateways/incidents and /api/v1/gateways/{id}/signal-rate."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, request, url_for

from services import gateway_silence
from welfare.api.policy import page
from welfare.console.base import back_to, me, query, render
from welfare.console.signal_rate import SETTERS, rate_form, save_rate
from welfare.errors import InvalidInput
from welfare.models import Role
from welfare.web import db_session

bp = Blueprint("incidents", __name__, url_prefix="/incidents")

PAGE_SIZE = 50
VIEWERS = (Role.ADMIN, Role.SUPERVISOR)  # as GET /api/v1/gateways/incidents


def _facts(view: gateway_silence.IncidentView) -> dict[str, Any]:
    """What the incident's evidence says, as the API's incident body reads it."""
    evidence = view.followup.evidence or {}
    raw = evidence.get("last_signal_at")
    return {
        "dependents": int(evidence.get("dependents", 0)),
        "last_signal_at": datetime.fromisoformat(raw) if isinstance(raw, str) else None,
        "dongs": list(evidence.get("dongs", [])),
    }


@bp.get("")
@page(*VIEWERS)
@query("cursor")
def index() -> Any:
    found = gateway_silence.list_incidents(
        db_session(),
        actor=me().actor(),
        cursor=request.args.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    next_url = url_for(".index", cursor=found.next_cursor) if found.next_cursor else None
    return render(
        "console/incidents.html",
        items=[(v, _facts(v)) for v in found.items],
        next_url=next_url,
    )


@bp.get("/<uuid:incident_id>")
@page(*VIEWERS)
@query("cursor")
def show(incident_id: uuid.UUID) -> Any:
    return _incident_page(incident_id)


def _incident_page(incident_id: uuid.UUID, status: int = 200, errors: Any = None) -> Any:
    session, actor = db_session(), me().actor()
    view = gateway_silence.get_incident(session, actor=actor, incident_id=incident_id)
    grouped = gateway_silence.incident_followups(
        session,
        actor=actor,
        incident_id=incident_id,
        cursor=request.args.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    next_url = (
        url_for(".show", incident_id=incident_id, cursor=grouped.next_cursor)
        if grouped.next_cursor
        else None
    )
    return render(
        "console/incident.html",
        status,
        view=view,
        facts=_facts(view),
        grouped=grouped.items,
        next_url=next_url,
        can_open=actor.role is Role.SUPERVISOR,
        rate=rate_form(view.followup.subject_id, errors) if actor.role in SETTERS else None,
    )


@bp.post("/<uuid:incident_id>/signal-rate")
@page(*SETTERS)
def signal_rate(incident_id: uuid.UUID) -> Any:
    """Set the interval to expect from the incident's gateway, in minutes, or clear it (the
    `clear` button) so the gateway's own batches teach it again. A bad number shows the page
    again with the field's Korean error (422); the form carries the watch's version, so a
    change made meanwhile is a 412 page, never overwritten."""
    session = db_session()
    incident = gateway_silence.load_incident(session, me().actor(), incident_id)
    try:
        msg = save_rate(incident.subject_id)
    except InvalidInput as exc:
        session.rollback()
        return _incident_page(incident_id, 422, exc.errors)
    return back_to(url_for(".show", incident_id=incident_id), msg)
