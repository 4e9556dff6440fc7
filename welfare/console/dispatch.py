"""Counselor dispatch (슈퍼 복지상담관 출동): the dispatch requests of my dongs by state, a
request's page with where to go, asking for a visit, giving it to a counselor on duty, on the way
and on site, and done with an outcome. The same use cases as /api/v1/dispatches."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, time, timedelta
from typing import Any

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import dispatch, partners, reference, team
from services.residents.labels import form_label
from welfare.api.dispatch import (
    DutyShiftIn,
    OutreachDispatchAssignIn,
    OutreachDispatchDoneIn,
    OutreachDispatchIn,
    OutreachDispatchMoveIn,
)
from welfare.api.policy import CASEWORK, page
from welfare.console.base import (
    SEOUL,
    URGENCIES,
    back_to,
    form_version,
    history_rows,
    load_form,
    local_instant,
    me,
    moved_between,
    query,
    render,
)
from welfare.errors import InvalidInput
from welfare.models import DispatchOutcome, DispatchState, RequesterKind, Role
from welfare.web import db_session, now

bp = Blueprint("dispatch", __name__, url_prefix="/dispatches")

PAGE_SIZE = 50
ASSIGNERS = (Role.SUPERVISOR, Role.COUNSELOR)  # as POST /api/v1/dispatches/{id}/assign
ROSTER = (Role.SUPERVISOR,)  # as POST /api/v1/duty-shifts
STATES = {
    DispatchState.REQUESTED.value: "요청됨",
    DispatchState.ASSIGNED.value: "배정됨",
    DispatchState.EN_ROUTE.value: "이동 중",
    DispatchState.ON_SITE.value: "현장 도착",
    DispatchState.DONE.value: "끝남",
    DispatchState.CANCELLED.value: "취소 (주민 사망·전출·파기)",
}
OUTCOMES = {
    DispatchOutcome.CASE_OPENED.value: "만남 · 사례 개시",
    DispatchOutcome.REFERRED.value: "만남 · 연계",
    DispatchOutcome.NO_NEED.value: "만남 · 지원 불필요",
    DispatchOutcome.NOT_FOUND.value: "못 만남",
}
REQUESTERS = {
    RequesterKind.DONG_CENTER.value: "동 주민센터",
    RequesterKind.CARE_CENTER.value: "24시간 돌봄센터",
    RequesterKind.PARTNER.value: "협력기관",
}
EVENTS = {  # the kinds of a dispatch's history entries (services/dispatch.py, models/dispatch.py)
    "requested": "요청",
    "assigned": "배정",
    "reassigned": "다시 배정",
    "en_route": "출발",
    "on_site": "현장 도착",
    "done": "끝남",
    "moved": "동 이동",
    "cancelled": "취소",
}
MOVES = {DispatchState.EN_ROUTE.value: "출발", DispatchState.ON_SITE.value: "현장 도착"}


def _labels() -> dict[str, Any]:
    return {
        "dispatch_states": STATES,
        "dispatch_outcomes": OUTCOMES,
        "requesters": REQUESTERS,
        "urgencies": URGENCIES,
    }


@bp.get("")
@page(*CASEWORK)
@query("state", "cursor")
def index() -> Any:
    state = request.args.get("state", "")
    if state not in STATES:
        state = ""
    found = dispatch.list_dispatches_labelled(
        db_session(),
        actor=me().actor(),
        state=state or None,
        cursor=request.args.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    kept: dict[str, Any] = {"state": state} if state else {}
    next_url = url_for(".index", **kept, cursor=found.next_cursor) if found.next_cursor else None
    return render(
        "console/dispatches.html",
        items=found.items,
        state=state,
        next_url=next_url,
        **_labels(),
    )


@bp.get("/new")
@page(*CASEWORK)
@query("resident_id")
def new() -> Any:
    """The request form; from a resident's page it names the resident (an opaque id)."""
    raw = request.args.get("resident_id", "")
    try:
        resident_id = uuid.UUID(raw) if raw else None
    except ValueError:
        raise InvalidInput(
            {"resident_id": ["올바른 선택이 아닙니다 (not a valid choice)"]}
        ) from None
    return render(
        "console/dispatch_new.html",
        dongs=[d for d in reference.list_dongs(db_session()) if d.code in me().dongs],
        resident_id=resident_id,
        # Whom the request is about (another dong's resident is a 404 page), recorded as a read.
        label=form_label(db_session(), me().actor(), resident_id),
        partner_choices=[c.partner for c in partners.list_partners(now()) if c.selectable],
        client_ref=secrets.token_urlsafe(18),
        **_labels(),
    )


@bp.post("/new")
@page(*CASEWORK)
def create() -> BaseResponse:
    payload = load_form(
        OutreachDispatchIn,
        (
            "dong",
            "urgency",
            "requester_kind",
            "requester_partner",
            "resident_id",
            "address",
            "summary",
            "client_ref",
        ),
    )
    view, _created = dispatch.request_dispatch(
        db_session(), actor=me().actor(), now=now(), **payload
    )
    return back_to(url_for(".show", dispatch_id=view.id), "saved")


@bp.get("/roster")
@page(*ROSTER)
@query("dong", "cursor")
def roster() -> Any:
    """The duty roster of my dongs: today's shifts (Seoul) and the ones to come, by start, and
    the form that adds one."""
    session, actor = db_session(), me().actor()
    dong = request.args.get("dong", "")
    if dong not in actor.dongs:
        dong = ""
    today = datetime.combine(now().astimezone(SEOUL).date(), time(0, 0), tzinfo=SEOUL)
    found = dispatch.list_shifts(
        session,
        actor=actor,
        dong=dong or None,
        ending_after=today,
        cursor=request.args.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    kept: dict[str, Any] = {"dong": dong} if dong else {}
    next_url = url_for(".roster", **kept, cursor=found.next_cursor) if found.next_cursor else None
    counselors = team.directory(session, actor=actor, role=Role.COUNSELOR.value, limit=100).items
    start = today + timedelta(hours=9)
    return render(
        "console/dispatch_roster.html",
        shifts=found.items,
        dong=dong,
        next_url=next_url,
        dongs=[d for d in reference.list_dongs(session) if d.code in actor.dongs],
        counselors=counselors,
        names={c.id: c.name for c in counselors},
        starts=start.strftime("%Y-%m-%dT%H:%M"),
        ends=(start + timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M"),
        on_duty_now=now(),
        here=request.full_path.rstrip("?"),
    )


@bp.post("/roster")
@page(*ROSTER)
def add_shift() -> BaseResponse:
    """Put a counselor on duty; the same shift sent twice is entered once (the service answers
    the repeat with the first)."""
    payload = load_form(
        DutyShiftIn,
        ("dong", "staff_id"),
        {
            k: v
            for k, v in (
                ("starts_at", local_instant("starts_at")),
                ("ends_at", local_instant("ends_at")),
            )
            if v
        },
    )
    dispatch.add_shift(db_session(), actor=me().actor(), now=now(), **payload)
    return back_to(url_for(".roster"), "shift_added")


@bp.get("/<uuid:dispatch_id>")
@page(*CASEWORK)
@query()
def show(dispatch_id: uuid.UUID) -> Any:
    session, actor = db_session(), me().actor()
    item = dispatch.get_dispatch(session, actor=actor, dispatch_id=dispatch_id)
    colleagues = team.directory(session, actor=actor, limit=100).items
    on_duty: list[Any] = []
    if actor.role in ASSIGNERS and item.state in ("requested", "assigned"):
        shifts = dispatch.list_shifts(
            session, actor=actor, dong=item.dong, on_duty_at=now(), limit=50
        ).items
        on_duty = sorted({s.staff_id for s in shifts}, key=str)
    names = {c.id: c.name for c in colleagues}
    return render(
        "console/dispatch.html",
        item=item,
        history=history_rows(item.events, EVENTS, names, lambda e: _detail(e, names)),
        names=names,
        on_duty=on_duty,
        can_assign=actor.role in ASSIGNERS,
        moves=MOVES,
        here=request.path,
        **_labels(),
    )


def _detail(event: Any, names: dict[uuid.UUID, str]) -> str | None:
    """What a history entry adds to its kind: to whom, the outcome, from which dong."""
    detail = event.detail
    if event.kind in ("assigned", "reassigned") and detail.get("staff_id"):
        return f"→ {names.get(uuid.UUID(detail['staff_id']), '직원')}"
    if event.kind == "done" and detail.get("outcome"):
        return str(OUTCOMES.get(detail["outcome"], detail["outcome"]))
    if event.kind == "moved":
        released = " (담당 해제)" if detail.get("released_staff_id") else ""
        return moved_between(detail) + released
    return None


@bp.post("/<uuid:dispatch_id>/assign")
@page(*ASSIGNERS)
def assign(dispatch_id: uuid.UUID) -> BaseResponse:
    payload = load_form(OutreachDispatchAssignIn, ("staff_id",))
    dispatch.assign(
        db_session(),
        actor=me().actor(),
        dispatch_id=dispatch_id,
        staff_id=payload["staff_id"],
        now=now(),
        expected_version=form_version(),
    )
    return back_to(url_for(".show", dispatch_id=dispatch_id), "assigned")


@bp.post("/<uuid:dispatch_id>/move")
@page(*CASEWORK)
def move(dispatch_id: uuid.UUID) -> BaseResponse:
    payload = load_form(OutreachDispatchMoveIn, ("to",))
    dispatch.move(
        db_session(),
        actor=me().actor(),
        dispatch_id=dispatch_id,
        to=payload["to"],
        now=now(),
        expected_version=form_version(),
    )
    return back_to(url_for(".show", dispatch_id=dispatch_id), "saved")


@bp.post("/<uuid:dispatch_id>/done")
@page(*CASEWORK)
def done(dispatch_id: uuid.UUID) -> BaseResponse:
    payload = load_form(OutreachDispatchDoneIn, ("outcome", "note"))
    dispatch.finish(
        db_session(),
        actor=me().actor(),
        dispatch_id=dispatch_id,
        now=now(),
        expected_version=form_version(),
        **payload,
    )
    return back_to(url_for(".show", dispatch_id=dispatch_id), "saved")
