"""External referrals to partner agencies (the health center and its branches, the welfare
foundation, community welfare centers): the referrals of my dongs by state, a referral's page
with the sheet that was sent (counselors and supervisors; each showing recorded as an export),
and the partner's answer and completion. The same use cases as /api/v1/external-referrals."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import partners, team
from welfare.api.partners import AnswerIn, CompleteIn
from welfare.api.policy import CASEWORK, page
from welfare.console.base import (
    back_to,
    form_version,
    history_rows,
    load_form,
    me,
    moved_between,
    query,
    render,
)
from welfare.models import ReferralState, Role
from welfare.web import db_session, now

bp = Blueprint("partners", __name__, url_prefix="/referrals")

PAGE_SIZE = 50
ANSWERERS = (Role.COUNSELOR, Role.SUPERVISOR)  # as POST /api/v1/external-referrals/{id}/answer
STATES = {
    ReferralState.SENT.value: "보냄 (응답 대기)",
    ReferralState.ACCEPTED.value: "수락",
    ReferralState.DECLINED.value: "거절",
    ReferralState.COMPLETED.value: "완료",
    ReferralState.WITHDRAWN.value: "철회 (주민 사망·전출·파기)",
}
EVENTS = {  # the kinds of a referral's history entries (services/partners.py, models/partner.py)
    "sent": "보냄",
    "accepted": "수락",
    "declined": "거절",
    "completed": "완료",
    "moved": "동 이동",
    "withdrawn": "철회",
}
ANSWERS = {"accepted": "수락", "declined": "거절"}


def _labels() -> dict[str, Any]:
    book = partners.partner_book()
    return {
        "referral_states": STATES,
        "scope_names": {code: s.label for code, s in book.scopes.items()},
    }


@bp.get("")
@page(*CASEWORK)
@query("state", "cursor")
def index() -> Any:
    state = request.args.get("state", "")
    if state not in STATES:
        state = ""
    found = partners.list_referrals(
        db_session(),
        actor=me().actor(),
        state=state or None,
        cursor=request.args.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    kept: dict[str, Any] = {"state": state} if state else {}
    next_url = url_for(".index", **kept, cursor=found.next_cursor) if found.next_cursor else None
    return render(
        "console/referrals.html", items=found.items, state=state, next_url=next_url, **_labels()
    )


@bp.get("/<uuid:referral_id>")
@page(*CASEWORK)
@query()
def show(referral_id: uuid.UUID) -> Any:
    session, actor = db_session(), me().actor()
    item = partners.get_referral(session, actor=actor, referral_id=referral_id)
    names = {c.id: c.name for c in team.directory(session, actor=actor, limit=100).items}
    return render(
        "console/referral.html",
        item=item,
        history=history_rows(item.events, EVENTS, names, _detail),
        answers=ANSWERS,
        can_answer=me().role in ANSWERERS,
        here=request.path,
        **_labels(),
    )


def _detail(event: Any) -> str | None:
    """What a history entry adds to its kind: from which dong to which."""
    if event.kind != "moved":
        return None
    return moved_between(event.detail)


@bp.post("/<uuid:referral_id>/answer")
@page(*ANSWERERS)
def answer(referral_id: uuid.UUID) -> BaseResponse:
    payload = load_form(AnswerIn, ("answer", "note"))
    partners.answer(
        db_session(),
        actor=me().actor(),
        referral_id=referral_id,
        accepted=payload["answer"] == "accepted",
        note=payload["note"],
        now=now(),
        expected_version=form_version(),
    )
    return back_to(url_for(".show", referral_id=referral_id), "saved")


@bp.post("/<uuid:referral_id>/complete")
@page(*ANSWERERS)
def complete(referral_id: uuid.UUID) -> BaseResponse:
    payload = load_form(CompleteIn, ("note",))
    partners.complete(
        db_session(),
        actor=me().actor(),
        referral_id=referral_id,
        note=payload["note"],
        now=now(),
        expected_version=form_version(),
    )
    return back_to(url_for(".show", referral_id=referral_id), "saved")
