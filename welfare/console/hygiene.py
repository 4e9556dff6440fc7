"""Elder health & hygiene visits (어르신 건강 위생 안심서비스): the enrollments and visits of my
dongs, an enrollment's schedule, and recording a visit as done, missed or refused (met or not, a
health observation, a concern for the counselor). The same use cases as /api/v1/hygiene."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import hygiene, partners
from welfare.api.hygiene import HygieneVisitRecordIn
from welfare.api.policy import CASEWORK, page
from welfare.console.base import back_to, form_version, load_form, me, query, render
from welfare.models import HygieneEnrollmentStatus, VisitState
from welfare.web import db_session, now

bp = Blueprint("hygiene", __name__, url_prefix="/hygiene")

PAGE_SIZE = 50
ENROLLMENT_STATUSES = {
    HygieneEnrollmentStatus.ACTIVE.value: "방문 중",
    HygieneEnrollmentStatus.ENDED.value: "끝남",
}
VISIT_STATES = {
    VisitState.SCHEDULED.value: "예정",
    VisitState.DONE.value: "완료",
    VisitState.MISSED.value: "불발",
    VisitState.REFUSED.value: "거부",
    VisitState.CANCELLED.value: "취소 (주민 사망·전출·파기)",
}
RECORDABLE = {k: VISIT_STATES[k] for k in hygiene.RECORDABLE}


def _labels() -> dict[str, Any]:
    book = partners.partner_book()
    return {
        "enrollment_statuses": ENROLLMENT_STATUSES,
        "visit_states": VISIT_STATES,
        "service_names": hygiene.rules().services,
        "provider_names": {code: p.name for code, p in book.partners.items()},
    }


@bp.get("")
@page(*CASEWORK)
@query("status", "cursor")
def enrollments() -> Any:
    status = request.args.get("status", HygieneEnrollmentStatus.ACTIVE.value)
    if status not in ENROLLMENT_STATUSES:
        status = HygieneEnrollmentStatus.ACTIVE.value
    found = hygiene.list_enrollments(
        db_session(),
        actor=me().actor(),
        status=status,
        cursor=request.args.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    next_url = (
        url_for(".enrollments", status=status, cursor=found.next_cursor)
        if found.next_cursor
        else None
    )
    return render(
        "console/hygiene_enrollments.html",
        items=found.items,
        chosen=status,
        next_url=next_url,
        **_labels(),
    )


@bp.get("/enrollments/<uuid:enrollment_id>")
@page(*CASEWORK)
@query()
def enrollment(enrollment_id: uuid.UUID) -> Any:
    item = hygiene.get_enrollment(db_session(), actor=me().actor(), enrollment_id=enrollment_id)
    return render("console/hygiene_enrollment.html", item=item, **_labels())


@bp.get("/visits")
@page(*CASEWORK)
@query("state", "cursor")
def visits() -> Any:
    state = request.args.get("state", VisitState.SCHEDULED.value)
    if state not in VISIT_STATES:
        state = VisitState.SCHEDULED.value
    found = hygiene.list_visits(
        db_session(),
        actor=me().actor(),
        state=state,
        cursor=request.args.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    next_url = (
        url_for(".visits", state=state, cursor=found.next_cursor) if found.next_cursor else None
    )
    return render(
        "console/hygiene_visits.html",
        items=found.items,
        state=state,
        next_url=next_url,
        **_labels(),
    )


@bp.get("/visits/<uuid:visit_id>")
@page(*CASEWORK)
@query()
def visit(visit_id: uuid.UUID) -> Any:
    item = hygiene.get_visit(db_session(), actor=me().actor(), visit_id=visit_id)
    return render(
        "console/hygiene_visit.html",
        item=item,
        recordable=RECORDABLE,
        due=item.scheduled_at <= now(),
        here=request.path,
        **_labels(),
    )


@bp.post("/visits/<uuid:visit_id>/record")
@page(*CASEWORK)
def record(visit_id: uuid.UUID) -> BaseResponse:
    payload = load_form(
        HygieneVisitRecordIn,
        ("outcome", "observation"),
        {
            "met": request.form.get("met") == "yes",
            "health_concern": request.form.get("health_concern") == "yes",
        },
    )
    hygiene.record_visit(
        db_session(),
        actor=me().actor(),
        visit_id=visit_id,
        now=now(),
        expected_version=form_version(),
        **payload,
    )
    return back_to(url_for(".visit", visit_id=visit_id), "saved")
