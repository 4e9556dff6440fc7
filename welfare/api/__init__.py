"""The HTTP API: flask-smorest blueprints under /api/v1, OpenAPI and docs, health checks."""

from __future__ import annotations

from typing import Any

import swagger_ui_bundle
from flask import Flask, Response, send_from_directory
from flask_smorest import Api as SmorestApi
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from welfare.api import (
    account,
    audit,
    auth,
    care,
    cases,
    dispatch,
    followups,
    gateways,
    health,
    hygiene,
    kimchi,
    metrics,
    mobility,
    ongi,
    openapi,
    partners,
    query,
    reference,
    residents,
    security,
    staff,
    team,
)
from welfare.api.policy import public
from welfare.api.problems import from_database_error, from_domain_error, from_http_exception
from welfare.errors import DomainError

DOCS_STATIC = "/api/v1/docs/static/"


class Api(SmorestApi):  # type: ignore[misc]  # flask-smorest ships no types: its Api is Any
    """flask-smorest's Api, answering every error with problem+json, and saying so."""

    ERROR_SCHEMA = openapi.ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        return from_http_exception(error)

    def _register_responses(self) -> None:
        openapi.register_problem_responses(self.spec, self.ERROR_SCHEMA)


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="Geumcheon Welfare API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=DOCS_STATIC,
        API_SPEC_OPTIONS={
            "info": {
                "description": "Case management for the welfare safety net of Geumcheon-gu. "
                "Errors are application/problem+json with a stable English `code`. "
                "Log in with POST /api/v1/auth/login, then send the returned csrf_token as "
                "X-CSRF-Token on writes; gateways send Authorization: Bearer <token>.",
            },
            "components": {
                "securitySchemes": openapi.security_schemes(security.session_cookie_name(app))
            },
            "security": openapi.SECURITY,
        },
    )
    api = Api(app, spec_kwargs={"extra_plugins": [openapi.PublicOperations(app)]})
    app.extensions["welfare.api"] = api
    app.register_error_handler(DomainError, from_domain_error)
    app.register_error_handler(SQLAlchemyError, from_database_error)

    security.init_app(app)
    query.init_app(app)  # after the policy check: who may call comes before what was sent

    @app.get(DOCS_STATIC + "<path:filename>")
    @public
    def swagger_ui_static(filename: str) -> Any:
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=3600)

    app.register_blueprint(health.blp)
    app.register_blueprint(metrics.blp)
    for blueprint in (
        audit.blp,
        auth.blp,
        account.blp,
        staff.blp,
        reference.blp,
        residents.blp,
        ongi.blp,
        followups.blp,
        cases.blp,
        care.blp,
        kimchi.blp,
        gateways.blp,
        partners.blp,
        dispatch.blp,
        hygiene.blp,
        team.blp,
        mobility.blp,
    ):
        api.register_blueprint(blueprint)
