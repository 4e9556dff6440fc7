"""The 24-hour care center: the board of open requests by deadline with the time left, taking a
request by phone, responding, handing over, recording the outcome; the handover view for the
next shift."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import care, reference, team
from welfare.api.care import CareRequestIn, HandoverIn, OutcomeIn, RespondIn
from welfare.api.policy import CASEWORK, page
from welfare.console.base import back_to, load_form, local_instant, me, query, render
from welfare.errors import InvalidInput
from welfare.models import CareType, Urgency
from welfare.web import db_session, now

bp = Blueprint("care", __name__)

BOARD_SIZE = 50


def _version() -> int | None:
    value = request.form.get("version", "")
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput({"version": ["올바르지 않은 값입니다 (not a number)"]})
    return int(value)


def _open_requests(template: str) -> Any:
    actor = me().actor()
    session = db_session()
    found = care.handover_view(
        session,
        actor=actor,
        now=now(),
        cursor=request.args.get("cursor") or None,
        limit=BOARD_SIZE,
    )
    colleagues = team.directory(session, actor=actor, limit=100).items
    next_url = (
        url_for(request.endpoint or ".board", cursor=found.next_cursor)
        if found.next_cursor
        else None
    )
    return render(
        template,
        items=found.items,
        colleagues=colleagues,
        names={c.id: c.name for c in colleagues},
        next_url=next_url,
        here=request.path,
    )


@bp.get("/care")
@page(*CASEWORK)
@query("cursor")
def board() -> Any:
    return _open_requests("console/care_board.html")


@bp.get("/care/handover")
@page(*CASEWORK)
@query("cursor")
def handover() -> Any:
    return _open_requests("console/care_handover.html")


@bp.get("/care/new")
@page(*CASEWORK)
@query()
def new() -> Any:
    dongs = [d for d in reference.list_dongs(db_session()) if d.code in me().dongs]
    return render(
        "console/care_new.html",
        dongs=dongs,
        care_type_values=[t.value for t in CareType],
        urgency_values=[u.value for u in Urgency],
    )


@bp.post("/care/new")
@page(*CASEWORK)
def receive() -> BaseResponse:
    payload = load_form(
        CareRequestIn,
        ("dong", "care_type", "urgency", "summary", "caller_name", "caller_phone"),
        {"received_at": local_instant("received_at")} if request.form.get("received_at") else {},
    )
    item = care.receive_request(db_session(), actor=me().actor(), now=now(), **payload)
    return back_to(url_for(".show", request_id=item.id), "saved")


@bp.get("/care/<uuid:request_id>")
@page(*CASEWORK)
@query()
def show(request_id: uuid.UUID) -> Any:
    actor = me().actor()
    item = care.get_request(db_session(), actor=actor, request_id=request_id, now=now())
    colleagues = team.directory(db_session(), actor=actor, limit=100).items
    return render(
        "console/care_request.html",
        item=item,
        colleagues=colleagues,
        names={c.id: c.name for c in colleagues},
        here=request.path,
    )


@bp.post("/care/<uuid:request_id>/respond")
@page(*CASEWORK)
def respond(request_id: uuid.UUID) -> BaseResponse:
    payload = load_form(RespondIn, ("note",))
    care.respond(
        db_session(),
        actor=me().actor(),
        request_id=request_id,
        note=payload["note"],
        now=now(),
        expected_version=_version(),
    )
    return back_to(url_for(".board"), "responded")


@bp.post("/care/<uuid:request_id>/handover")
@page(*CASEWORK)
def hand_over(request_id: uuid.UUID) -> BaseResponse:
    payload = load_form(HandoverIn, ("assignee_id", "note"))
    care.hand_over(
        db_session(),
        actor=me().actor(),
        request_id=request_id,
        to_staff_id=payload["assignee_id"],
        note=payload["note"],
        now=now(),
        expected_version=_version(),
    )
    return back_to(url_for(".board"), "handed_over")


@bp.post("/care/<uuid:request_id>/outcome")
@page(*CASEWORK)
def outcome(request_id: uuid.UUID) -> BaseResponse:
    payload = load_form(OutcomeIn, ("outcome", "note"))
    care.record_outcome(
        db_session(),
        actor=me().actor(),
        request_id=request_id,
        outcome=payload["outcome"],
        note=payload["note"],
        now=now(),
        expected_version=_version(),
    )
    return back_to(url_for(".board"), "saved")
