"""Who is calling: session cookies and bearer tokens, policy checks, CSRF, login rate limit."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from argon2 import PasswordHasher
from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from flask_login import LoginManager, UserMixin, current_user
from werkzeug.exceptions import Forbidden, Unauthorized
from werkzeug.middleware.proxy_fix import ProxyFix

from services import auth, tokens
from welfare.api.policy import Policy, policy_for
from welfare.crypto.passwords import make_hasher
from welfare.errors import DomainError
from welfare.errors import Forbidden as DomainForbidden
from welfare.models import Actor, Role
from welfare.web import db_session, get_settings, now, request_id

log = logging.getLogger("welfare.security")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"  # the form field console pages send it in (policy.form_csrf)


class CsrfFailed(DomainForbidden):
    code = "csrf_failed"
    title = "CSRF 토큰이 없거나 틀립니다 (X-CSRF-Token missing or wrong)"


def hasher() -> PasswordHasher:
    return cast(PasswordHasher, current_app.extensions["welfare.hasher"])


def client_ip() -> str | None:
    return request.remote_addr


def client_address() -> str:
    """The login limiter's key per client address."""
    return client_ip() or "unknown"


def client_address_and_username() -> str:
    """The login limiter's key per (client address, username): a keyed digest of the username,
    so neither the limiter's storage nor its log lines ever hold a username."""
    try:
        body = request.get_json(silent=True)
    except (RecursionError, ValueError):
        # Bodies json cannot even decode (thousands of `[`, a 5000-digit number): keyed as no
        # username here; the route answers them as malformed JSON (welfare.api.blueprint).
        body = None
    username = body.get("username") if isinstance(body, dict) else None
    name = auth.normalize_username(username) if isinstance(username, str) else ""
    key = get_settings().secret_key.encode()
    digest = hmac.new(key, b"login-limit:" + name.encode("utf-8", "replace"), hashlib.sha256)
    return f"{client_address()}|{digest.hexdigest()[:32]}"


limiter = Limiter(
    key_func=client_address,
    default_limits=[],
    headers_enabled=True,
    strategy="moving-window",
)


@dataclass(frozen=True)
class Principal(UserMixin):  # type: ignore[misc]  # flask-login ships no types: UserMixin is Any
    """The authenticated caller of one request."""

    staff_id: uuid.UUID
    username: str
    role: Role
    dongs: tuple[str, ...]
    via: str  # "session" or "token"
    session_id: uuid.UUID | None = None
    csrf_token: str | None = None
    token_id: uuid.UUID | None = None  # named in every access record made with the token

    def get_id(self) -> str:
        return str(self.staff_id)

    @property
    def is_active(self) -> bool:
        return True

    def actor(self) -> Actor:
        return Actor(
            staff_id=self.staff_id,
            role=self.role,
            dongs=frozenset(self.dongs),
            ip=client_ip(),
            request_id=request_id(),
            token_id=self.token_id,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.staff_id),
            "username": self.username,
            "role": str(self.role),
            "dongs": list(self.dongs),
        }


def current_principal() -> Principal:
    principal = cast(Any, current_user)
    if not getattr(principal, "is_authenticated", False):
        raise Unauthorized
    return cast(Principal, principal._get_current_object())


def current_actor() -> Actor:
    return current_principal().actor()


def session_cookie_name(app: Flask | None = None) -> str:
    # The __Host- prefix pins the cookie to this host, path / and HTTPS (production only).
    return "__Host-welfare_session" if get_settings(app).is_production else "welfare_session"


def set_session_cookie(response: Any, token: str, expires: datetime) -> None:
    response.set_cookie(
        session_cookie_name(),
        token,
        expires=expires,
        path="/",
        httponly=True,
        secure=get_settings().is_production,
        samesite="Lax",
    )


def clear_session_cookie(response: Any) -> None:
    response.delete_cookie(
        session_cookie_name(),
        path="/",
        httponly=True,
        secure=get_settings().is_production,
        samesite="Lax",
    )


def _load_principal(_request: Any) -> Principal | None:
    session = db_session()
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        found = tokens.resolve_token(session, token=header[7:].strip(), now=now())
        if found is None:
            return None
        token, staff = found
        g.staff_id = str(staff.id)
        return Principal(
            staff_id=staff.id,
            username=staff.username,
            role=staff.role_enum,
            dongs=tuple(staff.dongs),
            via="token",
            token_id=token.id,
        )
    cookie = request.cookies.get(session_cookie_name())
    if not cookie:
        return None
    resolved = auth.resolve_session(session, token=cookie, now=now())
    if resolved is None:
        return None
    row, staff = resolved
    g.staff_id = str(staff.id)
    return Principal(
        staff_id=staff.id,
        username=staff.username,
        role=staff.role_enum,
        dongs=tuple(staff.dongs),
        via="session",
        session_id=row.id,
        csrf_token=row.csrf_token,
    )


def _enforce_policy() -> None:
    endpoint = request.endpoint
    if endpoint is None or request.method == "OPTIONS":
        return  # routing failed (404/405 follow), or Flask's automatic OPTIONS answer
    policy = policy_for(current_app, endpoint, request.method)
    if policy is None:
        log.error("route without a declared policy denied", extra={"endpoint": endpoint})
        raise Forbidden
    if policy.public:
        return
    _enforce_lane(policy)
    principal = current_user
    if not getattr(principal, "is_authenticated", False):
        raise Unauthorized
    if not policy.allows(principal.role):
        raise Forbidden
    if principal.via == "session" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent and policy.form_csrf:
            sent = request.form.get(CSRF_FIELD, "")
        expected = principal.csrf_token or ""
        # As bytes: compare_digest raises TypeError on str with non-ASCII characters.
        if not sent or not secrets.compare_digest(sent.encode(), expected.encode()):
            raise CsrfFailed


class WrongLane(DomainError):
    """This node serves another lane (WELFARE_WEB_LANE): the load balancer sent it elsewhere."""

    status = 421
    code = "wrong_lane"
    title = "이 서버는 이 요청을 받지 않습니다 (misdirected request: wrong lane for this node)"


def _enforce_lane(policy: Policy) -> None:
    """Gateways get web nodes of their own, so their batches never queue behind staff
    requests for a thread or a database connection (docs/operations.md, "Lanes"). Decided
    from the route alone, before any authentication or database work: a gateway lane
    serves the routes gateways may call, a staff lane every route but those only gateways
    call (public routes, health and login, are served on every lane)."""
    lane = get_settings(current_app).web_lane
    if lane == "gateway" and Role.GATEWAY not in policy.roles:
        raise WrongLane
    if lane == "staff" and policy.roles == frozenset({Role.GATEWAY}):
        raise WrongLane


def init_app(app: Flask) -> None:
    settings = get_settings(app)
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # Flask's documented hook
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    app.extensions["welfare.hasher"] = make_hasher(settings.argon2_profile)
    login_manager = LoginManager()
    login_manager.session_protection = None  # sessions live server-side, not in Flask's cookie
    login_manager.request_loader(_load_principal)
    login_manager.init_app(app)
    app.config["RATELIMIT_STORAGE_URI"] = settings.ratelimit_storage_url
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    limiter.init_app(app)
    app.before_request(_enforce_policy)
