"""Residents: search by RRN, phone or name (POST, never in a URL), register, the resident's page
(masked RRN, reveal with a reason, status, programs, cases, timeline) and logging a contact."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import cases, ongi, reference, resident_picture, residents, timeline
from welfare.api.ongi import ContactIn
from welfare.api.policy import CASEWORK, page
from welfare.api.residents import HOUSEHOLD_TYPES, ReasonIn, ResidentIn, SearchIn
from welfare.console.base import (
    back_to,
    load_form,
    local_instant,
    local_now,
    me,
    query,
    render,
)
from welfare.errors import InvalidInput
from welfare.models import Channel, Outcome, Role
from welfare.web import db_session, now

bp = Blueprint("residents", __name__)

REGISTRARS = (Role.COUNSELOR, Role.SUPERVISOR)  # as POST /api/v1/residents
SEARCH_KINDS = {"name": "이름", "phone": "전화번호", "rrn": "주민등록번호"}
HOUSEHOLDS = {
    "single": "1인 가구",
    "elderly_couple": "어르신 부부",
    "single_parent": "한부모 가구",
    "grandparent_family": "조손 가구",
    "disabled": "장애인 가구",
    "other": "기타",
}
# The channels a person logs by hand (gateways report sensors and AI calls themselves).
STAFF_CHANNELS = (Channel.PHONE, Channel.VISIT, Channel.MESSAGE)
CONTACT_PROGRAMS = ("ongi", "care_center", "kimchi", "mobility")


@bp.get("/residents")
@page(*CASEWORK)
@query()
def search() -> Any:
    return render("console/residents_search.html", kinds=SEARCH_KINDS, kind="name", found=None)


@bp.post("/residents/search")
@page(*CASEWORK)
def search_results() -> Any:
    found = find_residents()
    kind = request.form.get("kind", "name")
    return render("console/residents_search.html", kinds=SEARCH_KINDS, kind=kind, found=found)


def find_residents() -> Any:
    """The search form's (`kind`, `term`) answer: exact matches in my dongs, recorded as a
    search naming who was found, never the term (the other areas' pickers use it too)."""
    kind = request.form.get("kind", "name")
    if kind not in SEARCH_KINDS:
        raise InvalidInput({"kind": ["이름, 전화번호, 주민등록번호 중 하나 (unknown)"]})
    term = request.form.get("term", "").strip()
    args = load_form(SearchIn, (), {kind: term} if term else {})
    return residents.search_residents(db_session(), actor=me().actor(), now=now(), **args)


@bp.get("/residents/new")
@page(*REGISTRARS)
@query()
def new() -> Any:
    return _registration_form()


def _registration_form(status: int = 200, errors: Any = None) -> Any:
    dongs = [d for d in reference.list_dongs(db_session()) if d.code in me().dongs]
    households = {h: HOUSEHOLDS.get(h, h) for h in HOUSEHOLD_TYPES}
    return render(
        "console/resident_new.html",
        status,
        dongs=dongs,
        households=households,
        errors=errors or {},
        form=request.form,
    )


@bp.post("/residents/new")
@page(*REGISTRARS)
def register() -> Any:
    fields = ("name", "rrn", "dong", "phone", "address", "household_type", "notes")
    extra: dict[str, Any] = {}
    if request.form.get("rrn_reissued"):
        extra["rrn_reissued"] = True
    if request.form.get("possible_duplicate_reason", "").strip():
        extra["possible_duplicate_reason"] = request.form["possible_duplicate_reason"]
    try:
        payload = load_form(ResidentIn, fields, extra)
        item = residents.register_resident(db_session(), actor=me().actor(), now=now(), **payload)
    except InvalidInput as exc:
        return _registration_form(422, exc.errors)
    return back_to(url_for(".show", resident_id=item.id), "registered")


def _resident_page(resident_id: uuid.UUID, revealed: str | None = None) -> Any:
    actor = me().actor()
    session = db_session()
    item, programs = resident_picture.get_picture(session, actor=actor, resident_id=resident_id)
    history = timeline.resident_timeline(session, actor=actor, resident_id=resident_id)
    found_cases = cases.resident_cases(session, actor=actor, resident_id=resident_id)
    return render(
        "console/resident.html",
        item=item,
        programs=programs,
        timeline=history,
        cases=found_cases,
        revealed=revealed,
        can_reveal=actor.role in REGISTRARS,
        can_open=actor.role in REGISTRARS,
        households=HOUSEHOLDS,
        here=request.path,
    )


@bp.get("/residents/<uuid:resident_id>")
@page(*CASEWORK)
@query()
def show(resident_id: uuid.UUID) -> Any:
    return _resident_page(resident_id)


@bp.post("/residents/<uuid:resident_id>/reveal")
@page(*REGISTRARS)
def reveal(resident_id: uuid.UUID) -> Any:
    """The full RRN, shown on the page that answers the POST (never in a URL, never kept)."""
    payload = load_form(ReasonIn, ("reason",))
    rrn = residents.reveal_rrn(
        db_session(), actor=me().actor(), resident_id=resident_id, reason=payload["reason"]
    )
    return _resident_page(resident_id, revealed=rrn)


@bp.get("/residents/<uuid:resident_id>/contact")
@page(*CASEWORK)
@query()
def contact_form(resident_id: uuid.UUID) -> Any:
    label = residents.get_resident(db_session(), actor=me().actor(), resident_id=resident_id)
    return render(
        "console/contact.html",
        item=label,
        channels=[c.value for c in STAFF_CHANNELS],
        outcomes=[o.value for o in Outcome],
        programs=CONTACT_PROGRAMS,
        default_time=local_now(),
        rendered_at=now().isoformat(),
        # A fresh key per form: a retried submission (double tap, a resend after a dropped
        # connection) carries the same key and returns the first contact instead of a second.
        client_ref=secrets.token_urlsafe(18),
    )


@bp.post("/residents/<uuid:resident_id>/contact")
@page(*CASEWORK)
def log_contact(resident_id: uuid.UUID) -> BaseResponse:
    payload = load_form(
        ContactIn,
        ("channel", "outcome", "program", "note", "client_ref"),
        {
            "resident_id": str(resident_id),
            # A cleared time field means "when the form was opened" (sent with the form, so a
            # retried submission is the same request), as a blank time means now on the API.
            "occurred_at": local_instant("occurred_at")
            or request.form.get("rendered_at")
            or now().isoformat(),
        },
    )
    ongi.log_contact(db_session(), actor=me().actor(), now=now(), **payload)
    return back_to(url_for(".show", resident_id=resident_id), "contact_logged")
