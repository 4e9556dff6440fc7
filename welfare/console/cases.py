"""Cases: the program queues, one case with its notes, moves along its workflow, referrals with
the person's consent, and the closure request a supervisor approves or sends back."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import cases
from welfare.api.cases import (
    COUNSELING,
    CaseIn,
    ClosureDecisionIn,
    ClosureRequestIn,
    NoteIn,
    ReferralIn,
    TransitionIn,
)
from welfare.api.policy import CASEWORK, page
from welfare.console.base import back_to, load_form, local_instant, me, query, render
from welfare.errors import InvalidInput
from welfare.models import Program, Role
from welfare.web import db_session, now

bp = Blueprint("cases", __name__)


def _version() -> int | None:
    """The version of the case the form was rendered from: a change made meanwhile by someone
    else is refused (412 page) instead of silently overwritten."""
    value = request.form.get("version", "")
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput({"version": ["올바르지 않은 값입니다 (not a number)"]})
    return int(value)


@bp.get("/cases")
@page(*CASEWORK)
@query("program", "cursor")
def index() -> Any:
    program = request.args.get("program", "")
    if program not in {p.value for p in Program}:
        program = ""
    found = cases.list_cases(
        db_session(),
        actor=me().actor(),
        program=program or None,
        cursor=request.args.get("cursor") or None,
        limit=50,
    )
    next_url = (
        url_for(".index", program=program or None, cursor=found.next_cursor)
        if found.next_cursor
        else None
    )
    return render("console/cases.html", items=found.items, program=program, next_url=next_url)


@bp.post("/cases")
@page(*COUNSELING)
def open_case() -> BaseResponse:
    payload = load_form(CaseIn, ("resident_id", "program", "priority"))
    case = cases.open_case(db_session(), actor=me().actor(), now=now(), **payload)
    return back_to(url_for(".show", case_id=case.id), "saved")


@bp.get("/cases/<uuid:case_id>")
@page(*CASEWORK)
@query()
def show(case_id: uuid.UUID) -> Any:
    actor = me().actor()
    session = db_session()
    case = cases.get_case(session, actor=actor, case_id=case_id)
    reads_notes = actor.role in COUNSELING
    notes = cases.list_notes(session, actor=actor, case_id=case_id) if reads_notes else []
    referrals = cases.list_referrals(session, actor=actor, case_id=case_id) if reads_notes else []
    return render(
        "console/case.html",
        case=case,
        next_statuses=cases.next_statuses(case),
        notes=notes,
        referrals=referrals,
        counseling=reads_notes,
        supervisor=actor.role is Role.SUPERVISOR,
        programs=[p.value for p in Program if p.value != case.program],
    )


@bp.post("/cases/<uuid:case_id>/notes")
@page(*COUNSELING)
def add_note(case_id: uuid.UUID) -> BaseResponse:
    payload = load_form(NoteIn, ("body",))
    cases.add_note(
        db_session(), actor=me().actor(), case_id=case_id, body=payload["body"], now=now()
    )
    return back_to(url_for(".show", case_id=case_id), "noted")


@bp.post("/cases/<uuid:case_id>/transition")
@page(*COUNSELING)
def transition(case_id: uuid.UUID) -> BaseResponse:
    payload = load_form(TransitionIn, ("to",))
    cases.transition(
        db_session(),
        actor=me().actor(),
        case_id=case_id,
        to=payload["to"],
        now=now(),
        expected_version=_version(),
    )
    return back_to(url_for(".show", case_id=case_id), "transitioned")


@bp.post("/cases/<uuid:case_id>/closure-request")
@page(*COUNSELING)
def request_closure(case_id: uuid.UUID) -> BaseResponse:
    payload = load_form(ClosureRequestIn, ("note",))
    cases.request_closure(
        db_session(),
        actor=me().actor(),
        case_id=case_id,
        note=payload["note"],
        now=now(),
        expected_version=_version(),
    )
    return back_to(url_for(".show", case_id=case_id), "closure_requested")


@bp.post("/cases/<uuid:case_id>/closure-decision")
@page(Role.SUPERVISOR)
def decide_closure(case_id: uuid.UUID) -> BaseResponse:
    payload = load_form(ClosureDecisionIn, ("approve", "note"))
    cases.decide_closure(
        db_session(),
        actor=me().actor(),
        case_id=case_id,
        approve=payload["approve"],
        note=payload["note"],
        now=now(),
        expected_version=_version(),
    )
    return back_to(url_for(".show", case_id=case_id), "closure_decided")


@bp.post("/cases/<uuid:case_id>/referrals")
@page(*COUNSELING)
def refer(case_id: uuid.UUID) -> BaseResponse:
    consent = {
        "given_by": request.form.get("consent_given_by", "").strip(),
        "given_at": local_instant("consent_given_at") or "",
        "scope": request.form.get("consent_scope", "").strip(),
    }
    payload = load_form(ReferralIn, ("program", "reason"), {"consent": consent})
    case, _referral = cases.refer(
        db_session(), actor=me().actor(), case_id=case_id, now=now(), **payload
    )
    return back_to(url_for(".show", case_id=case.id), "referred")
