"""Gateway silence for supervisors and admins: the incidents of silent gateways (the longest
silence first), each naming its gateway and how many residents depend on it, with the lapse
follow-ups grouped under it in my dongs, highest risk first. The same use cases as
/api/v1/gateways/incidents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, request, url_for

from services import gateway_silence
from welfare.api.policy import page
from welfare.console.base import me, query, render
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
        view=view,
        facts=_facts(view),
        grouped=grouped.items,
        next_url=next_url,
        can_open=actor.role is Role.SUPERVISOR,
    )
