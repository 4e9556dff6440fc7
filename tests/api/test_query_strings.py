"""A query parameter a route does not declare is a 422 on every route, naming the parameter and
never echoing its value; nothing logs it. Personal data in a URL is refused, not ignored."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from flask import Flask, request
from sqlalchemy import select
from werkzeug.exceptions import UnprocessableEntity

from tests.api.test_route_policies import routes
from tests.support.casework import register
from tests.support.staff import GASAN
from welfare.api.blueprint import JsonParser
from welfare.api.policy import Policy, policy_for
from welfare.api.residents import ResidentListArgs
from welfare.models import AuditEvent, Role
from welfare.web import get_database

CANARY = "카나리아홍길동"
UNKNOWN = ["알 수 없는 항목입니다 (unknown field)"]
SAMPLE_UUID = "00000000-0000-4000-8000-000000000000"
# Roles by preference, so each route is called by someone its policy lets through.
ROLES = (Role.SUPERVISOR, Role.COUNSELOR, Role.OUTREACH, Role.ADMIN, Role.GATEWAY)


def concrete(rule: str) -> str:
    path = re.sub(r"<uuid:[a-z_]+>", SAMPLE_UUID, rule)
    return re.sub(r"<(?:path:)?[a-z_]+>", "x", path)


def all_log_text(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    records = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    captured = capsys.readouterr()
    return records + captured.err + captured.out


def test_every_get_route_refuses_an_unknown_query_parameter(
    app: Flask, login_as: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    clients: dict[Role, Any] = {}
    checked = []
    for endpoint, method, rule in routes(app):
        if method != "GET":
            continue
        policy = policy_for(app, endpoint, method)
        assert isinstance(policy, Policy)
        if policy.public:
            client = app.test_client()
        else:
            role = next(r for r in ROLES if policy.allows(r))
            if role not in clients:
                clients[role] = login_as(str(role), (GASAN,))
            client = clients[role]
        response = client.get(concrete(rule), query_string={"name": CANARY})
        assert response.status_code == 422, (rule, response.status_code)
        if endpoint.startswith("console."):  # a console page answers with an HTML page
            assert response.mimetype == "text/html", rule
            assert UNKNOWN[0] in response.get_data(as_text=True), rule
        else:
            assert response.mimetype == "application/problem+json", rule
            assert response.get_json()["errors"] == {"name": UNKNOWN}, rule
        assert CANARY not in response.get_data(as_text=True), rule
        checked.append(rule)
    assert len(checked) >= 15
    assert {"/healthz", "/api/v1/residents", "/api/v1/openapi.json", "/"} <= set(checked)
    assert CANARY not in all_log_text(caplog, capsys)


def test_personal_data_in_the_resident_list_url_is_refused_and_recorded_nowhere(
    app: Flask, login_as: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    client = login_as("counselor")
    register(client, name="홍길동")
    for query in (
        {"name": CANARY},
        {"name": CANARY, "dong": GASAN, "limit": "10"},  # declared ones do not let it through
        {"phone": CANARY, "rrn": CANARY},
        {CANARY: "x"},  # the name is all a 422 repeats
    ):
        response = client.get("/api/v1/residents", query_string=query)
        assert response.status_code == 422, query
        errors = response.get_json()["errors"]
        assert set(errors) == set(query) - {"dong", "limit"}
        assert all(messages == UNKNOWN for messages in errors.values())
        if CANARY not in query:
            assert CANARY not in response.get_data(as_text=True)
    with get_database(app).new_session() as s:
        audit = json.dumps([str(e.__dict__) for e in s.scalars(select(AuditEvent))])
    assert CANARY not in audit
    assert CANARY not in all_log_text(caplog, capsys)


def test_a_bad_value_of_a_declared_parameter_is_named_but_not_repeated(login_as: Any) -> None:
    client = login_as("supervisor")
    for url, query in (
        ("/api/v1/residents", {"dong": CANARY}),
        ("/api/v1/residents", {"limit": CANARY}),
        ("/api/v1/residents", {"cursor": CANARY}),
        ("/api/v1/followups", {"state": CANARY}),
        ("/api/v1/followups", {"assignee": CANARY}),
        ("/api/v1/audit/events", {"since": CANARY}),
    ):
        response = client.get(url, query_string=query)
        assert response.status_code == 422, (url, query)
        assert list(response.get_json()["errors"]) == list(query)
        assert CANARY not in response.get_data(as_text=True), (url, query)


def test_an_anonymous_caller_is_told_to_log_in_before_anything_about_its_query(
    app: Flask,
) -> None:
    response = app.test_client().get("/api/v1/residents", query_string={"name": CANARY})
    assert response.status_code == 401


def test_the_query_parser_itself_raises_on_unknown_parameters(app: Flask) -> None:
    """A second line behind the route check: webargs would otherwise drop them silently."""
    with (
        app.test_request_context("/api/v1/residents?name=x"),
        pytest.raises(UnprocessableEntity) as raised,
    ):
        JsonParser().parse(ResidentListArgs(), request, location="query")
    assert raised.value.data["messages"] == {"query": {"name": UNKNOWN}}  # type: ignore[attr-defined]  # webargs attaches data
