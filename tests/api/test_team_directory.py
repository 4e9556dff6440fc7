"""A team directory: counselors, outreach workers and supervisors find the colleagues of their
dongs by name and role, to assign work without a UUID from elsewhere."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.support.casework import raise_lapse
from tests.support.staff import DOKSAN1, GASAN, log_in, make_staff


def test_the_directory_lists_colleagues_of_shared_dongs_by_name_and_role(app: Flask) -> None:
    me = make_staff(app, "counselor", (GASAN,), display_name="김상담")
    make_staff(app, "outreach", (GASAN, DOKSAN1), display_name="박방문")
    make_staff(app, "supervisor", (GASAN,), display_name="이팀장")
    make_staff(app, "counselor", (DOKSAN1,), display_name="최독산")  # another dong
    make_staff(app, "admin", (), display_name="관리자")
    make_staff(app, "gateway", (GASAN,), display_name="센서 게이트웨이")
    client = log_in(app, me)
    items = client.get("/api/v1/team").get_json()["items"]
    assert [(i["name"], i["role"], i["dongs"]) for i in items] == [
        ("김상담", "counselor", [GASAN]),
        ("박방문", "outreach", [GASAN]),  # only the dongs we share
        ("이팀장", "supervisor", [GASAN]),
    ]
    assert set(items[0]) == {"id", "name", "role", "dongs"}  # names and roles, no account data
    outreach = client.get("/api/v1/team", query_string={"role": "outreach"}).get_json()["items"]
    assert [i["name"] for i in outreach] == ["박방문"]


def test_a_deactivated_colleague_is_not_listed(app: Flask, login_as: Any) -> None:
    gone = make_staff(app, "outreach", (GASAN,), display_name="퇴사자")
    admin = login_as("admin", ())
    assert admin.post(f"/api/v1/staff/{gone.id}/deactivate").status_code == 200
    names = [i["name"] for i in login_as("counselor").get("/api/v1/team").get_json()["items"]]
    assert "퇴사자" not in names


def test_a_counselor_assigns_a_follow_up_to_a_colleague_found_by_name(app: Flask) -> None:
    me = log_in(app, make_staff(app, "counselor", (GASAN,), display_name="김상담"))
    make_staff(app, "outreach", (GASAN,), display_name="박방문")
    fid = raise_lapse(app, me)
    team = me.get("/api/v1/team").get_json()["items"]
    (colleague,) = [c for c in team if c["name"] == "박방문"]
    assigned = me.post(f"/api/v1/followups/{fid}/assign", json={"assignee_id": colleague["id"]})
    assert assigned.status_code == 200
    assert assigned.get_json()["assignee_id"] == colleague["id"]


def test_admins_and_gateways_have_no_directory(login_as: Any) -> None:
    assert login_as("admin", ()).get("/api/v1/team").status_code == 403
    assert login_as("gateway").get("/api/v1/team").status_code == 403
