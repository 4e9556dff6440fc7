"""The staff console: server-rendered pages for counselors, outreach workers, supervisors and
admins, from the same Flask app as the API.

One blueprint per area, nested in the `console` blueprint, which owns the layout, the static
files (our CSS and the vendored htmx), the security headers of every page and the HTML error
pages. Views call the same use cases as the API (`services.*`) with the same actor, so scoping,
access records, idempotency and every rule live in one place; the console only turns forms into
arguments and results into HTML. Sessions, route policies and CSRF are the API's
(welfare.api.security): a page declares its roles with `welfare.api.policy.page`, and its forms
send the session's CSRF token as the `csrf_token` field. docs/console.md explains the rest.
"""

from __future__ import annotations

from flask import Flask

from welfare.console import (
    admin,
    audit,
    care,
    cases,
    dashboard,
    dispatch,
    home,
    hygiene,
    incidents,
    kimchi,
    login,
    mobility,
    partners,
    residents,
)
from welfare.console.base import console, init_errors

AREAS = (
    login.bp,
    home.bp,
    residents.bp,
    cases.bp,
    care.bp,
    kimchi.bp,
    mobility.bp,
    dispatch.bp,
    hygiene.bp,
    partners.bp,
    incidents.bp,
    dashboard.bp,
    audit.bp,
    admin.bp,
)
for _area in AREAS:  # once, at import: every app registers the same nested blueprints
    console.register_blueprint(_area)


def init_app(app: Flask) -> None:
    app.register_blueprint(console)
    init_errors(app)
