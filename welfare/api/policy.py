"""Route policies: every endpoint declares who may call it; anything undeclared is denied."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask

from welfare.models import Role

F = TypeVar("F", bound=Callable[..., Any])

# Endpoints registered by libraries, declared here because we cannot decorate them.
LIBRARY_PUBLIC_ENDPOINTS = frozenset({"api-docs.openapi_json", "api-docs.openapi_swagger_ui"})


@dataclass(frozen=True, slots=True)
class Policy:
    public: bool
    roles: frozenset[Role]
    # Console pages post HTML forms: their CSRF token may come as the `csrf_token` form field
    # instead of the X-CSRF-Token header (welfare.api.security).
    form_csrf: bool = False

    def allows(self, role: Role) -> bool:
        return self.public or role in self.roles


PUBLIC = Policy(public=True, roles=frozenset())


def public(func: F) -> F:
    """Anyone may call this route, logged in or not (health, login, docs)."""
    func._welfare_policy = PUBLIC  # type: ignore[attr-defined]  # the policy rides on the view
    return func


def allow(*roles: Role) -> Callable[[F], F]:
    """Only logged-in staff with one of `roles` may call this route."""
    policy = Policy(public=False, roles=frozenset(roles))

    def decorate(func: F) -> F:
        func._welfare_policy = policy  # type: ignore[attr-defined]  # the policy rides on the view
        return func

    return decorate


def page(*roles: Role) -> Callable[[F], F]:
    """A console page (welfare.console): only logged-in staff with one of `roles`; its forms
    carry the session's CSRF token as a form field."""
    policy = Policy(public=False, roles=frozenset(roles), form_csrf=True)

    def decorate(func: F) -> F:
        func._welfare_policy = policy  # type: ignore[attr-defined]  # the policy rides on the view
        return func

    return decorate


ANY_STAFF = (Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR, Role.ADMIN)
CASEWORK = (Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR)


def view_handler(app: Flask, endpoint: str, method: str) -> Callable[..., Any] | None:
    """The function that answers `method` at `endpoint` (a MethodView's method, or the view)."""
    view = app.view_functions.get(endpoint)
    if view is None:
        return None
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        name = "get" if method == "HEAD" else method.lower()
        handler: Callable[..., Any] | None = getattr(view_class, name, None)
        return handler
    return view


def policy_for(app: Flask, endpoint: str, method: str) -> Policy | None:
    """The declared policy of one endpoint and method, or None when none was declared."""
    if endpoint in LIBRARY_PUBLIC_ENDPOINTS:
        return PUBLIC
    handler = view_handler(app, endpoint, method)
    policy = getattr(handler, "_welfare_policy", None)
    return policy if isinstance(policy, Policy) else None
