"""One's own account: API tokens for oneself and the second factor, each change only after
re-authenticating (a session cookie alone changes neither)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

from services import second_factor, tokens
from welfare.api.blueprint import Blueprint
from welfare.api.policy import ANY_STAFF, allow
from welfare.api.problems import problem
from welfare.api.schemas import StrictSchema, TokenList, TokenOut, token_body
from welfare.api.security import current_actor, hasher
from welfare.web import db_session, get_settings, now

blp = Blueprint(
    "account",
    __name__,
    url_prefix="/api/v1/auth",
    description="One's own account: API tokens and the second factor (re-authentication needed)",
)


class ReauthIn(StrictSchema):
    password = fields.String(required=True)
    otp = fields.String(
        load_default=None, metadata={"description": "A current code, when a factor is enrolled"}
    )


class OwnTokenIn(ReauthIn):
    label = fields.String(load_default="", validate=validate.Length(max=100))


class TotpEnrollmentOut(StrictSchema):
    provisioning_uri = fields.String()


class TotpConfirmIn(StrictSchema):
    code = fields.String(required=True)


@blp.route("/tokens")
class OwnTokens(MethodView):
    @allow(*ANY_STAFF)
    @blp.response(200, TokenList)
    def get(self) -> Any:
        """One's own API tokens (never the secrets)."""
        found = tokens.list_tokens(db_session(), staff_id=current_actor().staff_id)
        return {"items": [token_body(t) for t in found]}

    @allow(*ANY_STAFF)
    @blp.arguments(OwnTokenIn)
    @blp.response(201, TokenOut)
    @blp.alt_response(422, description="Wrong password or code (counts toward the lockout)")
    def post(self, payload: dict[str, Any]) -> Any:
        """Issue an API token for oneself (e.g. a script of one's own): needs the password and,
        where a second factor is enrolled, a current code. Shown once; it expires."""
        plaintext, token = tokens.issue_own_token(
            db_session(),
            actor=current_actor(),
            password=payload["password"],
            otp=payload["otp"],
            label=payload["label"],
            now=now(),
            lifetime=get_settings().api_token_lifetime,
            hasher=hasher(),
        )
        return token_body(token, plaintext)


@blp.route("/tokens/<uuid:token_id>")
class OwnToken(MethodView):
    @allow(*ANY_STAFF)
    @blp.response(204)
    def delete(self, token_id: uuid.UUID) -> None:
        """Revoke one of one's own tokens at once."""
        tokens.revoke_own_token(db_session(), actor=current_actor(), token_id=token_id, now=now())


@blp.route("/totp")
class TotpEnrollment(MethodView):
    @allow(*ANY_STAFF)
    @blp.arguments(ReauthIn)
    @blp.response(200, TotpEnrollmentOut)
    @blp.alt_response(422, description="Wrong password or code (counts toward the lockout)")
    def post(self, payload: dict[str, Any]) -> Any:
        """Start enrolling a second factor: needs the password, and a current code when one is
        enrolled already. The URI (for an authenticator app) is shown once; the current factor
        stays in force until the new one is confirmed."""
        uri = second_factor.begin_enrolment(
            db_session(),
            actor=current_actor(),
            password=payload["password"],
            otp=payload["otp"],
            now=now(),
            hasher=hasher(),
        )
        return {"provisioning_uri": uri}


@blp.route("/totp/confirm")
class TotpConfirm(MethodView):
    @allow(*ANY_STAFF)
    @blp.arguments(TotpConfirmIn)
    @blp.response(204)
    def post(self, payload: dict[str, Any]) -> Any:
        """Confirm the enrolment with a first code of the new seed; from then on login needs a
        code from it."""
        confirmed = second_factor.confirm_enrolment(
            db_session(), actor=current_actor(), code=payload["code"], now=now()
        )
        if not confirmed:
            return problem(422, errors={"code": ["코드가 맞지 않습니다 (wrong code)"]})
        return None


@blp.route("/totp/remove")
class TotpRemoval(MethodView):
    @allow(*ANY_STAFF)
    @blp.arguments(ReauthIn)
    @blp.response(204)
    @blp.alt_response(409, description="No factor enrolled, or the role needs one")
    @blp.alt_response(422, description="Wrong password or code (counts toward the lockout)")
    def post(self, payload: dict[str, Any]) -> None:
        """Remove one's own second factor: needs the password and a current code."""
        second_factor.remove(
            db_session(),
            actor=current_actor(),
            password=payload["password"],
            otp=payload["otp"],
            now=now(),
            hasher=hasher(),
            factor_required=get_settings().is_production,
        )
