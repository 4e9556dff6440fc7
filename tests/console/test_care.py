"""The 24-hour care center in the console: the board by deadline with time left, taking a
request, responding, handing over, recording the outcome, and the handover view."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.support.casework import care_request
from tests.support.console import (
    assert_no_personal_data_in_urls,
    console_as,
    console_login,
    post_form,
)
from tests.support.staff import DOKSAN1, GASAN, make_staff


def test_the_board_shows_open_requests_with_time_left(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    request_id = care_request(api).get_json()["id"]
    other = care_request(login_as("counselor", dongs=(DOKSAN1,)), DOKSAN1).get_json()["id"]
    client = console_login(app, api.staff)
    board = client.get("/care")
    assert board.status_code == 200
    body = board.get_data(as_text=True)
    assert f"/care/{request_id}" in body and f"/care/{other}" not in body
    assert "남음" in body and "긴급" in body
    assert_no_personal_data_in_urls(board, "이웃 김씨", "010-3456-7890")
    handover = client.get("/care/handover")
    assert handover.status_code == 200 and f"/care/{request_id}" in handover.get_data(as_text=True)
    assert client.get(f"/care/{other}").status_code == 404


def test_respond_hand_over_and_close_a_request(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    request_id = care_request(api).get_json()["id"]
    colleague = make_staff(app, "outreach", (GASAN,), display_name="이교대")
    client = console_login(app, api.staff)
    version = api.get(f"/api/v1/care-requests/{request_id}").headers["ETag"].strip('"v')
    responded = post_form(
        client, f"/care/{request_id}/respond", {"note": "현장 확인 중", "version": version}
    )
    assert responded.status_code == 303
    assert api.get(f"/api/v1/care-requests/{request_id}").get_json()["state"] == "responded"
    stale = post_form(
        client, f"/care/{request_id}/handover", {"assignee_id": colleague.id, "version": version}
    )
    assert stale.status_code == 412
    handed = post_form(
        client, f"/care/{request_id}/handover", {"assignee_id": colleague.id, "note": "야간조"}
    )
    assert handed.status_code == 303
    assert api.get(f"/api/v1/care-requests/{request_id}").get_json()["assignee_id"] == str(
        colleague.id
    )
    closed = post_form(client, f"/care/{request_id}/outcome", {"outcome": "handled"})
    assert closed.status_code == 303
    assert api.get(f"/api/v1/care-requests/{request_id}").get_json()["state"] == "done"
    assert f"/care/{request_id}" not in client.get("/care").get_data(as_text=True)


def test_take_a_request_by_phone(app: Flask) -> None:
    client = console_as(app, "outreach")
    assert client.get("/care/new").status_code == 200
    response = post_form(
        client,
        "/care/new",
        {
            "dong": GASAN,
            "care_type": "elder_care",
            "urgency": "urgent",
            "summary": "혼자 계신 어르신 식사 도움",
            "caller_phone": "010-2222-3333",
        },
    )
    assert response.status_code == 303
    assert_no_personal_data_in_urls(response, "010-2222-3333")
    assert client.get(response.headers["Location"]).status_code == 200


def test_care_forms_need_the_csrf_token(app: Flask, login_as: Any) -> None:
    api = login_as("counselor")
    request_id = care_request(api).get_json()["id"]
    client = console_as(app)
    for action, data in (
        ("respond", {"note": "x"}),
        ("handover", {"assignee_id": str(api.staff.id)}),
        ("outcome", {"outcome": "handled"}),
    ):
        assert client.post(f"/care/{request_id}/{action}", data=data).status_code == 403, action
    assert client.post("/care/new", data={"dong": GASAN}).status_code == 403
