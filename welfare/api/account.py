"""One's own account: API tokens for oneself, issued only after re-authenticating (a session
cookie alone issues none)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

from services import tokens
from welfare.api.blueprint import Blueprint
from welfare.api.policy import ANY_STAFF, allow
from welfare.api.schemas import StrictSchema, TokenList, TokenOut, token_body
from welfare.api.security import current_actor, hasher
from welfare.web import db_session, get_settings, now

blp = Blueprint(
    "account",
    __name__,
    url_prefix="/api/v1/auth",
    description="One's own account: API tokens (re-authentication needed)",
)


class ReauthIn(StrictSchema):
    password = fields.String(required=True)
    otp = fields.String(
        load_default=None, metadata={"description": "A current code, when a factor is enrolled"}
    )


class OwnTokenIn(ReauthIn):
    label = fields.String(load_default="", validate=validate.Length(max=100))


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
