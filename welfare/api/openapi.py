"""The OpenAPI document tells the truth about errors and authentication.

Every error answers `application/problem+json` (welfare.api.problems), so the document's error
responses say that content type with the problem's real fields; success responses stay
`application/json`. Two security schemes describe how callers authenticate: the session cookie
with its `X-CSRF-Token` header (staff in a browser or the docs page), and a bearer token
(gateways and scripts); public operations (login, health, the document itself) declare none.
"""

from __future__ import annotations

import http
from typing import Any

from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, fields

from welfare.api.policy import policy_for

PROBLEM_JSON = "application/problem+json"
COOKIE = "cookieSession"
CSRF = "csrfHeader"
BEARER = "bearerToken"


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error of this API is answered."""

    class Meta:
        unknown = INCLUDE  # a problem may add members (existing_id, candidate_ids, allowed...)

    type = fields.String(metadata={"example": "urn:geumcheon-welfare:problem:validation_failed"})
    title = fields.String(metadata={"description": "Korean first, then English"})
    status = fields.Integer()
    code = fields.String(metadata={"description": "Stable English code to branch on"})
    detail = fields.String(metadata={"description": "What happened, Korean first"})
    request_id = fields.String(allow_none=True, metadata={"description": "Quote it to support"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "Field name to its messages (422), Korean first"},
    )


def security_schemes(cookie_name: str) -> dict[str, Any]:
    return {
        COOKIE: {
            "type": "apiKey",
            "in": "cookie",
            "name": cookie_name,
            "description": "The session from POST /api/v1/auth/login",
        },
        CSRF: {
            "type": "apiKey",
            "in": "header",
            "name": "X-CSRF-Token",
            "description": "The csrf_token from login or GET /api/v1/auth/me; required on "
            "POST, PUT, PATCH and DELETE with a session cookie",
        },
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (gateways, scripts)",
        },
    }


# Either the session cookie with its CSRF header, or a bearer token.
SECURITY: list[dict[str, list[str]]] = [{COOKIE: [], CSRF: []}, {BEARER: []}]


class PublicOperations(BasePlugin):
    """Marks the operations anyone may call (login, health, docs) as needing no credentials."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        for method, operation in operations.items():
            policy = policy_for(self.app, rule.endpoint, method.upper())
            if policy is not None and policy.public:
                operation["security"] = []


def register_problem_responses(spec: APISpec, schema: type[Schema]) -> None:
    """flask-smorest's error response components, answered as problem+json."""
    for status in http.HTTPStatus:
        response: dict[str, Any] = {"description": status.phrase}
        if not 100 <= status < 200 and status not in (204, 304):
            response["schema"] = schema
        prepare_response(response, spec, PROBLEM_JSON)
        spec.components.response(status.name, response, lazy=True)
    default = {"description": "Any error: problem details", "schema": schema}
    prepare_response(default, spec, PROBLEM_JSON)
    spec.components.response("DEFAULT_ERROR", default, lazy=True)


__all__ = ["MarshmallowPlugin", "ProblemSchema", "PublicOperations"]
