"""Elder health & hygiene visits (어르신 건강 위생 안심서비스): the enrollments and visits of my
dongs, an enrollment's schedule, and recording a visit as done, missed or refused (met or not, a
health observation, a concern for the counselor). The same use cases as /api/v1/hygiene."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import hygiene, partners
from services.residents.labels import form_label
from welfare.api.hygiene import HygieneEnrollmentIn, HygieneVisitRecordIn
from welfare.api.policy import CASEWORK, page
from welfare.console.base import (
    SEOUL,
    back_to,
    form_version,
    load_form,
    local_instant,
    me,
    query,
    render,
)
from welfare.console.residents import SEARCH_KINDS, find_residents
from welfare.errors import InvalidInput
from welfare.models import HygieneEnrollmentStatus, Role, VisitState
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
ENROLLERS = (Role.COUNSELOR, Role.SUPERVISOR)  # as POST /api/v1/hygiene/enrollments
# The schedule chooser: weekdays (RFC 5545 codes, Monday first) and how many weeks apart.
WEEKDAYS = {"MO": "월", "TU": "화", "WE": "수", "TH": "목", "FR": "금", "SA": "토", "SU": "일"}
EVERY = {1: "매주", 2: "2주마다", 3: "3주마다", 4: "4주마다"}


def weekly_rule(weekdays: list[str], every: int, first: datetime | None) -> str:
    """The RRULE the chooser means: weekly (or every `every` weeks) on the chosen weekdays, at
    the first visit's time; no weekday chosen means the first visit's own. The first visit must
    fall on a chosen weekday (a rule does not count its start as a visit unless it matches).
    Whether the rule is acceptable is the service's to say (services.hygiene.parse_rule)."""
    if any(d not in WEEKDAYS for d in weekdays) or every not in EVERY:
        raise InvalidInput({"weekdays": ["요일과 간격을 목록에서 고르세요 (not a valid choice)"]})
    own = list(WEEKDAYS)[first.astimezone(SEOUL).weekday()] if first else None
    chosen = [d for d in WEEKDAYS if d in weekdays] or ([own] if own else [])
    if own and own not in chosen:
        raise InvalidInput(
            {
                "weekdays": [
                    f"첫 방문 날짜({WEEKDAYS[own]}요일)의 요일을 고르거나 날짜를 바꾸세요 "
                    "(the first visit must fall on a chosen weekday)"
                ]
            }
        )
    rule = "FREQ=WEEKLY" + (f";INTERVAL={every}" if every > 1 else "")
    return rule + (f";BYDAY={','.join(chosen)}" if chosen else "")


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
    found = hygiene.list_enrollments_labelled(
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
    return render(
        "console/hygiene_enrollment.html",
        item=item,
        can_end=me().role in ENROLLERS,
        here=request.path,
        **_labels(),
    )


@bp.post("/enrollments/<uuid:enrollment_id>/end")
@page(*ENROLLERS)
def end(enrollment_id: uuid.UUID) -> BaseResponse:
    """Stop the visits (those not yet due are removed), once the form's box says so."""
    if request.form.get("confirm") != "yes":
        raise InvalidInput({"confirm": ["끝내려면 확인란을 고르세요 (confirm to end)"]})
    hygiene.end_enrollment(
        db_session(),
        actor=me().actor(),
        enrollment_id=enrollment_id,
        now=now(),
        expected_version=form_version(),
    )
    return back_to(url_for(".enrollment", enrollment_id=enrollment_id), "ended")


@bp.get("/new")
@page(*ENROLLERS)
@query("resident_id")
def new() -> Any:
    """The enrollment form for a resident (an opaque id, from the resident's page); without
    one, a search for the resident first (a POST: nothing about them goes in a URL)."""
    raw = request.args.get("resident_id", "")
    try:
        resident_id = uuid.UUID(raw) if raw else None
    except ValueError:
        raise InvalidInput(
            {"resident_id": ["올바른 선택이 아닙니다 (not a valid choice)"]}
        ) from None
    return _new_form(resident_id)


def _new_form(resident_id: uuid.UUID | None, found: Any = None) -> Any:
    today = now()
    return render(
        "console/hygiene_new.html",
        resident_id=resident_id,
        # Whom the form is about (another dong's resident is a 404 page), recorded as a read.
        label=form_label(db_session(), me().actor(), resident_id),
        found=found,
        kinds=SEARCH_KINDS,
        providers=[
            c.partner
            for c in partners.list_partners(today)
            if c.selectable and c.partner.kind == "hygiene_provider"
        ],
        weekdays=WEEKDAYS,
        every=EVERY,
        first=today.astimezone(SEOUL).strftime("%Y-%m-%dT10:00"),
        **_labels(),
    )


@bp.post("/new/find")
@page(*ENROLLERS)
def find() -> Any:
    """Find the resident to enroll, as the residents' search (exact matches in my dongs,
    recorded as a search naming who was found, never the term)."""
    return _new_form(None, find_residents())


@bp.post("/new")
@page(*ENROLLERS)
def enroll() -> BaseResponse:
    first = local_instant("dtstart")
    every = request.form.get("every", "1")
    rule = weekly_rule(
        request.form.getlist("weekdays"),
        int(every) if every.isdigit() else 0,
        datetime.fromisoformat(first) if first else None,
    )
    payload = load_form(
        HygieneEnrollmentIn,
        ("resident_id", "provider"),
        {"services": request.form.getlist("services"), "rrule": rule}
        | ({"dtstart": first} if first else {}),
    )
    view, _created = hygiene.enroll(db_session(), actor=me().actor(), now=now(), **payload)
    return back_to(url_for(".enrollment", enrollment_id=view.id), "enrolled")


@bp.get("/visits")
@page(*CASEWORK)
@query("state", "cursor")
def visits() -> Any:
    state = request.args.get("state", VisitState.SCHEDULED.value)
    if state not in VISIT_STATES:
        state = VisitState.SCHEDULED.value
    found = hygiene.list_visits_labelled(
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
