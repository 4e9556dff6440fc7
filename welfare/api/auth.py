"""Sessions: log in, log out, who am I, password change."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask.views import MethodView
from marshmallow import fields

from services import auth, staff
from welfare.api.blueprint import Blueprint
from welfare.api.policy import ANY_STAFF, allow, public
from welfare.api.problems import problem
from welfare.api.schemas import StaffSummary, StrictSchema
from welfare.api.security import (
    clear_session_cookie,
    client_address,
    client_address_and_username,
    client_ip,
    current_principal,
    hasher,
    limiter,
    session_cookie_name,
    set_session_cookie,
)
from welfare.web import db_session, get_settings, now, request_id

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Staff sessions")

# Failed logins only: a correct login never counts, so staff behind one office address (NAT)
# are not refused for each other's typos. Per (address, username) the limit is tight (the
# lockout also counts there); per address it is loose enough for an office, tight enough to slow
# guessing across accounts.
ACCOUNT_LOGIN_LIMIT = "10 per minute;30 per hour"
ADDRESS_LOGIN_LIMIT = "30 per minute;300 per hour"


def _failed(response: Response) -> bool:
    return response.status_code == 401


class LoginIn(StrictSchema):
    username = fields.String(required=True)
    password = fields.String(required=True)
    otp = fields.String(load_default=None)


class SessionOut(StrictSchema):
    staff = fields.Nested(StaffSummary)
    csrf_token = fields.String(allow_none=True)


class PasswordChangeIn(StrictSchema):
    current_password = fields.String(required=True)
    new_password = fields.String(required=True)


def _login_failed_response() -> Response:
    # Identical for unknown users, wrong passwords, locked or deactivated accounts.
    return problem(
        401,
        code=auth.AuthenticationFailed.code,
        title=auth.AuthenticationFailed.title,
        include_request_id=False,
    )


@blp.route("/login")
class Login(MethodView):
    @public
    @limiter.limit(ADDRESS_LOGIN_LIMIT, key_func=client_address, deduct_when=_failed)
    @limiter.limit(ACCOUNT_LOGIN_LIMIT, key_func=client_address_and_username, deduct_when=_failed)
    @blp.arguments(LoginIn)
    @blp.response(200, SessionOut)
    @blp.alt_response(401, description="Any failure: same body whether or not the user exists")
    def post(self, payload: dict[str, Any]) -> Any:
        """Log in; answers a session cookie and the CSRF token for unsafe requests."""
        try:
            result = auth.login(
                db_session(),
                username=payload["username"],
                password=payload["password"],
                otp=payload["otp"],
                ip=client_ip(),
                now=now(),
                hasher=hasher(),
                require_totp_for_privileged=get_settings().is_production,
                replaces_token=request.cookies.get(session_cookie_name()),
                request_id=request_id(),
            )
        except auth.AuthenticationFailed:
            return _login_failed_response()
        member = result.staff
        response = jsonify(
            staff={
                "id": str(member.id),
                "username": member.username,
                "role": member.role,
                "dongs": member.dongs,
            },
            csrf_token=result.session.csrf_token,
        )
        set_session_cookie(response, result.session_token, result.session.expires_at)
        return response


@blp.route("/logout")
class Logout(MethodView):
    @allow(*ANY_STAFF)
    @blp.response(204)
    def post(self) -> Any:
        """End this session server-side; the cookie stops working everywhere."""
        token = request.cookies.get(session_cookie_name())
        if token:
            auth.logout(db_session(), token=token, actor=current_principal().actor())
        response = Response(status=204)
        clear_session_cookie(response)
        return response


@blp.route("/me")
class Me(MethodView):
    @allow(*ANY_STAFF)
    @blp.response(200, SessionOut)
    def get(self) -> Any:
        """The logged-in staff member and the session's CSRF token."""
        principal = current_principal()
        return {"staff": principal.as_json(), "csrf_token": principal.csrf_token}


@blp.route("/password")
class Password(MethodView):
    @allow(*ANY_STAFF)
    @blp.arguments(PasswordChangeIn)
    @blp.response(204)
    def post(self, payload: dict[str, Any]) -> None:
        """Change one's own password; every other session of this member ends. A wrong
        current password counts toward the lockout like a failed login."""
        principal = current_principal()
        staff.change_password(
            db_session(),
            actor=principal.actor(),
            current_password=payload["current_password"],
            new_password=payload["new_password"],
            keep_session_id=principal.session_id,
            hasher=hasher(),
            now=now(),
        )
