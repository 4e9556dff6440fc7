"""Home: my work. Follow-ups of my dongs, oldest due first, to claim, assign and resolve."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import followup_queue, team
from welfare.api.followups import AssignIn, ResolveIn
from welfare.api.policy import CASEWORK, page
from welfare.console.base import back_to, load_form, me, query, render
from welfare.models import FollowUpReason, Program, Role
from welfare.web import db_session, now

bp = Blueprint("home", __name__)

PAGE_SIZE = 50
ASSIGNERS = (Role.SUPERVISOR, Role.COUNSELOR)  # as POST /api/v1/followups/{id}/assign
WHEN = {"": "전체", "overdue": "기한 지남", "upcoming": "기한 전"}
WHOSE = {"": "우리 동 전체", "mine": "내가 맡은 일"}


def _filters() -> dict[str, str]:
    """The queue's filters from the query string: only codes (reason, program, dong), never
    anything about a person, so they may sit in the URL."""
    args = request.args
    reasons = {r.value for r in FollowUpReason}
    programs = {p.value for p in Program} | {"system"}
    chosen = {
        "when": args.get("when", ""),
        "whose": args.get("whose", ""),
        "reason": args.get("reason", ""),
        "program": args.get("program", ""),
        "dong": args.get("dong", ""),
    }
    if chosen["when"] not in WHEN:
        chosen["when"] = ""
    if chosen["whose"] not in WHOSE:
        chosen["whose"] = ""
    if chosen["reason"] not in reasons:
        chosen["reason"] = ""
    if chosen["program"] not in programs:
        chosen["program"] = ""
    if chosen["dong"] not in me().dongs:
        chosen["dong"] = ""
    return chosen


@bp.get("/")
@page(*CASEWORK)
@query("when", "whose", "reason", "program", "dong", "cursor")
def queue() -> Any:
    chosen = _filters()
    actor = me().actor()
    session = db_session()
    page_ = followup_queue.list_followups(
        session,
        actor=actor,
        now=now(),
        reason=chosen["reason"] or None,
        program=chosen["program"] or None,
        dong=chosen["dong"] or None,
        assignee=actor.staff_id if chosen["whose"] == "mine" else None,
        overdue={"overdue": True, "upcoming": False}.get(chosen["when"]),
        cursor=request.args.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    colleagues = (
        team.directory(session, actor=actor, limit=100).items if actor.role in ASSIGNERS else []
    )
    names = {c.id: c.name for c in colleagues}
    kept: dict[str, Any] = {k: v for k, v in chosen.items() if v}
    next_url = url_for(".queue", **kept, cursor=page_.next_cursor) if page_.next_cursor else None
    return render(
        "console/home.html",
        items=page_.items,
        chosen=chosen,
        when=WHEN,
        whose=WHOSE,
        colleagues=colleagues,
        names=names,
        can_assign=actor.role in ASSIGNERS,
        outcomes=followup_queue.RESOLUTION_OUTCOMES,
        reached=followup_queue.REACHED_OUTCOMES,
        channels=followup_queue.REACHED_CHANNELS,
        next_url=next_url,
        here=request.full_path.rstrip("?"),
    )


@bp.get("/followups/<uuid:followup_id>")
@page(*CASEWORK)
@query()
def followup(followup_id: uuid.UUID) -> Any:
    actor = me().actor()
    item, events = followup_queue.get_followup(db_session(), actor=actor, followup_id=followup_id)
    colleagues = (
        team.directory(db_session(), actor=actor, limit=100).items
        if actor.role in ASSIGNERS
        else []
    )
    return render(
        "console/followup.html",
        item=item,
        events=events,
        colleagues=colleagues,
        names={c.id: c.name for c in colleagues},
        can_assign=actor.role in ASSIGNERS,
        outcomes=followup_queue.RESOLUTION_OUTCOMES,
        reached=followup_queue.REACHED_OUTCOMES,
        channels=followup_queue.REACHED_CHANNELS,
        here=request.path,
    )


@bp.post("/followups/<uuid:followup_id>/claim")
@page(*CASEWORK)
def claim(followup_id: uuid.UUID) -> BaseResponse:
    followup_queue.claim(db_session(), actor=me().actor(), followup_id=followup_id, now=now())
    return back_to(url_for(".queue"), "claimed")


@bp.post("/followups/<uuid:followup_id>/assign")
@page(*ASSIGNERS)
def assign(followup_id: uuid.UUID) -> BaseResponse:
    payload = load_form(AssignIn, ("assignee_id",))
    followup_queue.assign(
        db_session(),
        actor=me().actor(),
        followup_id=followup_id,
        staff_id=payload["assignee_id"],
        now=now(),
    )
    return back_to(url_for(".queue"), "assigned")


@bp.post("/followups/<uuid:followup_id>/resolve")
@page(*CASEWORK)
def resolve(followup_id: uuid.UUID) -> BaseResponse:
    payload = load_form(ResolveIn, ("outcome", "channel", "note"))
    followup_queue.resolve(
        db_session(), actor=me().actor(), followup_id=followup_id, now=now(), **payload
    )
    return back_to(url_for(".queue"), "resolved")
