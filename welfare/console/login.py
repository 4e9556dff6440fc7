"""Logging in and out of the console: password and second factor, the API's session cookie."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import auth
from welfare.api.policy import ANY_STAFF, page, public
from welfare.api.security import (
    clear_session_cookie,
    client_address,
    client_ip,
    current_principal,
    hasher,
    limiter,
    session_cookie_name,
    set_session_cookie,
)
from welfare.console.base import query, render, safe_path
from welfare.models import Role
from welfare.models.staff import LOCKOUT_DURATION, LOCKOUT_THRESHOLD
from welfare.web import db_session, get_settings, now, request_id

bp = Blueprint("login", __name__)

# Before login there is no session to hold a CSRF token: the login form carries a random value
# that must match a cookie of its own (double submit), so no other site can post a login here.
LOGIN_CSRF_COOKIE = "welfare_login_csrf"
# The same limits as POST /api/v1/auth/login, on failed logins only.
ACCOUNT_LOGIN_LIMIT = "10 per minute;30 per hour"
ADDRESS_LOGIN_LIMIT = "30 per minute;300 per hour"

FAILED = (
    "아이디, 비밀번호 또는 인증 코드가 올바르지 않습니다. "
    f"{LOCKOUT_THRESHOLD}번 연속 틀리면 계정이 {int(LOCKOUT_DURATION.total_seconds() // 60)}분 "
    "동안 잠깁니다. 잠겼다면 그 뒤에 다시 시도하거나 관리자에게 잠금 해제를 요청하세요."
)


def _failed(response: BaseResponse) -> bool:
    return response.status_code == 401


def _address_and_username() -> str:
    """The per-account limiter key: a keyed digest of the username, never the username."""
    name = auth.normalize_username(request.form.get("username", ""))
    key = get_settings().secret_key.encode()
    digest = hmac.new(key, b"login-limit:" + name.encode("utf-8", "replace"), hashlib.sha256)
    return f"{client_address()}|{digest.hexdigest()[:32]}"


def _form(status: int = 200, error: str | None = None, username: str = "") -> BaseResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    body, code = render(
        "console/login.html",
        status,
        login_csrf=token,
        error=error,
        username=username,
        next=safe_path(request.values.get("next")),
    )
    response = BaseResponse(body, code, content_type="text/html; charset=utf-8")
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        secure=get_settings().is_production,
        samesite="Strict",
        path="/login",
    )
    return response


@bp.get("/login")
@public
@query("next")
def form() -> Any:
    return _form()


@bp.post("/login")
@public
@limiter.limit(ADDRESS_LOGIN_LIMIT, key_func=client_address, deduct_when=_failed)
@limiter.limit(ACCOUNT_LOGIN_LIMIT, key_func=_address_and_username, deduct_when=_failed)
def submit() -> Any:
    sent = request.form.get("csrf_token", "")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
        return _form(403, "보안 확인이 만료되었습니다. 다시 로그인하세요.")
    username = request.form.get("username", "")
    try:
        result = auth.login(
            db_session(),
            username=username,
            password=request.form.get("password", ""),
            otp=request.form.get("otp", "").strip() or None,
            ip=client_ip(),
            now=now(),
            hasher=hasher(),
            require_totp_for_privileged=get_settings().is_production,
            replaces_token=request.cookies.get(session_cookie_name()),
            request_id=request_id(),
        )
    except auth.AuthenticationFailed:
        return _form(401, FAILED, username=username)
    default = "/admin/staff" if result.staff.role == Role.ADMIN else "/"
    response = redirect(safe_path(request.form.get("next")) or default, code=303)
    set_session_cookie(response, result.session_token, result.session.expires_at)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@bp.post("/logout")
@page(*ANY_STAFF)
def logout() -> Any:
    token = request.cookies.get(session_cookie_name())
    if token:
        auth.logout(db_session(), token=token, actor=current_principal().actor())
    response = redirect(url_for("console.login.form", msg="logged_out"), code=303)
    clear_session_cookie(response)
    return response
