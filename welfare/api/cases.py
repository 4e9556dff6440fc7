"""Cases and referrals (docs/domain.md, "The programs"): one resident in one program."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from services import cases
from services.residents.labels import ResidentLabel
from welfare.api.blueprint import Blueprint
from welfare.api.etags import if_match_version, set_etag
from welfare.api.policy import CASEWORK, allow
from welfare.api.schemas import Instant, PageArgs, StrictSchema, resident_field
from welfare.api.security import current_actor
from welfare.models import Case, CasePriority, Program, Role
from welfare.web import db_session, now

blp = Blueprint("cases", __name__, url_prefix="/api/v1", description="Cases and referrals")

PROGRAMS = validate.OneOf([p.value for p in Program])
PRIORITIES = validate.OneOf([p.value for p in CasePriority])
STATUS = validate.Regexp(r"^[a-z][a-z0-9_]{0,29}$")
TEXT = validate.Length(min=1, max=4000)
COUNSELING = (Role.COUNSELOR, Role.SUPERVISOR)


class CaseIn(StrictSchema):
    resident_id = fields.UUID(required=True)
    program = fields.String(required=True, validate=PROGRAMS)
    assignee_id = fields.UUID(load_default=None, allow_none=True)
    priority = fields.String(load_default=CasePriority.NORMAL.value, validate=PRIORITIES)


class CasePatch(StrictSchema):
    priority = fields.String(validate=PRIORITIES)
    assignee_id = fields.UUID(allow_none=True)


class CaseOut(StrictSchema):
    id = fields.UUID()
    resident_id = fields.UUID()
    program = fields.String()
    status = fields.String()
    priority = fields.String()
    assignee_id = fields.UUID(allow_none=True)
    dong = fields.String()
    opened_at = fields.DateTime()
    opened_by = fields.UUID(allow_none=True)
    updated_at = fields.DateTime()
    referred_from_case_id = fields.UUID(allow_none=True)
    closure_requested_at = fields.DateTime(allow_none=True)
    closure_requested_by = fields.UUID(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    closed_by = fields.UUID(allow_none=True)
    next_statuses = fields.List(
        fields.String(), metadata={"description": "Where POST …/transitions may move the case"}
    )
    resident = resident_field()


class CaseList(StrictSchema):
    items = fields.List(fields.Nested(CaseOut))
    next_cursor = fields.String(allow_none=True)


class ResidentCases(StrictSchema):
    items = fields.List(fields.Nested(CaseOut))


class CaseListArgs(PageArgs):
    program = fields.String(load_default=None, validate=PROGRAMS)
    status = fields.String(load_default=None, validate=STATUS)
    dong = fields.String(load_default=None, validate=validate.Regexp(r"^\d{10}$"))
    assignee = fields.UUID(load_default=None)


class TransitionIn(StrictSchema):
    to = fields.String(required=True, validate=STATUS)


class NoteIn(StrictSchema):
    body = fields.String(required=True, validate=TEXT)


class NoteOut(StrictSchema):
    id = fields.UUID()
    case_id = fields.UUID()
    kind = fields.String(metadata={"description": "note, closure_request, closure_decision"})
    author_id = fields.UUID(allow_none=True)
    written_at = fields.DateTime()
    body = fields.String(allow_none=True)
    unreadable = fields.Boolean(metadata={"description": "The note failed authentication"})


class NoteList(StrictSchema):
    items = fields.List(fields.Nested(NoteOut))


class ClosureRequestIn(StrictSchema):
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class ClosureDecisionIn(StrictSchema):
    approve = fields.Boolean(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class ConsentIn(StrictSchema):
    given_by = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Who consented: 본인 (the person) or a guardian"},
    )
    given_at = Instant(required=True)
    scope = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "What the person agreed may be shared, and with whom"},
    )


class ReferralIn(StrictSchema):
    program = fields.String(required=True, validate=PROGRAMS)
    reason = fields.String(required=True, validate=TEXT)
    consent = fields.Nested(ConsentIn, required=True)


class ConsentOut(StrictSchema):
    given_by = fields.String(allow_none=True)
    given_at = fields.DateTime()
    scope = fields.String(allow_none=True)


class ReferralOut(StrictSchema):
    id = fields.UUID()
    resident_id = fields.UUID()
    from_case_id = fields.UUID()
    to_case_id = fields.UUID()
    from_program = fields.String()
    to_program = fields.String()
    reason = fields.String(allow_none=True)
    consent = fields.Nested(ConsentOut)
    referred_at = fields.DateTime()
    referred_by = fields.UUID(allow_none=True)


class ReferredCaseOut(CaseOut):
    referral = fields.Nested(ReferralOut)


class ReferralList(StrictSchema):
    items = fields.List(fields.Nested(ReferralOut))


def case_body(case: Case, resident: ResidentLabel | None = None) -> dict[str, Any]:
    data = {k: getattr(case, k) for k in CaseOut._declared_fields if hasattr(case, k)}
    data["dong"] = case.dong_code
    data["next_statuses"] = cases.next_statuses(case)
    data["resident"] = resident
    return data


def referral_body(item: cases.ReferralView) -> dict[str, Any]:
    return {
        "id": item.id,
        "resident_id": item.resident_id,
        "from_case_id": item.from_case_id,
        "to_case_id": item.to_case_id,
        "from_program": item.from_program,
        "to_program": item.to_program,
        "reason": item.reason,
        "consent": {
            "given_by": item.consent_given_by,
            "given_at": item.consent_given_at,
            "scope": item.consent_scope,
        },
        "referred_at": item.referred_at,
        "referred_by": item.referred_by,
    }


def note_body(item: cases.NoteView) -> dict[str, Any]:
    return {k: getattr(item, k) for k in NoteOut._declared_fields}


def location(case: Case) -> str:
    return f"/api/v1/cases/{case.id}"


@blp.route("/cases")
class Cases(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(CaseListArgs, location="query")
    @blp.response(200, CaseList)
    def get(self, args: dict[str, Any]) -> Any:
        """A program's queue: open cases of the caller's dongs, oldest first (e.g.
        `?program=mobility&status=intake` for new referrals)."""
        page = cases.list_cases(db_session(), actor=current_actor(), **args)
        return {
            "items": [case_body(i.record, i.resident) for i in page.items],
            "next_cursor": page.next_cursor,
        }

    @allow(*COUNSELING)
    @blp.arguments(CaseIn)
    @blp.response(201, CaseOut)
    @blp.alt_response(409, description="An open case of this resident in this program exists")
    def post(self, payload: dict[str, Any]) -> Any:
        """Open a case in the program's first status; one open case per resident per program."""
        case = cases.open_case(db_session(), actor=current_actor(), now=now(), **payload)
        return set_etag(case_body(case), case.version, 201, location=location(case))


@blp.route("/cases/<uuid:case_id>")
class CaseItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, CaseOut)
    def get(self, case_id: uuid.UUID) -> Any:
        case = cases.get_case(db_session(), actor=current_actor(), case_id=case_id)
        return set_etag(case_body(case), case.version)

    @allow(*COUNSELING)
    @blp.arguments(CasePatch)
    @blp.response(200, CaseOut)
    @blp.alt_response(412, description="Stale If-Match")
    @blp.alt_response(428, description="If-Match missing")
    def patch(self, payload: dict[str, Any], case_id: uuid.UUID) -> Any:
        """Change priority or assignee (If-Match required)."""
        case = cases.update_case(
            db_session(),
            actor=current_actor(),
            case_id=case_id,
            expected_version=if_match_version(request) or 0,
            now=now(),
            **payload,
        )
        return set_etag(case_body(case), case.version)


@blp.route("/cases/<uuid:case_id>/transitions")
class CaseTransitions(MethodView):
    @allow(*COUNSELING)
    @blp.arguments(TransitionIn)
    @blp.response(200, CaseOut)
    @blp.alt_response(409, description="Not a move the program's workflow allows")
    def post(self, payload: dict[str, Any], case_id: uuid.UUID) -> Any:
        """Move the case along its program's workflow (If-Match honoured when sent)."""
        case = cases.transition(
            db_session(),
            actor=current_actor(),
            case_id=case_id,
            to=payload["to"],
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        return set_etag(case_body(case), case.version)


@blp.route("/cases/<uuid:case_id>/notes")
class CaseNotes(MethodView):
    @allow(*COUNSELING)
    @blp.response(200, NoteList)
    def get(self, case_id: uuid.UUID) -> Any:
        """The case's counseling notes with author and time (counselors and supervisors)."""
        notes = cases.list_notes(db_session(), actor=current_actor(), case_id=case_id)
        return {"items": [note_body(n) for n in notes]}

    @allow(*COUNSELING)
    @blp.arguments(NoteIn)
    @blp.response(201, NoteOut)
    def post(self, payload: dict[str, Any], case_id: uuid.UUID) -> Any:
        """Add a note, sealed with the resident's key."""
        note = cases.add_note(
            db_session(), actor=current_actor(), case_id=case_id, body=payload["body"], now=now()
        )
        return note_body(note), 201


@blp.route("/cases/<uuid:case_id>/closure-request")
class CaseClosureRequest(MethodView):
    @allow(*COUNSELING)
    @blp.arguments(ClosureRequestIn)
    @blp.response(200, CaseOut)
    def post(self, payload: dict[str, Any], case_id: uuid.UUID) -> Any:
        """Ask to close the case; a supervisor decides."""
        case = cases.request_closure(
            db_session(),
            actor=current_actor(),
            case_id=case_id,
            note=payload["note"],
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        return set_etag(case_body(case), case.version)


@blp.route("/cases/<uuid:case_id>/closure-decision")
class CaseClosureDecision(MethodView):
    @allow(Role.SUPERVISOR)
    @blp.arguments(ClosureDecisionIn)
    @blp.response(200, CaseOut)
    def post(self, payload: dict[str, Any], case_id: uuid.UUID) -> Any:
        """Approve the closure, or send the case back to work (supervisors; not one's own)."""
        case = cases.decide_closure(
            db_session(),
            actor=current_actor(),
            case_id=case_id,
            approve=payload["approve"],
            note=payload["note"],
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        return set_etag(case_body(case), case.version)


@blp.route("/cases/<uuid:case_id>/referrals")
class CaseReferrals(MethodView):
    @allow(*COUNSELING)
    @blp.response(200, ReferralList)
    def get(self, case_id: uuid.UUID) -> Any:
        """Referrals out of and into this case, with their consent."""
        found = cases.list_referrals(db_session(), actor=current_actor(), case_id=case_id)
        return {"items": [referral_body(r) for r in found]}

    @allow(*COUNSELING)
    @blp.arguments(ReferralIn)
    @blp.response(201, ReferredCaseOut)
    @blp.alt_response(409, description="An open case in the target program exists")
    def post(self, payload: dict[str, Any], case_id: uuid.UUID) -> Any:
        """Refer the resident to another program with recorded consent; answers the case
        opened there, in intake, with the referral."""
        case, referral = cases.refer(
            db_session(), actor=current_actor(), case_id=case_id, now=now(), **payload
        )
        body = {**case_body(case), "referral": referral_body(referral)}
        return set_etag(body, case.version, 201, location=location(case))


@blp.route("/residents/<uuid:resident_id>/cases")
class ResidentCaseList(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, ResidentCases)
    def get(self, resident_id: uuid.UUID) -> Any:
        """The resident across every program, open cases first."""
        found = cases.resident_cases(db_session(), actor=current_actor(), resident_id=resident_id)
        return {"items": [case_body(c) for c in found]}
