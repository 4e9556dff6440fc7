"""External referrals to partner agencies (the health center and its branches, the welfare
foundation, community welfare centers): the referrals of my dongs by state, a referral's page
with the sheet that was sent (counselors and supervisors; each showing recorded as an export),
and the partner's answer and completion. The same use cases as /api/v1/external-referrals."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import cases, partners, team
from welfare.api.partners import AnswerIn, CompleteIn, ExternalReferralIn
from welfare.api.policy import CASEWORK, page
from welfare.console.base import (
    back_to,
    form_uuid,
    form_version,
    history_rows,
    load_form,
    local_instant,
    local_now,
    me,
    moved_between,
    query,
    render,
)
from welfare.errors import InvalidInput
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
# The resident fields a referral sheet may carry (config/partners.py SHEET_FIELDS), as the form
# lists them under each consent scope so the counselor sees exactly what leaves.
SHEET_FIELDS = {
    "name": "이름",
    "phone": "전화번호",
    "address": "주소",
    "birth_year": "출생연도",
    "sex": "성별",
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
    found = partners.list_referrals_labelled(
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


@bp.get("/new")
@page(*ANSWERERS)
@query("resident_id")
def new() -> Any:
    """The referral form, opened from a resident's page (an opaque id): the partners that may
    be chosen today (one not open yet is shown with the day it opens), the resident's open
    cases to attach it to (their cases as the resident's page lists them: in my dongs, recorded
    as a read of the resident; another dong's resident is a 404 page), who consented, when and
    to what, each scope with the fields it lets leave, and the reason. Without a resident it
    says where to start (the resident's page)."""
    raw = request.args.get("resident_id", "")
    try:
        resident_id = uuid.UUID(raw) if raw else None
    except ValueError:
        raise InvalidInput(
            {"resident_id": ["올바른 선택이 아닙니다 (not a valid choice)"]}
        ) from None
    open_cases = []
    if resident_id is not None:
        found = cases.resident_cases(db_session(), actor=me().actor(), resident_id=resident_id)
        open_cases = [c for c in found if c.is_open]
    book = partners.partner_book()
    return render(
        "console/referral_new.html",
        resident_id=resident_id,
        open_cases=open_cases,
        choices=partners.list_partners(now()),
        scopes=list(book.scopes.values()),
        sheet_fields=SHEET_FIELDS,
        opened=local_now(),
        client_ref=secrets.token_urlsafe(18),
        **_labels(),
    )


@bp.post("/new")
@page(*ANSWERERS)
def send() -> BaseResponse:
    """Send the sheet; the answer is the referral's page with what was sent (each showing
    recorded as an export, as the API's). The form's `client_ref` makes a resubmission return
    the first referral instead of sending a second."""
    consent = {
        "given_by": request.form.get("given_by", "").strip(),
        "given_at": local_instant("given_at"),
        "scope": request.form.get("scope", ""),
    }
    payload = load_form(
        ExternalReferralIn,
        ("partner", "reason", "case_id", "client_ref"),
        {"consent": {k: v for k, v in consent.items() if v}},
    )
    resident_id = form_uuid("resident_id")
    if resident_id is None:
        raise InvalidInput({"resident_id": ["올바른 선택이 아닙니다 (not a valid choice)"]})
    view, _created = partners.refer(
        db_session(), actor=me().actor(), resident_id=resident_id, now=now(), **payload
    )
    return back_to(url_for(".show", referral_id=view.id), "sent")


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
