"""A gateway's expected signal interval, set or cleared by admins (the roles PUT
/api/v1/gateways/{id}/signal-rate admits) from a silent gateway's incident page or the gateway's
account page, through the same use case: a bad number
shows the form again with its Korean error (never a 500), a stale form is a 412 page, the form
needs the CSRF token, an id that is not an incident is a 404 page, and supervisors, who see the
incident, get neither the form nor the rhythm."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from tests.support.casework import raise_lapse
from tests.support.console import (
    assert_no_personal_data_in_urls,
    console_login,
    csrf_in,
    unlabelled_controls,
)
from tests.support.plan import gateway_incident
from tests.support.staff import make_staff
from welfare.models import AuditEvent, GatewayWatch
from welfare.web import get_database


def _watch(app: Flask, gateway_id: str) -> GatewayWatch | None:
    with get_database(app).new_session() as s:
        return s.scalar(
            select(GatewayWatch).where(GatewayWatch.gateway_id == uuid.UUID(gateway_id))
        )


def _form(page: Any) -> dict[str, str]:
    body = page.get_data(as_text=True).split('id="rate-title"')[-1]  # the rate's own form
    version = re.search(r'name="version" value="(\d+)"', body)
    assert version, "the page has no signal-rate form"
    return {"csrf_token": csrf_in(page), "version": version.group(1)}


def _actions(app: Flask, staff_id: uuid.UUID) -> list[str]:
    with get_database(app).new_session() as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.staff_id == staff_id, AuditEvent.action != "login")
                .order_by(AuditEvent.at, AuditEvent.seq)
            )
        )


def test_an_admin_sets_and_clears_the_interval_from_the_incident_page(
    app: Flask, login_as: Any
) -> None:
    incident = gateway_incident(app, name="독거 어르신 센서 회선")
    api = login_as("admin")
    gateway = api.get(f"/api/v1/gateways/incidents/{incident}").get_json()["gateway_id"]
    admin = console_login(app, api.staff)
    path = f"/incidents/{incident}"

    page = admin.get(path)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert f'action="{path}/signal-rate"' in body and "아직 받은 신호도 없습니다" in body
    assert f'href="/admin/staff/{gateway}"' in body  # the gateway's account, one click away
    assert 'id="expected_interval_minutes"' in body and unlabelled_controls(page) == []
    assert " style=" not in body and "<script>" not in body  # the strict CSP holds
    assert_no_personal_data_in_urls(page, "독거 어르신 센서 회선")

    before = len(_actions(app, api.staff.id))
    saved = admin.post(
        f"{path}/signal-rate",
        data={**_form(page), "expected_interval_minutes": "30", "action": "set"},
    )
    assert saved.status_code == 303, saved.get_data(as_text=True)
    assert saved.headers["Location"] == f"{path}?msg=rate_saved"
    watch = _watch(app, gateway)
    assert watch is not None
    assert (watch.expected_interval_seconds, watch.configured_by) == (1800, api.staff.id)
    assert "update" in _actions(app, api.staff.id)[before:]  # recorded as the API's change
    # The API reads what the console set.
    (listed,) = [
        w
        for w in api.get("/api/v1/gateways/watches").get_json()["items"]
        if w["gateway_id"] == gateway
    ]
    assert listed["expected_interval_seconds"] == 1800

    shown = admin.get(saved.headers["Location"])
    text = shown.get_data(as_text=True)
    assert "신호 간격을 저장했습니다." in text and 'value="30"' in text
    assert "설정한 간격</dt><dd>30분" in text

    cleared = admin.post(f"{path}/signal-rate", data={**_form(shown), "action": "clear"})
    assert cleared.status_code == 303, cleared.get_data(as_text=True)
    assert cleared.headers["Location"] == f"{path}?msg=rate_cleared"
    watch = _watch(app, gateway)
    assert watch is not None and watch.expected_interval_seconds is None
    assert "없음 (신호에서 배움)" in admin.get(path).get_data(as_text=True)


def test_a_bad_number_shows_the_form_again_with_its_korean_error(app: Flask, login_as: Any) -> None:
    incident = gateway_incident(app)
    admin = console_login(app, login_as("admin").staff)
    path = f"/incidents/{incident}"
    page = admin.get(path)
    for typed, says in (
        ("", "필수"),
        ("abc", "정수"),
        ("1.5", "정수"),
        ("0", "1"),
        ("-5", "1"),
        ("10081", "10080"),
        ("99999999999999999999", "10080"),
    ):
        refused = admin.post(
            f"{path}/signal-rate",
            data={**_form(page), "expected_interval_minutes": typed, "action": "set"},
        )
        assert refused.status_code == 422, (typed, refused.status_code)
        body = refused.get_data(as_text=True)
        error = re.search(
            r'<p class="error" id="expected_interval_minutes-error">([^<]*)</p>', body
        )
        assert error and says in error.group(1), (typed, error and error.group(1))
        assert re.search(r"[가-힣]", error.group(1)), typed  # Korean first
        # The same page, its form again with what was typed, ready to correct.
        assert f'action="{path}/signal-rate"' in body and "의존 주민" in body
        assert f'value="{typed}"' in body and 'aria-invalid="true"' in body, typed
        assert _watch(app, admin_gateway(login_as, incident)) is None  # nothing was set


def admin_gateway(login_as: Any, incident: str) -> str:
    api = login_as("admin")
    return str(api.get(f"/api/v1/gateways/incidents/{incident}").get_json()["gateway_id"])


def test_a_stale_form_is_refused_and_the_form_needs_its_token(app: Flask, login_as: Any) -> None:
    incident = gateway_incident(app)
    admin = console_login(app, login_as("admin").staff)
    path = f"/incidents/{incident}"
    page = admin.get(path)
    form = {**_form(page), "expected_interval_minutes": "20", "action": "set"}
    no_token = admin.post(f"{path}/signal-rate", data={**form, "csrf_token": ""})
    assert no_token.status_code == 403 and "CSRF" in no_token.get_data(as_text=True)
    assert admin.post(f"{path}/signal-rate", data=form).status_code == 303
    # The same form again: someone set it meanwhile (the watch moved on from version 0).
    stale = admin.post(f"{path}/signal-rate", data={**form, "expected_interval_minutes": "45"})
    assert stale.status_code == 412 and stale.mimetype == "text/html"
    gateway = admin_gateway(login_as, incident)
    watch = _watch(app, gateway)
    assert watch is not None and watch.expected_interval_seconds == 1200  # not overwritten


def test_only_admins_get_the_form_and_only_an_incident_names_a_gateway(
    app: Flask, login_as: Any
) -> None:
    incident = gateway_incident(app)
    path = f"/incidents/{incident}"
    supervisor = console_login(app, login_as("supervisor").staff)
    page = supervisor.get(path)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "signal-rate" not in body and "신호 간격" not in body
    assert "/admin/staff/" not in body  # no link to a page the supervisor may not open
    refused = supervisor.post(
        f"{path}/signal-rate",
        data={"csrf_token": csrf_in(page), "expected_interval_minutes": "30", "version": "0"},
    )
    assert refused.status_code == 403
    assert _watch(app, admin_gateway(login_as, incident)) is None

    admin = console_login(app, login_as("admin").staff)
    token = csrf_in(admin.get(path))
    lapse = raise_lapse(app, login_as("counselor"))  # a follow-up, but not a gateway's incident
    for other in (str(uuid.uuid4()), lapse):
        missing = admin.post(
            f"/incidents/{other}/signal-rate",
            data={"csrf_token": token, "expected_interval_minutes": "30", "version": "0"},
        )
        assert missing.status_code == 404, other
        assert "찾을 수 없습니다" in missing.get_data(as_text=True)


def test_the_gateways_account_page_has_the_same_form(app: Flask, login_as: Any) -> None:
    """An admin configures a gateway before it ever falls silent, from its account page."""
    gateway = make_staff(app, "gateway", display_name="경로당 센서")
    api = login_as("admin")
    admin = console_login(app, api.staff)
    path = f"/admin/staff/{gateway.id}"
    action = f"/admin/gateways/{gateway.id}/signal-rate"
    page = admin.get(path)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert f'action="{action}"' in body and unlabelled_controls(page) == []
    assert " style=" not in body and "<script>" not in body

    refused = admin.post(
        action,
        data={**_form(page), "expected_interval_minutes": "7일", "action": "set"},
    )
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "정수여야 합니다" in text and 'value="7일"' in text and gateway.username in text
    assert _watch(app, str(gateway.id)) is None

    saved = admin.post(
        action,
        data={**_form(page), "expected_interval_minutes": "1440", "action": "set"},
    )
    assert saved.status_code == 303 and saved.headers["Location"] == f"{path}?msg=rate_saved"
    shown = admin.get(saved.headers["Location"]).get_data(as_text=True)
    assert "설정한 간격</dt><dd>1일" in shown and 'value="1440"' in shown
    watch = _watch(app, str(gateway.id))
    assert watch is not None and watch.expected_interval_seconds == 86400

    # A person's account has no rhythm: no form, and posting one anyway is a 404 page.
    person = login_as("counselor").staff.id
    assert "signal-rate" not in admin.get(f"/admin/staff/{person}").get_data(as_text=True)
    missing = admin.post(
        f"/admin/gateways/{person}/signal-rate",
        data={"csrf_token": csrf_in(page), "expected_interval_minutes": "30", "version": "0"},
    )
    assert missing.status_code == 404 and "찾을 수 없습니다" in missing.get_data(as_text=True)
    no_token = admin.post(action, data={"expected_interval_minutes": "30"})
    assert no_token.status_code == 403
