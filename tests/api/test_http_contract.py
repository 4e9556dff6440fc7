"""Every error is problem+json; bad bodies get a clear 4xx, never a 500."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import flask_smorest
import pytest
from flask import Flask
from flask.views import MethodView
from marshmallow import Schema, fields

from tests.support.staff import GASAN
from welfare.api.blueprint import Blueprint
from welfare.api.policy import public
from welfare.web import get_settings

PROBLEM = "application/problem+json"


class EchoIn(Schema):
    name = fields.String(required=True)
    count = fields.Integer(required=True)


@pytest.fixture
def echo_app(app: Flask) -> Flask:
    """A JSON endpoint built with the same machinery as the real routes."""
    blp = Blueprint("echo", __name__, url_prefix="/api/v1/_test")

    @blp.route("/echo")
    class Echo(MethodView):
        @public
        @blp.arguments(EchoIn)
        @blp.response(200, EchoIn)
        def post(self, payload: dict[str, Any]) -> dict[str, Any]:
            return payload

    @blp.route("/boom")
    class Boom(MethodView):
        @public
        def get(self) -> None:
            secret = "-".join(["900101", "1234567"])
            raise RuntimeError(f"secret value {secret} must not leak")

    app.extensions["welfare.api"].register_blueprint(blp)
    return app


def test_a_valid_body_is_accepted(echo_app: Flask) -> None:
    response = echo_app.test_client().post("/api/v1/_test/echo", json={"name": "a", "count": 1})
    assert response.status_code == 200
    assert response.get_json() == {"name": "a", "count": 1}


def test_malformed_json_gets_a_problem_400(echo_app: Flask) -> None:
    response = echo_app.test_client().post(
        "/api/v1/_test/echo", data='{"name": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["code"] == "malformed_json"
    assert body["status"] == 400
    assert body["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "body",
    [
        "[" * 50_000,  # deep enough to exhaust json.loads' recursion
        '{"name":' * 50_000,
        "1" * 5_000,  # past Python's 4300-digit limit for int conversion
        '{"name": "a", "count": -' + "9" * 5_000 + "}",
    ],
    ids=["nested-arrays", "nested-objects", "long-integer", "long-integer-field"],
)
def test_json_python_cannot_decode_gets_a_problem_400(echo_app: Flask, body: str) -> None:
    response = echo_app.test_client().post(
        "/api/v1/_test/echo", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.mimetype == PROBLEM
    assert response.get_json()["code"] == "malformed_json"


def test_every_api_blueprint_parses_json_with_the_welfare_parser(app: Flask) -> None:
    plain = [
        name
        for name, blueprint in app.blueprints.items()
        if isinstance(blueprint, flask_smorest.Blueprint) and not isinstance(blueprint, Blueprint)
    ]
    assert plain == [], "use welfare.api.blueprint.Blueprint, not flask_smorest.Blueprint"


def test_a_wrong_content_type_gets_a_problem_415(echo_app: Flask) -> None:
    response = echo_app.test_client().post(
        "/api/v1/_test/echo",
        data="name=a&count=1",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.mimetype == PROBLEM
    assert response.get_json()["code"] == "unsupported_media_type"


def test_an_oversized_body_gets_a_problem_413(echo_app: Flask) -> None:
    limit = get_settings(echo_app).max_body_bytes
    payload = '{"name": "' + "x" * (limit + 10) + '", "count": 1}'
    response = echo_app.test_client().post(
        "/api/v1/_test/echo", data=payload, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.mimetype == PROBLEM
    assert response.get_json()["code"] == "body_too_large"


def test_field_errors_come_back_as_a_problem_422(echo_app: Flask) -> None:
    response = echo_app.test_client().post(
        "/api/v1/_test/echo", json={"name": 5, "unexpected": True}
    )
    assert response.status_code == 422
    body = response.get_json()
    assert response.mimetype == PROBLEM
    assert body["code"] == "validation_failed"
    assert set(body["errors"]) == {"name", "count", "unexpected"}


def test_an_unknown_path_gets_a_problem_404(client: Any) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert response.get_json()["code"] == "not_found"


def test_a_wrong_method_gets_a_problem_405_with_allow(client: Any) -> None:
    response = client.delete("/api/v1/dongs")
    assert response.status_code == 405
    assert response.mimetype == PROBLEM
    assert "GET" in response.headers["Allow"]


def test_an_unexpected_error_is_a_generic_500_without_details(
    echo_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    response = echo_app.test_client().get("/api/v1/_test/boom")
    assert response.status_code == 500
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["code"] == "internal_error"
    assert body["request_id"]
    assert "900101" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    assert "900101" not in caplog.text
    assert any(getattr(r, "error_type", None) == "RuntimeError" for r in caplog.records)


def test_a_sane_inbound_request_id_is_kept_and_a_bad_one_replaced(client: Any) -> None:
    kept = client.get("/healthz", headers={"X-Request-ID": "abc12345-def"})
    assert kept.headers["X-Request-ID"] == "abc12345-def"
    replaced = client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert replaced.headers["X-Request-ID"] != "<script>"
    assert len(replaced.headers["X-Request-ID"]) == 32


def test_api_responses_carry_security_headers(login_as: Any) -> None:
    response = login_as("counselor").get("/api/v1/dongs")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_a_field_named_with_a_lone_surrogate_gets_a_problem_422(echo_app: Flask) -> None:
    # Valid JSON, but "\ud800" cannot be encoded as UTF-8; the field name is echoed back.
    response = echo_app.test_client().post(
        "/api/v1/_test/echo",
        data='{"name": "a", "count": 1, "\\ud800": 2}',
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert response.get_json()["errors"] == {"\ud800": ["Unknown field."]}


RRN_AND_DONG = {"rrn": "900101-1234568", "dong": GASAN}
SIGNAL = {"kind": "sensor_activity", "source_ref": "d-1", "occurred_at": "2026-01-01T00:00Z"}
# (role, method, url, JSON body with {bad} where the text goes, the field named in the errors)
TEXT_INPUTS = [
    ("counselor", "POST", "/api/v1/residents/search", {"name": "{bad}"}, "name"),
    ("counselor", "POST", "/api/v1/residents", {**RRN_AND_DONG, "name": "{bad}"}, "name"),
    ("admin", "POST", "/api/v1/staff", {"username": "{bad}", "role": "counselor"}, "username"),
    ("gateway", "POST", "/api/v1/signals", {"events": [{**SIGNAL, "event_id": "{bad}"}]}, "events"),
    (None, "POST", "/api/v1/auth/login", {"username": "{bad}", "password": "x"}, "username"),
    (None, "POST", "/api/v1/auth/login", {"username": "u", "password": "{bad}"}, "password"),
]
# A URL carries no lone surrogate (its bytes decode as UTF-8 with replacement), but it can NUL.
QUERY_INPUTS = [
    ("counselor", "GET", "/api/v1/followups?program={bad}", None, "program"),
    ("supervisor", "GET", "/api/v1/scheduler/runs?job={bad}", None, "job"),
    ("supervisor", "GET", "/api/v1/audit/events?cursor={bad}", None, "cursor"),
]


@pytest.mark.parametrize(
    ("bad", "case"),
    [(bad, case) for bad in ("a\x00b", "a\ud800b") for case in TEXT_INPUTS]
    + [("a\x00b", case) for case in QUERY_INPUTS],
)
def test_text_with_a_nul_or_a_lone_surrogate_is_a_field_error(
    app: Flask, login_as: Any, bad: str, case: tuple[Any, ...]
) -> None:
    """PostgreSQL text cannot hold NUL and UTF-8 cannot encode a lone surrogate: both are
    refused where they come in, on every backend, instead of failing in the database."""
    role, method, url, body, field = case
    client = login_as(role, () if role == "admin" else (GASAN,)) if role else app.test_client()
    if body is None:
        response = client.open(url.format(bad=quote(bad)), method=method)
    else:
        text = json.dumps(body).replace("{bad}", json.dumps(bad)[1:-1])
        response = client.open(url, method=method, data=text, content_type="application/json")
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == PROBLEM
    assert field in response.get_json()["errors"]


def test_the_text_check_is_added_once_per_bound_field() -> None:
    from welfare.api.schemas import plain_text
    from welfare.api.staff import DONG, StaffCreateIn

    for _ in range(3):
        schema = StaffCreateIn()
    assert schema.fields["dongs"].inner.validators.count(plain_text) == 1  # type: ignore[attr-defined]  # a List
    assert schema.fields["username"].validators.count(plain_text) == 1
    assert plain_text not in DONG.validators  # the declared field is left as it was


# Times with an offset whose UTC equivalent is outside Python's datetime range.
UNCONVERTIBLE = ["0001-01-01T00:00:00+09:00", "9999-12-31T23:59:59-09:00"]


@pytest.mark.parametrize("instant", UNCONVERTIBLE)
def test_a_time_without_a_utc_equivalent_is_a_field_error(
    app: Flask, login_as: Any, instant: str
) -> None:
    counselor = login_as("counselor")
    resident = counselor.post(
        "/api/v1/residents", json={**RRN_AND_DONG, "name": "김영희"}
    ).get_json()["id"]
    contact = {"resident_id": resident, "channel": "phone", "outcome": "reached"}
    cases = [
        (counselor, "POST", "/api/v1/contacts", {**contact, "occurred_at": instant}, "occurred_at"),
        (
            counselor,
            "POST",
            "/api/v1/ongi/enrollments",
            {"resident_id": resident, "risk_level": "high", "enrolled_at": instant},
            "enrolled_at",
        ),
        (
            login_as("gateway"),
            "POST",
            "/api/v1/signals",
            {"events": [{**SIGNAL, "event_id": "e-1", "occurred_at": instant}]},
            "events",
        ),
        (login_as("supervisor"), "GET", "/api/v1/audit/events", {"since": instant}, "since"),
        (login_as("supervisor"), "GET", "/api/v1/audit/events", {"until": instant}, "until"),
    ]
    for client, method, url, body, field in cases:
        if method == "GET":
            response = client.get(url, query_string=body)
        else:
            response = client.open(url, method=method, json=body)
        assert response.status_code == 422, (url, response.get_json())
        assert field in response.get_json()["errors"], (url, response.get_json())


@pytest.mark.parametrize(
    ("if_match", "status", "code"),
    [
        (None, 428, "precondition_required"),
        ("*", 428, "if_match_wildcard"),
        ("v1", 400, "if_match_malformed"),  # the ETag without its quotes
        ('"v1", "v2"', 400, "if_match_malformed"),
        ("garbage", 400, "if_match_malformed"),
        ('"v99"', 412, "precondition_failed"),  # well formed, but someone else's version
    ],
)
def test_if_match_errors_say_what_was_wrong(
    login_as: Any, if_match: str | None, status: int, code: str
) -> None:
    client = login_as("counselor")
    created = client.post(
        "/api/v1/residents", json={"name": "이순자", "rrn": "400101-1234567", "dong": GASAN}
    )
    headers = {} if if_match is None else {"If-Match": if_match}
    url = f"/api/v1/residents/{created.get_json()['id']}"
    response = client.patch(url, json={"address": "가산로 1"}, headers=headers)
    assert (response.status_code, response.get_json()["code"]) == (status, code)
    if status in (400, 428) and if_match is not None:
        assert "ETag" in response.get_json()["detail"]
    good = client.patch(url, json={"address": "가산로 1"}, headers={"If-Match": '"v1"'})
    assert good.status_code == 200  # nothing was written by the refused attempts
