"""Every console page, walked from the URL map: each GET page answers 200 to a role it admits,
in Korean with the strict headers, without inline script or style, and with no personal data in
any URL it generates; a forged cursor is a 422 page; every form post needs the CSRF token."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from tests.api.test_route_policies import routes
from tests.support.casework import care_request, open_case, raise_lapse, register, unique_rrn
from tests.support.console import (
    assert_no_personal_data_in_urls,
    console_login,
    unlabelled_controls,
)
from tests.support.kimchi import allocated, campaign
from tests.support.mobility import at, book, eligible, seoul_day
from tests.support.plan import (
    dispatch_request,
    external_referral,
    first_visit,
    gateway_incident,
    hygiene_enrollment,
)
from welfare.api.policy import Policy, policy_for
from welfare.models import Role

PREFERRED = (Role.COUNSELOR, Role.SUPERVISOR, Role.OUTREACH, Role.ADMIN)
# Pages that are also opened from a resident's page, with the query they are opened with.
FROM_A_PAGE = {
    "/dispatches/new": ("resident_id={resident_id}",),
    "/hygiene/new": ("resident_id={resident_id}",),
    "/referrals/new": ("resident_id={resident_id}",),
}
NAME, PHONE = "윤모든", "010-7777-1234"


def console_routes(app: Flask) -> list[tuple[str, str, str]]:
    return [r for r in routes(app) if r[0].startswith("console.") and r[0] != "console.static"]


def test_every_get_page_renders_for_a_role_it_admits(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    rrn = unique_rrn()
    resident = register(api, name=NAME, phone=PHONE, rrn=rrn)["id"]
    c = campaign(login_as("supervisor"))
    allocation = allocated(api, c["id"], resident)["id"]
    route = api.post(
        f"/api/v1/kimchi/campaigns/{c['id']}/routes",
        json={"name": "1회차", "delivery_on": c["starts_on"], "allocation_ids": [allocation]},
    )
    assert route.status_code == 201, route.get_json()
    enrollment = hygiene_enrollment(api, resident)["id"]
    ids = {
        "dispatch_id": dispatch_request(api, address="서울 금천구 가산로 99")["id"],
        "enrollment_id": enrollment,
        "visit_id": first_visit(api, enrollment)["id"],
        "referral_id": external_referral(api, resident)["id"],
        "incident_id": gateway_incident(app),
        "campaign_id": c["id"],
        "route_id": route.get_json()["id"],
        "allocation_id": allocation,
        "resident_id": resident,
        "case_id": open_case(api, resident, "ongi").get_json()["id"],
        "request_id": care_request(api, resident_id=resident).get_json()["id"],
        "followup_id": raise_lapse(app, api),
        "staff_id": str(api.staff.id),
        "ride_id": book(api, eligible(api), at(seoul_day(1), 10))["id"],
    }
    clients: dict[Role, Any] = {}
    checked = []
    for endpoint, method, rule in console_routes(app):
        if method != "GET":
            continue
        policy = policy_for(app, endpoint, method)
        assert isinstance(policy, Policy)
        if policy.public:
            client = app.test_client()
        else:
            role = next(r for r in PREFERRED if policy.allows(r))
            if role not in clients:
                member = api.staff if role is Role.COUNSELOR else None
                clients[role] = (
                    console_login(app, member) if member else _console(app, login_as, role)
                )
            client = clients[role]
        path = re.sub(r"<uuid:(\w+)>", lambda m: str(ids[m.group(1)]), rule)
        # A form opened from a resident's page names them by an opaque id: both ways render.
        variants = [path] + [f"{path}?{q.format(**ids)}" for q in FROM_A_PAGE.get(rule, ())]
        for shown in variants:
            response = client.get(shown)
            assert response.status_code == 200, (shown, response.status_code)
            body = response.get_data(as_text=True)
            assert '<html lang="ko">' in body, shown
            assert "<script>" not in body and "<style" not in body and " style=" not in body, shown
            assert "unsafe-inline" not in response.headers["Content-Security-Policy"], shown
            assert response.headers["Cache-Control"] == "no-store", shown
            # Every form carries the session's own token (a form without it would be refused).
            tokens = set(re.findall(r'name="csrf_token" value="([^"]*)"', body))
            if not policy.public:
                assert tokens <= {csrf_token(client)}, shown
            assert_no_personal_data_in_urls(response, NAME, PHONE, rrn, PHONE.replace("-", ""))
            assert unlabelled_controls(response) == [], shown  # every field has its label
        checked.append(rule)
    assert len(checked) >= 12


def csrf_token(client: Any) -> str:
    token: str = client.get("/api/v1/auth/me").get_json()["csrf_token"]
    return token


def _console(app: Flask, login_as: Any, role: Role) -> Any:
    return console_login(app, login_as(str(role)).staff)


def test_every_form_post_needs_the_csrf_token(app: Flask, login_as: Any) -> None:
    """No post of any console form is served without the session's CSRF token (the login
    form has its own double-submit check, tested with the login)."""
    clients = {
        role: console_login(app, login_as(str(role)).staff)
        for role in (Role.COUNSELOR, Role.SUPERVISOR, Role.ADMIN)
    }
    checked = []
    for endpoint, method, rule in console_routes(app):
        if method != "POST" or endpoint == "console.login.submit":
            continue
        policy = policy_for(app, endpoint, method)
        assert isinstance(policy, Policy)
        assert policy.form_csrf, rule
        role = next(r for r in clients if policy.allows(r))
        path = re.sub(r"<uuid:\w+>", "00000000-0000-4000-8000-000000000000", rule)
        response = clients[role].post(path, data={"note": "x"})
        assert response.status_code == 403, (rule, response.status_code)
        assert "CSRF" in response.get_data(as_text=True), rule
        checked.append(rule)
    assert len(checked) >= 15


def test_a_forged_cursor_is_a_422_page(app: Flask, login_as: Any) -> None:
    client = console_login(app, login_as("counselor").staff)
    for path in ("/", "/cases", "/care", "/care/handover"):
        response = client.get(path, query_string={"cursor": "not-a-cursor"})
        assert response.status_code == 422, path
        assert response.mimetype == "text/html", path


def test_each_session_gets_its_own_csrf_token_in_every_form(app: Flask, login_as: Any) -> None:
    """Forms rendered for one member never carry another's token (a template cached with the
    first request's context would hand the first member's token to everyone after)."""
    api = login_as("counselor")
    raise_lapse(app, api)
    first = console_login(app, api.staff)
    second = console_login(app, login_as("counselor").staff)
    for client in (first, second, first):
        body = client.get("/").get_data(as_text=True)
        tokens = set(re.findall(r'name="csrf_token" value="([^"]*)"', body))
        assert tokens == {csrf_token(client)}
