"""Deny by default: every route declares a policy; a generated matrix checks every role."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from welfare.api.policy import ANY_STAFF, Policy, policy_for
from welfare.models import Role

STAFF_ROLES = [Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR, Role.ADMIN, Role.GATEWAY]
SAMPLE_UUID = "00000000-0000-4000-8000-000000000000"
PUBLIC = "public"
ADMIN_ONLY = (Role.ADMIN,)

# Who may call each route that touches accounts and credentials, pinned: a policy widened by
# mistake (e.g. a gateway allowed to issue tokens) fails here. Every route under /api/v1/auth and
# /api/v1/staff must be listed.
ACCOUNT_POLICIES: dict[tuple[str, str], str | tuple[Role, ...]] = {
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): ANY_STAFF,
    ("GET", "/api/v1/auth/me"): ANY_STAFF,
    ("POST", "/api/v1/auth/password"): ANY_STAFF,
    ("GET", "/api/v1/auth/tokens"): ANY_STAFF,
    ("POST", "/api/v1/auth/tokens"): ANY_STAFF,
    ("DELETE", "/api/v1/auth/tokens/<uuid:token_id>"): ANY_STAFF,
    ("POST", "/api/v1/auth/totp"): ANY_STAFF,
    ("POST", "/api/v1/auth/totp/confirm"): ANY_STAFF,
    ("POST", "/api/v1/auth/totp/remove"): ANY_STAFF,
    ("GET", "/api/v1/staff"): ADMIN_ONLY,
    ("POST", "/api/v1/staff"): ADMIN_ONLY,
    ("GET", "/api/v1/staff/<uuid:staff_id>"): ADMIN_ONLY,
    ("PATCH", "/api/v1/staff/<uuid:staff_id>"): ADMIN_ONLY,
    ("POST", "/api/v1/staff/<uuid:staff_id>/deactivate"): ADMIN_ONLY,
    ("POST", "/api/v1/staff/<uuid:staff_id>/unlock"): ADMIN_ONLY,
    ("POST", "/api/v1/staff/<uuid:staff_id>/totp/reset"): ADMIN_ONLY,
    ("GET", "/api/v1/staff/<uuid:staff_id>/tokens"): ADMIN_ONLY,
    ("POST", "/api/v1/staff/<uuid:staff_id>/tokens"): ADMIN_ONLY,
    ("DELETE", "/api/v1/staff/<uuid:staff_id>/tokens/<uuid:token_id>"): ADMIN_ONLY,
}


def routes(app: Flask) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule))
    return found


def concrete(path: str) -> str:
    path = re.sub(r"<uuid:[a-z_]+>", SAMPLE_UUID, path)
    return re.sub(r"<(?:path:)?[a-z_]+>", "x", path)


def test_every_route_declares_a_policy(app: Flask) -> None:
    missing = [(e, m) for e, m, _ in routes(app) if policy_for(app, e, m) is None]
    assert missing == []


def test_account_routes_admit_exactly_the_roles_pinned_for_them(app: Flask) -> None:
    found: dict[tuple[str, str], str | tuple[Role, ...]] = {}
    for endpoint, method, path in routes(app):
        if not path.startswith(("/api/v1/auth", "/api/v1/staff")):
            continue
        policy = policy_for(app, endpoint, method)
        assert isinstance(policy, Policy)
        found[(method, path)] = (
            PUBLIC if policy.public else tuple(r for r in STAFF_ROLES if r in policy.roles)
        )
    assert found == ACCOUNT_POLICIES


def test_an_undeclared_route_is_denied(app: Flask) -> None:
    @app.get("/api/v1/_test/forgotten")
    def forgotten() -> str:
        return "should never be served"

    response = app.test_client().get("/api/v1/_test/forgotten")
    assert response.status_code == 403


def test_every_protected_route_refuses_anonymous_callers(app: Flask) -> None:
    client = app.test_client()
    checked = 0
    for endpoint, method, path in routes(app):
        policy = policy_for(app, endpoint, method)
        assert isinstance(policy, Policy)
        if policy.public:
            continue
        response = client.open(concrete(path), method=method, json={} if method != "GET" else None)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
        else:  # a console page sends the browser to the login form instead
            assert response.status_code == 303, (method, path)
            assert response.headers["Location"].startswith("/login"), (method, path)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_every_role_is_refused_where_its_policy_says_so(
    app: Flask, login_as: Any, role: Role
) -> None:
    client = login_as(str(role))
    for endpoint, method, path in routes(app):
        policy = policy_for(app, endpoint, method)
        assert isinstance(policy, Policy)
        if policy.public or policy.allows(role):
            continue
        response = client.open(concrete(path), method=method, json={} if method != "GET" else None)
        assert response.status_code == 403, (role, method, path, response.get_json())
