"""The supervisor's dashboard: charts drawn as SVG on the server, each with its numbers in a
table, over the supervisor's dongs only; counts, never a name; supervisors only."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from tests.support.casework import care_request, raise_lapse
from tests.support.console import console_as, console_login
from tests.support.staff import DOKSAN1, GASAN
from welfare.models import AuditEvent
from welfare.web import get_database


def _events(app: Flask) -> int:
    with get_database(app).new_session() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_the_dashboard_counts_my_dongs_work_and_names_nobody(app: Flask, login_as: Any) -> None:
    api = login_as("supervisor", dongs=(GASAN,))
    raise_lapse(app, api)
    raise_lapse(app, login_as("supervisor", dongs=(DOKSAN1,)), DOKSAN1)
    request_id = care_request(api).get_json()["id"]
    assert (
        api.post(f"/api/v1/care-requests/{request_id}/respond", json={"note": "응대"}).status_code
        == 200
    )
    client = console_login(app, api.staff)
    before = _events(app)
    response = client.get("/dashboard")
    assert response.status_code == 200
    assert _events(app) == before  # counts only: no resident was read
    body = response.get_data(as_text=True)
    assert body.count("<svg") == 4 and body.count("<table") >= 5
    assert "<script" not in body.split("</head>")[1] and " style=" not in body
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td>', body))
    assert rows["가산동"] == "1"  # one open follow-up under a day old, in Gasan only
    assert "독산1동" not in body
    assert re.search(r'<th scope="row">긴급</th><td>1</td><td>0</td><td>0</td>', body)
    assert "이순자" not in body and "010-" not in body


def test_only_supervisors_see_the_dashboard(app: Flask) -> None:
    for role in ("counselor", "outreach", "admin"):
        assert console_as(app, role).get("/dashboard").status_code == 403, role


def test_rides_and_no_shows_of_my_dongs_are_counted_per_day(app: Flask, login_as: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.api.test_mobility_outcomes import assigned_ride, make_current

    counselor, ride = assigned_ride(login_as)
    make_current(app, ride["id"], datetime.now(UTC) - timedelta(minutes=20))
    ended = counselor.post(
        f"/api/v1/mobility/rides/{ride['id']}/outcome",
        json={"outcome": "no_show", "occurred_at": datetime.now(UTC).isoformat()},
    )
    assert ended.status_code == 200, ended.get_json()
    mine = console_login(app, login_as("supervisor").staff).get("/dashboard")
    assert "노쇼 1 · 취소 0" in mine.get_data(as_text=True)
    theirs = console_login(app, login_as("supervisor", dongs=(DOKSAN1,)).staff).get("/dashboard")
    assert "완료 0 · 노쇼 0 · 취소 0" in theirs.get_data(as_text=True)


def test_kimchi_progress_of_my_dongs_is_charted_with_its_numbers(app: Flask, login_as: Any) -> None:
    from datetime import UTC, datetime

    from tests.support.kimchi import allocated, campaign, resident

    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor, dongs=[GASAN, DOKSAN1])
    delivered = allocated(counselor, c["id"], resident(counselor, "가산로 31"))
    allocated(counselor, c["id"], resident(counselor, "가산로 32"))
    theirs = login_as("counselor", dongs=(DOKSAN1,))
    allocated(theirs, c["id"], resident(theirs, "독산로 1", dong=DOKSAN1))
    handed = counselor.post(
        f"/api/v1/kimchi/allocations/{delivered['id']}/attempts",
        json={
            "outcome": "handed_over",
            "recipient_relation": "self",
            "occurred_at": datetime.now(UTC).isoformat(),
        },
    )
    assert handed.status_code == 201, handed.get_json()
    body = console_login(app, supervisor.staff).get("/dashboard").get_data(as_text=True)
    assert body.count("<svg") == 5 and "캠페인별 배송 진행" in body
    # delivered, failed, routed, waiting, total: Gasan's two households only
    row = r'<th scope="row">2026 김장 나눔</th><td>1</td><td>0</td><td>0</td><td>1</td><td>2</td>'
    assert re.search(row, body)
    assert "배분 2가구 중 1 전달 (50%)" in body
    elsewhere = console_login(app, login_as("supervisor", dongs=(DOKSAN1,)).staff)
    assert "배분 1가구 중 0 전달 (0%)" in elsewhere.get("/dashboard").get_data(as_text=True)
