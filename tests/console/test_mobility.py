"""Mobility in the console: the day's board by vehicle and time with the unassigned rides and
the no-shows to review, assigning (supervisors) and recording outcomes through forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask

from tests.support.console import assert_no_personal_data_in_urls, console_login, post_form
from tests.support.mobility import at, book, driver, eligible, make_current, seoul_day, vehicle
from tests.support.staff import DOKSAN1


def test_the_board_assign_and_a_no_show(app: Flask, login_as: Any) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    day = seoul_day(1)
    start = at(day, 10)
    ride = book(counselor, eligible(counselor, name="문이동"), start)
    car, chauffeur = vehicle(supervisor), driver(supervisor, "정기사")
    other = login_as("counselor", dongs=(DOKSAN1,))
    theirs = book(other, eligible(other, DOKSAN1), at(day, 11))

    board_client = console_login(app, supervisor.staff)
    board = board_client.get(f"/mobility?date={day.isoformat()}")
    assert board.status_code == 200
    body = board.get_data(as_text=True)
    assert f"/mobility/rides/{ride['id']}" in body and f"/mobility/rides/{theirs['id']}" not in body
    assert "배차 전 <small>1건</small>" in body
    assert_no_personal_data_in_urls(board, "문이동")
    assert board_client.get(f"/mobility/rides/{theirs['id']}").status_code == 404

    path = f"/mobility/rides/{ride['id']}"
    page = board_client.get(path)
    assert page.status_code == 200 and "정기사" in page.get_data(as_text=True)
    assigned = post_form(
        board_client,
        f"{path}/assign",
        {"vehicle_id": car, "driver_id": chauffeur, "pickup_at": f"{day.isoformat()}T10:05"},
        page=path,
    )
    assert assigned.status_code == 303, assigned.get_data(as_text=True)
    assert "차량별 운행" in board_client.get(f"/mobility?date={day.isoformat()}").get_data(
        as_text=True
    )
    assert counselor.get(f"/api/v1/mobility/rides/{ride['id']}").get_json()["state"] == "assigned"

    make_current(app, ride["id"], datetime.now(UTC) - timedelta(minutes=20))
    outreach = console_login(app, login_as("outreach").staff)
    form = outreach.get(path)
    assert 'name="client_ref"' in form.get_data(as_text=True)
    recorded = post_form(
        outreach, f"{path}/outcome", {"outcome": "no_show", "reason": "부재"}, page=path
    )
    assert recorded.status_code == 303, recorded.get_data(as_text=True)
    assert counselor.get(f"/api/v1/mobility/rides/{ride['id']}").get_json()["state"] == "no_show"


def test_mobility_forms_need_the_csrf_token_and_the_right_role(app: Flask, login_as: Any) -> None:
    counselor = login_as("counselor")
    ride = book(counselor, eligible(counselor), at(seoul_day(1), 10))
    client = console_login(app, counselor.staff)
    path = f"/mobility/rides/{ride['id']}"
    assert client.post(f"{path}/outcome", data={"outcome": "cancelled"}).status_code == 403
    assert post_form(client, f"{path}/assign", {"vehicle_id": "x"}, page=path).status_code == 403
    assert client.get("/mobility?date=2026-13-01").status_code == 422


def test_a_residents_rides_show_on_their_page_in_korean(app: Flask, login_as: Any) -> None:
    counselor = login_as("counselor")
    resident_id = eligible(counselor, name="문타는")
    book(counselor, resident_id, at(seoul_day(1), 10))
    page = console_login(app, counselor.staff).get(f"/residents/{resident_id}")
    assert page.status_code == 200
    assert "이동 지원 · 배차 전" in page.get_data(as_text=True)


def test_run_dispatch_from_the_board_shows_what_it_placed_and_why_the_rest_waits(
    app: Flask, login_as: Any
) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    day = seoul_day(4)
    rides = [book(counselor, eligible(counselor, name="문배차"), at(day, 10)) for _ in range(2)]
    vehicle(supervisor, wheelchair_spaces=0)
    driver(supervisor)
    client = console_login(app, supervisor.staff)
    board_path = f"/mobility?date={day.isoformat()}"
    board = client.get(board_path)
    assert 'action="/mobility/dispatch"' in board.get_data(as_text=True)
    assert client.post("/mobility/dispatch", data={"date": day.isoformat()}).status_code == 403

    ran = post_form(client, "/mobility/dispatch", {"date": day.isoformat()}, page=board_path)
    assert ran.status_code == 200, ran.get_data(as_text=True)
    body = ran.get_data(as_text=True)
    assert "자동 배차 결과" in body and "배차 1건 · 남은 운행 1건" in body
    assert "빈 차량 없음" in body
    assert_no_personal_data_in_urls(ran, "문배차")
    states = sorted(
        counselor.get(f"/api/v1/mobility/rides/{r['id']}").get_json()["state"] for r in rides
    )
    assert states == ["assigned", "requested"]

    bad = post_form(client, "/mobility/dispatch", {"date": "someday"}, page=board_path)
    assert bad.status_code == 422 and bad.mimetype == "text/html"
    outreach = console_login(app, login_as("outreach").staff)
    assert 'action="/mobility/dispatch"' not in outreach.get(board_path).get_data(as_text=True)
    refused = post_form(outreach, "/mobility/dispatch", {"date": day.isoformat()}, page="/mobility")
    assert refused.status_code == 403
