"""Partner agencies and external referrals (docs/domain.md, "Partner agencies")."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from services import partners
from welfare.api.blueprint import Blueprint
from welfare.api.cases import ConsentIn
from welfare.api.etags import if_match_version, set_etag
from welfare.api.policy import ANY_STAFF, CASEWORK, allow
from welfare.api.schemas import HistoryEventOut, PageArgs, StrictSchema
from welfare.api.security import current_actor
from welfare.models import ReferralState, Role
from welfare.web import db_session, now

blp = Blueprint(
    "partners", __name__, url_prefix="/api/v1", description="Partner agencies, external referrals"
)
TEXT = validate.Length(min=1, max=2000)


class PartnerOut(StrictSchema):
    code = fields.String()
    name = fields.String()
    name_en = fields.String()
    kind = fields.String()
    parent = fields.String(allow_none=True)
    available_from = fields.Date(allow_none=True)
    selectable = fields.Boolean(metadata={"description": "Referrals may be sent to it today"})


class ScopeOut(StrictSchema):
    code = fields.String()
    label = fields.String()
    label_en = fields.String()
    fields_ = fields.List(fields.String(), data_key="fields")


class PartnerList(StrictSchema):
    items = fields.List(fields.Nested(PartnerOut))
    consent_scopes = fields.List(fields.Nested(ScopeOut))
    answer_business_days = fields.Integer()


class PartnerConsentIn(ConsentIn):
    """A case referral's consent (who, when), with the scope as a code of the partner book."""

    scope = fields.String(
        required=True,
        validate=validate.Length(min=1, max=30),
        metadata={"description": "A consent scope code (GET /partners): what the sheet carries"},
    )


class ExternalReferralIn(StrictSchema):
    partner = fields.String(required=True, validate=validate.Length(min=1, max=40))
    reason = fields.String(required=True, validate=TEXT)
    consent = fields.Nested(PartnerConsentIn, required=True)
    case_id = fields.UUID(load_default=None, allow_none=True)
    client_ref = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=8, max=100),
        metadata={"description": "Your idempotency key: the same key and body return the first"},
    )


class PartnerConsentOut(StrictSchema):
    given_by = fields.String(allow_none=True)
    given_at = fields.DateTime()
    scope = fields.String()


class ExternalReferralOut(StrictSchema):
    id = fields.UUID()
    resident_id = fields.UUID()
    case_id = fields.UUID(allow_none=True)
    dong = fields.String()
    partner = fields.String()
    partner_name = fields.String()
    consent = fields.Nested(PartnerConsentOut)
    reason = fields.String(allow_none=True)
    sheet = fields.Dict(
        allow_none=True,
        metadata={
            "description": "Exactly what was sent to the partner (the consent scope's fields and "
            "the reason); for counselors and supervisors, each showing recorded as an export"
        },
    )
    state = fields.String()
    sent_at = fields.DateTime()
    sent_by = fields.UUID(allow_none=True)
    answer_due_at = fields.DateTime()
    answered_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    note = fields.String(allow_none=True)
    version = fields.Integer()


class ExternalReferralDetail(ExternalReferralOut):
    events = fields.List(
        fields.Nested(HistoryEventOut),
        metadata={"description": "What happened to it, oldest first (not in a list)"},
    )


class ExternalReferralList(StrictSchema):
    items = fields.List(fields.Nested(ExternalReferralOut))
    next_cursor = fields.String(allow_none=True)


class ExternalReferralArgs(PageArgs):
    state = fields.String(
        load_default=None, validate=validate.OneOf([s.value for s in ReferralState])
    )
    partner = fields.String(load_default=None, validate=validate.Length(min=1, max=40))


class AnswerIn(StrictSchema):
    answer = fields.String(required=True, validate=validate.OneOf(["accepted", "declined"]))
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class CompleteIn(StrictSchema):
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


def referral_body(view: partners.ExternalReferralView) -> dict[str, Any]:
    data = asdict(view)
    data["consent"] = {
        "given_by": data.pop("consent_given_by"),
        "given_at": data.pop("consent_given_at"),
        "scope": data.pop("consent_scope"),
    }
    return data


@blp.route("/partners")
class Partners(MethodView):
    @allow(*ANY_STAFF)
    @blp.response(200, PartnerList)
    def get(self) -> Any:
        """The partner agencies and the consent scopes a referral may rest on."""
        book = partners.partner_book()
        return {
            "items": [
                {**asdict(choice.partner), "selectable": choice.selectable}
                for choice in partners.list_partners(now())
            ],
            "consent_scopes": [
                {
                    "code": s.code,
                    "label": s.label,
                    "label_en": s.label_en,
                    "fields_": list(s.fields),
                }
                for s in book.scopes.values()
            ],
            "answer_business_days": book.answer_business_days,
        }


@blp.route("/residents/<uuid:resident_id>/external-referrals")
class ResidentExternalReferrals(MethodView):
    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(ExternalReferralIn)
    @blp.response(201, ExternalReferralDetail)
    @blp.alt_response(200, description="Same client_ref again: the first referral")
    def post(self, payload: dict[str, Any], resident_id: uuid.UUID) -> Any:
        """Refer the resident to a partner with recorded consent: answers the referral sheet
        to send, holding only what the consent scope allows (recorded as an export)."""
        view, created = partners.refer(
            db_session(), actor=current_actor(), resident_id=resident_id, now=now(), **payload
        )
        body, status, headers = set_etag(referral_body(view), view.version, 201 if created else 200)
        headers["Location"] = f"/api/v1/external-referrals/{view.id}"
        return body, status, headers


@blp.route("/external-referrals")
class ExternalReferrals(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(ExternalReferralArgs, location="query")
    @blp.response(200, ExternalReferralList)
    def get(self, args: dict[str, Any]) -> Any:
        """Referrals to partners of your dongs, newest first (no sheet in a list)."""
        page = partners.list_referrals(db_session(), actor=current_actor(), **args)
        return {"items": [referral_body(v) for v in page.items], "next_cursor": page.next_cursor}


@blp.route("/external-referrals/<uuid:referral_id>")
class ExternalReferralItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, ExternalReferralDetail)
    def get(self, referral_id: uuid.UUID) -> Any:
        """One referral; counselors and supervisors see the sheet sent (an export)."""
        view = partners.get_referral(db_session(), actor=current_actor(), referral_id=referral_id)
        return set_etag(referral_body(view), view.version)


@blp.route("/external-referrals/<uuid:referral_id>/answer")
class ExternalReferralAnswer(MethodView):
    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(AnswerIn)
    @blp.response(200, ExternalReferralDetail)
    def post(self, payload: dict[str, Any], referral_id: uuid.UUID) -> Any:
        """Record the partner's answer: accepted or declined."""
        view = partners.answer(
            db_session(),
            actor=current_actor(),
            referral_id=referral_id,
            accepted=payload["answer"] == "accepted",
            note=payload["note"],
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        return set_etag(referral_body(view), view.version)


@blp.route("/external-referrals/<uuid:referral_id>/complete")
class ExternalReferralComplete(MethodView):
    @allow(Role.COUNSELOR, Role.SUPERVISOR)
    @blp.arguments(CompleteIn)
    @blp.response(200, ExternalReferralDetail)
    def post(self, payload: dict[str, Any], referral_id: uuid.UUID) -> Any:
        """The partner's service is done (an accepted referral only)."""
        view = partners.complete(
            db_session(),
            actor=current_actor(),
            referral_id=referral_id,
            note=payload["note"],
            now=now(),
            expected_version=if_match_version(request, required=False),
        )
        return set_etag(referral_body(view), view.version)
