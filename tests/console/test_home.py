"""Home: my dongs' follow-ups, oldest due first, with who, why, risk, step and age; claim,
assign and resolve through forms that need the session's CSRF token; filters; scoping."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.support.casework import raise_lapse
from tests.support.console import (
    assert_no_personal_data_in_urls,
    console_as,
    console_login,
    csrf_of,
    post_form,
)
from tests.support.staff import DOKSAN1, GASAN, make_staff


def _followup(api: FlaskClient, followup_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/followups/{followup_id}")
    assert response.status_code == 200
    return dict(response.get_json())


def test_home_lists_my_dongs_followups_with_who_and_why(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    mine = raise_lapse(app, api)
    other_api = login_as("counselor", dongs=(DOKSAN1,))
    theirs = raise_lapse(app, other_api, DOKSAN1)
    client = console_login(app, api.staff)
    response = client.get("/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert f"/followups/{mine}" in body
    assert f"/followups/{theirs}" not in body
    assert "연락 두절" in body and "이순자" in body and "위험 높음" in body and "1단계" in body
    assert response.headers["Cache-Control"] == "no-store"
    assert_no_personal_data_in_urls(response, "이순자")


def test_home_records_the_page_it_showed(app: Flask, login_as: Any) -> None:
    api = login_as("supervisor")
    followup = raise_lapse(app, api)
    resident = _followup(api, followup)["resident_id"]
    client = console_login(app, api.staff)
    assert client.get("/").status_code == 200
    records = api.get("/api/v1/audit/events", query_string={"resident_id": resident})
    actions = [r["action"] for r in records.get_json()["items"]]
    assert "search" in actions


def test_claim_assign_and_resolve_through_the_forms(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    followup = raise_lapse(app, api)
    colleague = make_staff(app, "outreach", (GASAN,), display_name="박방문")
    client = console_login(app, api.staff)

    claimed = post_form(client, f"/followups/{followup}/claim", {"next": "/?when=overdue"})
    assert claimed.status_code == 303
    assert claimed.headers["Location"] == "/?when=overdue&msg=claimed"
    assert _followup(api, followup)["assignee_id"] == str(api.staff.id)
    assert "맡았습니다" in client.get("/?msg=claimed").get_data(as_text=True)

    page = client.get("/").get_data(as_text=True)
    assert "박방문 (방문 요원)" in page
    assigned = post_form(client, f"/followups/{followup}/assign", {"assignee_id": colleague.id})
    assert assigned.status_code == 303
    assert _followup(api, followup)["assignee_id"] == str(colleague.id)

    resolved = post_form(
        client,
        f"/followups/{followup}/resolve",
        {"outcome": "confirmed_safe", "channel": "visit", "note": "방문해 안부 확인"},
    )
    assert resolved.status_code == 303
    done = _followup(api, followup)
    assert done["state"] == "resolved" and done["outcome"] == "confirmed_safe"
    assert done["events"][-1]["note"] == "방문해 안부 확인"
    assert f"/followups/{followup}/claim" not in client.get("/").get_data(as_text=True)


def test_every_form_is_refused_without_the_csrf_token(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    followup = raise_lapse(app, api)
    client = console_login(app, api.staff)
    for action, data in (
        ("claim", {}),
        ("assign", {"assignee_id": str(api.staff.id)}),
        ("resolve", {"outcome": "false_alarm"}),
    ):
        refused = client.post(f"/followups/{followup}/{action}", data=data)
        assert refused.status_code == 403, action
        assert "CSRF" in refused.get_data(as_text=True)
        wrong = client.post(
            f"/followups/{followup}/{action}", data={**data, "csrf_token": "forged"}
        )
        assert wrong.status_code == 403, action
    after = _followup(api, followup)
    assert after["assignee_id"] is None and after["state"] == "open"


def test_a_bad_outcome_is_a_korean_422_page_and_changes_nothing(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    followup = raise_lapse(app, api)
    client = console_login(app, api.staff)
    response = post_form(client, f"/followups/{followup}/resolve", {"outcome": "made_up"})
    assert response.status_code == 422
    assert "입력을 확인하세요" in response.get_data(as_text=True)
    assert _followup(api, followup)["state"] == "open"


def test_an_out_of_scope_followup_is_a_404_page(app: Flask, login_as: Any) -> None:
    other = login_as("counselor", dongs=(DOKSAN1,))
    followup = raise_lapse(app, other, DOKSAN1)
    client = console_as(app, "counselor", (GASAN,))
    for response in (
        client.get(f"/followups/{followup}"),
        post_form(client, f"/followups/{followup}/claim"),
    ):
        assert response.status_code == 404
        assert "찾을 수 없습니다" in response.get_data(as_text=True)
        assert response.mimetype == "text/html"
    assert _followup(other, followup)["assignee_id"] is None


def test_the_followup_page_shows_its_history(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    followup = raise_lapse(app, api)
    client = console_login(app, api.staff)
    post_form(client, f"/followups/{followup}/claim")
    response = client.get(f"/followups/{followup}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "발생" in body and "맡음" in body
    assert_no_personal_data_in_urls(response, "이순자")


def test_filters_narrow_the_queue_and_unknown_parameters_are_refused(
    app: Flask, login_as: Any
) -> None:
    api = login_as("counselor")
    followup = raise_lapse(app, api)
    client = console_login(app, api.staff)
    assert f"/followups/{followup}" in client.get("/?when=overdue").get_data(as_text=True)
    assert f"/followups/{followup}" not in client.get("/?when=upcoming").get_data(as_text=True)
    assert f"/followups/{followup}" not in client.get("/?whose=mine").get_data(as_text=True)
    assert f"/followups/{followup}" not in client.get("/?reason=ride_no_show").get_data(
        as_text=True
    )
    assert client.get("/?name=이순자").status_code == 422


def test_outreach_workers_cannot_assign(app: Flask, login_as: Any) -> None:
    api = login_as("outreach")
    followup = raise_lapse(app, login_as("counselor"))
    client = console_login(app, api.staff)
    assert "담당 지정" not in client.get("/").get_data(as_text=True)
    refused = post_form(client, f"/followups/{followup}/assign", {"assignee_id": api.staff.id})
    assert refused.status_code == 403


def test_admins_and_tokens_get_no_queue(app: Flask, login_as: Any) -> None:
    admin = console_as(app, "admin")
    assert admin.get("/").status_code == 403
    gateway = login_as("gateway")
    assert gateway.get("/").status_code == 403


def test_static_files_are_ours_cacheable_and_htmx_is_the_vendored_release(client: Any) -> None:
    import hashlib

    htmx = client.get("/static/vendor/htmx/htmx.min.js")
    assert htmx.status_code == 200
    assert hashlib.sha256(htmx.data).hexdigest() == (
        "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
    )
    assert "no-store" not in htmx.headers["Cache-Control"]
    htmx.close()
    for path in ("/static/vendor/htmx/LICENSE", "/static/console.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()
    assert client.get("/static/../app.py").status_code == 404


def test_pages_use_no_inline_script_or_style(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    raise_lapse(app, api)
    client = console_login(app, api.staff)
    body = client.get("/").get_data(as_text=True)
    assert "<script>" not in body and "<style" not in body and " style=" not in body
    assert " on" + "click=" not in body
    assert csrf_of(client)
