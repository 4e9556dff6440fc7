"""Kimchi delivery ('김치가 온다'): the campaigns of my dongs, a campaign's summary by dong and
agency with its routes, a route with its stops, the printable route sheet (an audited read, as
the API's), and recording a delivery attempt from a phone. The same use cases as
/api/v1/kimchi."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import kimchi
from welfare.api.kimchi import KimchiAttemptIn
from welfare.api.policy import CASEWORK, page
from welfare.console.base import (
    back_to,
    form_version,
    load_form,
    local_instant,
    local_now,
    me,
    query,
    render,
)
from welfare.models import AttemptOutcome, RecipientRelation
from welfare.web import db_session, now

bp = Blueprint("kimchi", __name__, url_prefix="/kimchi")

PAGE_SIZE = 50
CAMPAIGN_STATUSES = {
    "planning": "준비",
    "allocating": "배분 중",
    "delivering": "배송 중",
    "closed": "종료",
}
ALLOCATION_STATUSES = {
    "allocated": "배분됨 (경로 전)",
    "routed": "경로 배정",
    "delivered": "전달 완료",
    "failed": "전달 실패",
    "cancelled": "취소",
}
ROUTE_STATUSES = {"open": "진행 중", "done": "끝남", "abandoned": "중단"}
STOP_STATES = {"open": "남음", "done": "끝남", "returned": "되돌림"}
# The six outcomes of an attempt, in the order a deliverer meets them at the door.
ATTEMPT_OUTCOMES = {
    AttemptOutcome.HANDED_OVER.value: "직접 전달",
    AttemptOutcome.LEFT_AT_DOOR.value: "문 앞에 두고 옴",
    AttemptOutcome.ABSENT.value: "부재 (다시 방문)",
    AttemptOutcome.BAD_ADDRESS.value: "주소 오류",
    AttemptOutcome.REFUSED.value: "수령 거부",
    AttemptOutcome.CANCELLED.value: "배송 취소",
}
RELATIONS = {
    RecipientRelation.SELF.value: "본인",
    RecipientRelation.HOUSEHOLD_MEMBER.value: "가족·동거인",
    RecipientRelation.NEIGHBOUR.value: "이웃",
}
TALLY_COLUMNS = (
    ("allocated", "배분"),
    ("delivered", "전달"),
    ("failed", "실패"),
    ("routed", "경로 배정"),
    ("waiting", "경로 전"),
    ("boxes", "상자"),
)


def _labels() -> dict[str, Any]:
    return {
        "campaign_statuses": CAMPAIGN_STATUSES,
        "allocation_statuses": ALLOCATION_STATUSES,
        "route_statuses": ROUTE_STATUSES,
        "stop_states": STOP_STATES,
    }


@bp.get("")
@page(*CASEWORK)
@query("cursor")
def campaigns() -> Any:
    found = kimchi.list_campaigns(
        db_session(),
        actor=me().actor(),
        cursor=request.args.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    next_url = url_for(".campaigns", cursor=found.next_cursor) if found.next_cursor else None
    return render(
        "console/kimchi_campaigns.html", items=found.items, next_url=next_url, **_labels()
    )


@bp.get("/campaigns/<uuid:campaign_id>")
@page(*CASEWORK)
@query("cursor")
def campaign(campaign_id: uuid.UUID) -> Any:
    session, actor = db_session(), me().actor()
    figures = kimchi.summary(session, actor=actor, campaign_id=campaign_id)
    routes = kimchi.list_routes(
        session,
        actor=actor,
        campaign_id=campaign_id,
        cursor=request.args.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    next_url = (
        url_for(".campaign", campaign_id=campaign_id, cursor=routes.next_cursor)
        if routes.next_cursor
        else None
    )
    return render(
        "console/kimchi_campaign.html",
        figures=figures,
        item=figures.campaign,
        routes=routes.items,
        next_url=next_url,
        columns=TALLY_COLUMNS,
        **_labels(),
    )


@bp.get("/routes/<uuid:route_id>")
@page(*CASEWORK)
@query()
def route(route_id: uuid.UUID) -> Any:
    item, residents = kimchi.get_route_labelled(db_session(), actor=me().actor(), route_id=route_id)
    return render("console/kimchi_route.html", item=item, residents=residents, **_labels())


@bp.get("/routes/<uuid:route_id>/sheet")
@page(*CASEWORK)
@query()
def sheet(route_id: uuid.UUID) -> Any:
    """The route sheet to print (the stylesheet's print rules leave only the sheet): names,
    addresses and phones, read and recorded exactly as GET /api/v1/kimchi/routes/{id}/sheet."""
    found = kimchi.route_sheet(db_session(), actor=me().actor(), route_id=route_id)
    return render("console/kimchi_sheet.html", sheet=found, item=found.route, **_labels())


@bp.get("/allocations/<uuid:allocation_id>")
@page(*CASEWORK)
@query()
def allocation(allocation_id: uuid.UUID) -> Any:
    session, actor = db_session(), me().actor()
    item = kimchi.get_allocation(session, actor=actor, allocation_id=allocation_id)
    attempts = kimchi.list_attempts(session, actor=actor, allocation_id=allocation_id)
    return render(
        "console/kimchi_allocation.html",
        item=item,
        attempts=attempts,
        outcomes=ATTEMPT_OUTCOMES,
        relations=RELATIONS,
        open=item.status in ("allocated", "routed", "failed"),
        default_time=local_now(),
        rendered_at=now().isoformat(),
        client_ref=secrets.token_urlsafe(18),
        here=request.path,
        **_labels(),
    )


@bp.post("/allocations/<uuid:allocation_id>/attempts")
@page(*CASEWORK)
def attempt(allocation_id: uuid.UUID) -> BaseResponse:
    """One attempt from the phone form; the form's own client_ref makes a retried submission
    answer the first attempt instead of recording a second one."""
    payload = load_form(
        KimchiAttemptIn,
        ("outcome", "recipient_relation", "observation", "client_ref"),
        {
            "occurred_at": local_instant("occurred_at")
            or request.form.get("rendered_at")
            or now().isoformat(),
            "concern": request.form.get("concern") == "yes",
        },
    )
    if payload["outcome"] != AttemptOutcome.HANDED_OVER.value:
        payload["recipient_relation"] = None  # the form's choice only counts for a handover
    kimchi.record_attempt(
        db_session(),
        actor=me().actor(),
        allocation_id=allocation_id,
        now=now(),
        expected_version=form_version(),
        **payload,
    )
    return back_to(url_for(".allocation", allocation_id=allocation_id), "saved")
