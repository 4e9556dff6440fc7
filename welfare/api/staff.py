"""Staff administration for admins: accounts, roles, dong scopes, unlock, gateway tokens,
second-factor resets; never on one's own account's rights."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from services import second_factor, tokens
from services import staff as staff_service
from welfare.api.blueprint import Blueprint
from welfare.api.etags import if_match_version, set_etag
from welfare.api.policy import allow
from welfare.api.schemas import PageArgs, StrictSchema, TokenList, TokenOut, token_body
from welfare.api.security import current_actor, hasher
from welfare.models import Role, Staff
from welfare.web import db_session, get_settings, now

blp = Blueprint("staff", __name__, url_prefix="/api/v1/staff", description="Staff administration")

ROLES = [str(r) for r in Role if r is not Role.SYSTEM]
DONG = fields.String(validate=validate.Regexp(r"^\d{10}$"))


class StaffOut(StrictSchema):
    id = fields.UUID()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    dongs = fields.List(fields.String())
    is_active = fields.Boolean()
    is_locked = fields.Boolean()
    totp_enabled = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class StaffList(StrictSchema):
    items = fields.List(fields.Nested(StaffOut))
    next_cursor = fields.String(allow_none=True)


class StaffCreateIn(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=3, max=60))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    dongs = fields.List(DONG, load_default=list)
    display_name = fields.String(load_default="", validate=validate.Length(max=100))
    password = fields.String(load_default=None)


class StaffUpdateIn(StrictSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    dongs = fields.List(DONG)
    display_name = fields.String(validate=validate.Length(max=100))


class TokenCreateIn(StrictSchema):
    label = fields.String(load_default="", validate=validate.Length(max=100))


def staff_body(member: Staff) -> dict[str, Any]:
    return {
        "id": member.id,
        "username": member.username,
        "display_name": member.display_name,
        "role": member.role,
        "dongs": member.dongs,
        "is_active": member.is_active,
        "is_locked": member.is_locked(now()),
        "totp_enabled": member.totp_enabled,
        "created_at": member.created_at,
        "updated_at": member.updated_at,
    }


@blp.route("")
class StaffCollection(MethodView):
    @allow(Role.ADMIN)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, StaffList)
    def get(self, args: dict[str, Any]) -> Any:
        """All staff accounts, by username."""
        page = staff_service.list_staff(db_session(), cursor=args["cursor"], limit=args["limit"])
        return {"items": [staff_body(m) for m in page.items], "next_cursor": page.next_cursor}

    @allow(Role.ADMIN)
    @blp.arguments(StaffCreateIn)
    @blp.response(201, StaffOut)
    def post(self, payload: dict[str, Any]) -> Any:
        """Create an account (gateways get no password; issue them a token)."""
        member = staff_service.create_staff(
            db_session(), actor=current_actor(), hasher=hasher(), now=now(), **payload
        )
        return set_etag(
            staff_body(member), member.version, 201, location=f"/api/v1/staff/{member.id}"
        )


@blp.route("/<uuid:staff_id>")
class StaffItem(MethodView):
    @allow(Role.ADMIN)
    @blp.response(200, StaffOut)
    def get(self, staff_id: uuid.UUID) -> Any:
        member = staff_service.get_staff(db_session(), staff_id)
        return set_etag(staff_body(member), member.version)

    @allow(Role.ADMIN)
    @blp.arguments(StaffUpdateIn)
    @blp.response(200, StaffOut)
    @blp.alt_response(412, description="Stale If-Match")
    def patch(self, payload: dict[str, Any], staff_id: uuid.UUID) -> Any:
        """Change role, dongs or name (If-Match required); rights changes end sessions."""
        member = staff_service.update_staff(
            db_session(),
            actor=current_actor(),
            staff_id=staff_id,
            expected_version=if_match_version(request),
            now=now(),
            **payload,
        )
        return set_etag(staff_body(member), member.version)


@blp.route("/<uuid:staff_id>/deactivate")
class StaffDeactivate(MethodView):
    @allow(Role.ADMIN)
    @blp.response(200, StaffOut)
    def post(self, staff_id: uuid.UUID) -> Any:
        """Deactivate: sessions end and tokens are revoked at once."""
        member = staff_service.deactivate_staff(
            db_session(), actor=current_actor(), staff_id=staff_id, now=now()
        )
        return staff_body(member)


@blp.route("/<uuid:staff_id>/unlock")
class StaffUnlock(MethodView):
    @allow(Role.ADMIN)
    @blp.response(200, StaffOut)
    def post(self, staff_id: uuid.UUID) -> Any:
        """Lift a lockout after failed logins."""
        member = staff_service.unlock_staff(
            db_session(), actor=current_actor(), staff_id=staff_id, now=now()
        )
        return staff_body(member)


@blp.route("/<uuid:staff_id>/totp/reset")
class StaffTotpReset(MethodView):
    @allow(Role.ADMIN)
    @blp.response(200, StaffOut)
    @blp.alt_response(403, description="One's own factor: its owner removes it, re-authenticated")
    def post(self, staff_id: uuid.UUID) -> Any:
        """Remove someone else's second factor (a lost phone); recorded as a right change. In
        production a supervisor or admin then enrols again through `welfare staff totp`."""
        member = second_factor.reset(
            db_session(), actor=current_actor(), staff_id=staff_id, now=now()
        )
        return staff_body(member)


@blp.route("/<uuid:staff_id>/tokens")
class StaffTokens(MethodView):
    @allow(Role.ADMIN)
    @blp.response(200, TokenList)
    def get(self, staff_id: uuid.UUID) -> Any:
        """The member's API tokens (never the secrets), with who issued each and when it
        expires."""
        return {
            "items": [token_body(t) for t in tokens.list_tokens(db_session(), staff_id=staff_id)]
        }

    @allow(Role.ADMIN)
    @blp.arguments(TokenCreateIn)
    @blp.response(201, TokenOut)
    @blp.alt_response(403, description="Not a gateway account: a person issues their own")
    def post(self, payload: dict[str, Any], staff_id: uuid.UUID) -> Any:
        """Issue a token for a gateway account; the response is the only time it is shown."""
        plaintext, token = tokens.issue_token(
            db_session(),
            actor=current_actor(),
            staff_id=staff_id,
            label=payload["label"],
            now=now(),
            lifetime=get_settings().api_token_lifetime,
        )
        return token_body(token, plaintext)


@blp.route("/<uuid:staff_id>/tokens/<uuid:token_id>")
class StaffToken(MethodView):
    @allow(Role.ADMIN)
    @blp.response(204)
    def delete(self, staff_id: uuid.UUID, token_id: uuid.UUID) -> None:
        """Revoke a token at once."""
        tokens.revoke_token(
            db_session(), actor=current_actor(), staff_id=staff_id, token_id=token_id, now=now()
        )


__all__ = ["blp"]
