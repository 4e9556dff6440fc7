"""Dispatching a day, the dispatch board, the no-show review and rides on the timeline."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from tests.support.mobility import (
    assign,
    at,
    book,
    driver,
    eligible,
    make_current,
    seoul_day,
    vehicle,
)
from tests.support.staff import DOKSAN1

RIDES = "/api/v1/mobility/rides"
SEOUL = ZoneInfo("Asia/Seoul")


def dispatch(client: Any, day: Any) -> Any:
    return client.post("/api/v1/mobility/dispatch", json={"date": day.isoformat()})


def test_dispatch_assigns_what_fits_without_overlap_and_runs_again_as_a_no_op(
    login_as: Any,
) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    day = seoul_day(3)
    rides = [book(counselor, eligible(counselor), at(day, 9, 0 + 15 * i)) for i in range(4)]
    later = [book(counselor, eligible(counselor), at(day, 14, 10 * i)) for i in range(3)]
    for _ in range(3):
        vehicle(supervisor), driver(supervisor)
    response = dispatch(supervisor, day)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["unassigned"] == []
    assert {a["ride_id"] for a in body["assigned"]} == {r["id"] for r in rides + later}
    assert body["vehicles_used"] <= 3
    by_vehicle: dict[str, list[tuple[datetime, datetime]]] = {}
    by_driver: dict[str, list[tuple[datetime, datetime]]] = {}
    for a in body["assigned"]:
        span = (datetime.fromisoformat(a["pickup_at"]), datetime.fromisoformat(a["busy_until"]))
        by_vehicle.setdefault(a["vehicle_id"], []).append(span)
        by_driver.setdefault(a["driver_id"], []).append(span)
    for spans in (*by_vehicle.values(), *by_driver.values()):
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    for ride in rides + later:
        read = counselor.get(f"{RIDES}/{ride['id']}").get_json()
        assert read["state"] == "assigned"
        assert read["window_start"] <= read["pickup_at"] <= read["window_end"]
    again = dispatch(supervisor, day).get_json()
    assert (again["assigned"], again["unassigned"]) == ([], [])
    assert again["vehicles_used"] == body["vehicles_used"]


def test_with_one_vehicle_dispatch_names_why_the_rest_waits(login_as: Any) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    day = seoul_day(4)
    rides = [book(counselor, eligible(counselor), at(day, 10)) for _ in range(3)]
    wheelchair = book(counselor, eligible(counselor), at(day, 16), wheelchair=True)
    vehicle(supervisor, wheelchair_spaces=0)
    driver(supervisor)
    body = dispatch(supervisor, day).get_json()
    assert len(body["assigned"]) == 1 and body["assigned"][0]["ride_id"] in {r["id"] for r in rides}
    reasons = {u["ride_id"]: u["reason"] for u in body["unassigned"]}
    assert reasons[wheelchair["id"]] == "no_wheelchair_vehicle"
    assert sorted(reasons.values()).count("no_vehicle_free") == 2


def test_dispatch_keeps_existing_assignments_and_other_dongs_rides(login_as: Any) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    theirs = login_as("counselor", (DOKSAN1,))
    day = seoul_day(2)
    fixed = book(counselor, eligible(counselor), at(day, 11))
    other = book(counselor, eligible(counselor), at(day, 11, 5))
    elsewhere = book(theirs, eligible(theirs, DOKSAN1), at(day, 12), pickup_dong=DOKSAN1)
    v1, d1 = vehicle(supervisor), driver(supervisor)
    vehicle(supervisor), driver(supervisor)
    assert assign(supervisor, fixed["id"], v1, d1, at(day, 11)).status_code == 200
    body = dispatch(supervisor, day).get_json()
    placed = {a["ride_id"]: a for a in body["assigned"]}
    assert set(placed) == {other["id"]}
    assert placed[other["id"]]["vehicle_id"] != v1  # v1 is busy then
    assert counselor.get(f"{RIDES}/{fixed['id']}").get_json()["vehicle_id"] == v1
    assert theirs.get(f"{RIDES}/{elsewhere['id']}").get_json()["state"] == "requested"


def test_only_supervisors_dispatch(login_as: Any) -> None:
    for role in ("counselor", "outreach"):
        assert dispatch(login_as(role), seoul_day(1)).status_code == 403
    bad = login_as("supervisor").post("/api/v1/mobility/dispatch", json={"date": "someday"})
    assert bad.status_code == 422 and "date" in bad.get_json()["errors"]


def board_of(client: Any, ride: dict[str, Any]) -> dict[str, Any]:
    """The board of the Seoul day the ride's window starts on, as `client` sees it."""
    read = client.get(f"{RIDES}/{ride['id']}").get_json()
    day = datetime.fromisoformat(read["window_start"]).astimezone(SEOUL).date()
    response = client.get("/api/v1/mobility/board", query_string={"date": day.isoformat()})
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def test_the_board_shows_rides_by_vehicle_the_unassigned_and_the_late(
    app: Flask, login_as: Any
) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    now = datetime.now(UTC)
    v, d = vehicle(supervisor), driver(supervisor)
    start = at(seoul_day(1), 10)
    assigned = book(counselor, eligible(counselor), start)
    assert assign(supervisor, assigned["id"], v, d, start).status_code == 200
    make_current(app, assigned["id"], now - timedelta(minutes=10))  # pickup passed, no outcome
    waiting = book(counselor, eligible(counselor), at(seoul_day(1), 11))
    board = board_of(counselor, assigned)
    lanes = {lane["vehicle_id"]: lane for lane in board["vehicles"]}
    assert [r["id"] for r in lanes[v]["rides"]] == [assigned["id"]]
    assert lanes[v]["plate"].startswith("서울")
    assert assigned["id"] in {r["id"] for r in board["late"]}
    later = board_of(counselor, waiting)
    assert waiting["id"] in {r["id"] for r in later["unassigned"]}
    assert waiting["id"] not in {r["id"] for r in later["late"]}
    assert later["truncated"] is False
    outsider = login_as("counselor", (DOKSAN1,))
    day = datetime.fromisoformat(waiting["window_start"]).astimezone(SEOUL).date()
    seen = outsider.get("/api/v1/mobility/board", query_string={"date": day.isoformat()})
    assert (seen.get_json()["vehicles"], seen.get_json()["unassigned"]) == ([], [])


def test_repeated_no_shows_are_listed_for_supervisors_with_reasons(
    app: Flask, login_as: Any
) -> None:
    counselor, supervisor, outreach = (
        login_as("counselor"),
        login_as("supervisor"),
        login_as("outreach"),
    )
    often, once = eligible(counselor), eligible(counselor)
    v, d = vehicle(supervisor), driver(supervisor)
    now = datetime.now(UTC)
    plan = [
        (often, "no_show", "문을 열지 않음"),
        (often, "no_show", "병원 일정 변경"),
        (often, "completed", None),
        (once, "no_show", "외출"),
        (once, "completed", None),
        (once, "completed", None),
    ]
    for n, (resident_id, outcome, reason) in enumerate(plan):
        start = at(seoul_day(1 + n), 10)
        ride = book(counselor, resident_id, start)
        assert assign(supervisor, ride["id"], v, d, start).status_code == 200
        make_current(app, ride["id"], now - timedelta(days=n + 1))
        body = {"outcome": outcome, "occurred_at": (now - timedelta(days=n + 1)).isoformat()}
        if reason:
            body["reason"] = reason
        assert outreach.post(f"{RIDES}/{ride['id']}/outcome", json=body).status_code == 200
    listed = supervisor.get("/api/v1/mobility/no-show-review").get_json()["items"]
    assert [r["resident_id"] for r in listed] == [often]
    flagged = listed[0]
    assert (flagged["rides"], flagged["no_shows"]) == (3, 2)
    assert abs(flagged["rate"] - 2 / 3) < 0.01
    assert sorted(flagged["reasons"]) == sorted(["문을 열지 않음", "병원 일정 변경"])
    assert flagged["resident"]["name"] == "이순자"
    assert outreach.get("/api/v1/mobility/no-show-review").status_code == 403
    elsewhere = login_as("supervisor", (DOKSAN1,)).get("/api/v1/mobility/no-show-review")
    assert elsewhere.get_json()["items"] == []
    timeline = counselor.get(f"/api/v1/residents/{often}/timeline").get_json()["items"]
    rides = [item for item in timeline if item["kind"] == "ride"]
    assert sorted(item["outcome"] for item in rides) == ["completed", "no_show", "no_show"]
    assert all(item["ride_id"] and item["program"] == "mobility" for item in rides)
