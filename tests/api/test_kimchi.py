"""Kimchi delivery campaigns over HTTP: campaigns, one allocation per household across agencies
and address spellings, the stock, roles and scope."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from tests.support.kimchi import allocate, allocated, campaign, resident
from tests.support.staff import DOKSAN1, GASAN
from welfare.models import AuditEvent, KimchiAllocation, KimchiCampaign, Resident
from welfare.web import get_database

PROBLEM = "application/problem+json"


def test_a_supervisor_starts_a_campaign_in_planning_with_its_stock(login_as: Any) -> None:
    supervisor = login_as("supervisor")
    body = campaign(supervisor, box_count=2000, box_kg=5)
    assert (body["status"], body["box_count"], body["box_kg"]) == ("planning", 2000, 5.0)
    assert (body["allocated_boxes"], body["remaining_stock"]) == (0, 2000)
    got = supervisor.get(f"/api/v1/kimchi/campaigns/{body['id']}")
    assert got.status_code == 200 and got.get_json()["name"] == "2026 김장 나눔"


def test_only_supervisors_create_campaigns(login_as: Any) -> None:
    for role in ("counselor", "outreach"):
        response = login_as(role).post(
            "/api/v1/kimchi/campaigns",
            json={"name": "x", "starts_on": "2026-12-01", "ends_on": "2026-12-10", "box_count": 1},
        )
        assert response.status_code == 403, role


def test_a_campaign_that_ends_before_it_starts_is_a_field_error(login_as: Any) -> None:
    response = login_as("supervisor").post(
        "/api/v1/kimchi/campaigns",
        json={"name": "x", "starts_on": "2026-12-10", "ends_on": "2026-12-01", "box_count": 5},
    )
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert "ends_on" in response.get_json()["errors"]


def test_an_allocation_answers_the_fixed_shape(login_as: Any) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor)
    rid = resident(counselor, "서울특별시 금천구 가산로 5, 101호")
    response = allocate(counselor, c["id"], rid)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["campaign_id"], body["resident_id"]) == (c["id"], rid)
    assert (body["agency"], body["status"], body["boxes"]) == ("가산동 주민센터", "allocated", 1)
    assert response.headers["Location"] == f"/api/v1/kimchi/allocations/{body['id']}"
    got = counselor.get(f"/api/v1/kimchi/allocations/{body['id']}")
    assert got.status_code == 200 and got.get_json()["status"] == "allocated"
    assert got.get_json()["resident"]["name"] == "이순자"
    assert supervisor.get(f"/api/v1/kimchi/campaigns/{c['id']}").get_json()["remaining_stock"] == (
        9
    )


def test_one_household_gets_one_box_across_agencies_and_address_spellings(
    login_as: Any,
) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor)
    first = resident(counselor, "서울특별시 금천구 가산로 5, 101호")
    spouse = resident(counselor, "서울 금천구 가산로 5 101호")
    neighbour = resident(counselor, "서울 금천구 가산로 5 102호")
    won = allocated(counselor, c["id"], first, agency="가산종합사회복지관")
    again = allocate(counselor, c["id"], spouse, agency="금천구자원봉사센터")
    assert again.status_code == 409 and again.mimetype == PROBLEM
    problem = again.get_json()
    assert problem["code"] == "already_allocated"
    assert problem["existing_id"] == won["id"]
    assert problem["existing_agency"] == "가산종합사회복지관"
    same_resident = allocate(counselor, c["id"], first, agency="가산동 주민센터")
    assert same_resident.status_code == 409
    assert allocate(counselor, c["id"], neighbour).status_code == 201


def test_another_dongs_staff_learn_the_household_is_served_but_not_which_allocation(
    login_as: Any,
) -> None:
    supervisor = login_as("supervisor", (GASAN, DOKSAN1))
    gasan, doksan = login_as("counselor", (GASAN,)), login_as("counselor", (DOKSAN1,))
    c = campaign(supervisor)
    here = resident(gasan, "가산로 7")
    there = resident(doksan, "서울 금천구 가산로 7", dong=DOKSAN1)
    allocated(gasan, c["id"], here)
    response = allocate(doksan, c["id"], there)
    assert response.status_code == 409
    assert response.get_json()["code"] == "already_allocated"
    assert "existing_id" not in response.get_json()


def test_a_resident_without_an_address_is_a_household_alone(login_as: Any) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor)
    one, two = resident(counselor), resident(counselor)
    assert allocate(counselor, c["id"], one).status_code == 201
    assert allocate(counselor, c["id"], two).status_code == 201
    assert allocate(counselor, c["id"], one).status_code == 409


def test_past_the_stock_an_allocation_is_out_of_stock_and_writes_nothing(
    app: Flask, login_as: Any
) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor, box_count=2)
    for n in range(2):
        allocated(counselor, c["id"], resident(counselor, f"가산로 {n + 1}"))
    response = allocate(counselor, c["id"], resident(counselor, "가산로 99"))
    assert response.status_code == 409 and response.get_json()["code"] == "out_of_stock"
    with get_database(app).new_session() as s:
        count = s.scalar(
            select(func.count()).where(KimchiAllocation.campaign_id == uuid.UUID(c["id"]))
        )
        stock = s.get(KimchiCampaign, uuid.UUID(c["id"]))
        assert count == 2 and stock is not None and stock.allocated_boxes == 2


def test_a_cancelled_allocation_returns_its_box_and_frees_its_household(login_as: Any) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor, box_count=1)
    rid = resident(counselor, "가산로 3")
    first = allocated(counselor, c["id"], rid)
    cancelled = counselor.post(f"/api/v1/kimchi/allocations/{first['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    again = counselor.post(f"/api/v1/kimchi/allocations/{first['id']}/cancel")
    assert again.status_code == 409 and again.get_json()["code"] == "allocation_ended"
    assert allocate(counselor, c["id"], rid).status_code == 201


def test_a_facility_may_receive_several_boxes_within_the_stock(login_as: Any) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor, box_count=5)
    facility = resident(counselor, "시흥대로 100 요양원")
    url = f"/api/v1/kimchi/campaigns/{c['id']}/allocations"
    too_many = counselor.post(url, json={"resident_id": facility, "agency": "동", "boxes": 6})
    assert too_many.status_code == 409 and too_many.get_json()["code"] == "out_of_stock"
    ok = counselor.post(url, json={"resident_id": facility, "agency": "동", "boxes": 5})
    assert ok.status_code == 201 and ok.get_json()["boxes"] == 5


def test_outreach_workers_do_not_allocate(login_as: Any) -> None:
    supervisor, counselor, outreach = (
        login_as("supervisor"),
        login_as("counselor"),
        login_as("outreach"),
    )
    c = campaign(supervisor)
    assert allocate(outreach, c["id"], resident(counselor)).status_code == 403


def test_bad_allocation_input_is_a_field_error(login_as: Any) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor)
    url = f"/api/v1/kimchi/campaigns/{c['id']}/allocations"
    for body, field in (
        ({"agency": "동"}, "resident_id"),
        ({"resident_id": resident(counselor), "agency": ""}, "agency"),
        ({"resident_id": resident(counselor), "agency": "동", "boxes": 0}, "boxes"),
    ):
        response = counselor.post(url, json=body)
        assert response.status_code == 422, body
        assert field in response.get_json()["errors"]


def test_an_unknown_campaign_is_a_404(login_as: Any) -> None:
    counselor = login_as("counselor")
    response = allocate(counselor, "00000000-0000-4000-8000-000000000001", resident(counselor))
    assert response.status_code == 404


def test_a_closed_campaign_reports_what_was_never_delivered_and_allocates_no_more(
    login_as: Any,
) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor)
    allocated(counselor, c["id"], resident(counselor, "가산로 11"))
    url = f"/api/v1/kimchi/campaigns/{c['id']}/status"
    assert counselor.post(url, json={"status": "closed"}).status_code == 403
    closed = supervisor.post(url, json={"status": "closed"})
    assert closed.status_code == 200, closed.get_json()
    report = closed.get_json()
    assert report["campaign"]["status"] == "closed"
    assert (report["undelivered"], report["undelivered_by_status"]) == (1, {"allocated": 1})
    assert report["undelivered_by_dong"] == {GASAN: 1}
    back = supervisor.post(url, json={"status": "delivering"})
    assert back.status_code == 409 and back.get_json()["code"] == "campaign_closed"
    late = allocate(counselor, c["id"], resident(counselor, "가산로 12"))
    assert late.status_code == 409 and late.get_json()["code"] == "campaign_closed"


def test_the_summary_counts_the_callers_dongs_and_the_whole_stock(login_as: Any) -> None:
    supervisor = login_as("supervisor", (GASAN, DOKSAN1))
    gasan, doksan = login_as("counselor", (GASAN,)), login_as("counselor", (DOKSAN1,))
    c = campaign(supervisor, box_count=10)
    allocated(gasan, c["id"], resident(gasan, "가산로 21"), agency="가산동 주민센터")
    allocated(gasan, c["id"], resident(gasan, "가산로 22"), agency="복지관")
    allocated(doksan, c["id"], resident(doksan, "독산로 1", dong=DOKSAN1), agency="복지관")
    mine = gasan.get(f"/api/v1/kimchi/campaigns/{c['id']}/summary").get_json()
    assert (mine["allocated"], mine["delivered"], mine["failed"]) == (2, 0, 0)
    assert mine["remaining_stock"] == 7
    assert set(mine["by_dong"]) == {GASAN}
    assert mine["by_agency"]["복지관"]["allocated"] == 1
    whole = supervisor.get(f"/api/v1/kimchi/campaigns/{c['id']}/summary").get_json()
    assert whole["allocated"] == 3 and whole["by_agency"]["복지관"]["allocated"] == 2


def test_allocations_are_listed_in_the_callers_dongs_only(login_as: Any) -> None:
    supervisor = login_as("supervisor", (GASAN, DOKSAN1))
    gasan, doksan = login_as("counselor", (GASAN,)), login_as("counselor", (DOKSAN1,))
    c = campaign(supervisor)
    mine = allocated(gasan, c["id"], resident(gasan, "가산로 31"))
    allocated(doksan, c["id"], resident(doksan, "독산로 2", dong=DOKSAN1))
    page = gasan.get(f"/api/v1/kimchi/campaigns/{c['id']}/allocations").get_json()
    assert [a["id"] for a in page["items"]] == [mine["id"]]
    assert page["items"][0]["resident"]["name"] == "이순자"


def test_an_allocation_of_another_dong_is_a_404_and_a_denial(app: Flask, login_as: Any) -> None:
    supervisor = login_as("supervisor", (GASAN, DOKSAN1))
    gasan, doksan = login_as("counselor", (GASAN,)), login_as("counselor", (DOKSAN1,))
    c = campaign(supervisor)
    a = allocated(gasan, c["id"], resident(gasan, "가산로 41"))
    assert doksan.get(f"/api/v1/kimchi/allocations/{a['id']}").status_code == 404
    assert doksan.post(f"/api/v1/kimchi/allocations/{a['id']}/cancel").status_code == 404
    with get_database(app).new_session() as s:
        denials = s.scalar(
            select(func.count()).where(
                AuditEvent.action == "access_denied", AuditEvent.staff_id == doksan.staff.id
            )
        )
    assert denials == 2


def test_residents_registered_before_the_household_index_get_it_on_allocation(
    app: Flask, login_as: Any
) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor)
    old = resident(counselor, "서울시 금천구 가산로 50 3층")
    newer = resident(counselor, "가산로 50, 3층")
    with get_database(app).new_session() as s:
        row = s.get(Resident, uuid.UUID(old))
        assert row is not None and row.household_index is not None
        row.household_index = None  # as the migration leaves residents registered before it
        s.commit()
    allocated(counselor, c["id"], old)
    assert allocate(counselor, c["id"], newer).status_code == 409


def test_a_campaign_of_some_dongs_is_a_404_to_the_staff_of_others(login_as: Any) -> None:
    supervisor = login_as("supervisor", (GASAN, DOKSAN1))
    doksan = login_as("counselor", (DOKSAN1,))
    c = campaign(supervisor, dongs=[GASAN])
    assert c["dongs"] == [GASAN]
    assert doksan.get(f"/api/v1/kimchi/campaigns/{c['id']}").status_code == 404
    assert doksan.get(f"/api/v1/kimchi/campaigns/{c['id']}/summary").status_code == 404
    listed = doksan.get("/api/v1/kimchi/campaigns").get_json()["items"]
    assert c["id"] not in [item["id"] for item in listed]
    outsider = resident(doksan, "독산로 5", dong=DOKSAN1)
    response = allocate(supervisor, c["id"], outsider)
    assert response.status_code == 422 and "resident_id" in response.get_json()["errors"]


def test_a_campaign_covers_its_supervisors_dongs_unless_it_names_others(login_as: Any) -> None:
    supervisor = login_as("supervisor", (GASAN,))
    assert campaign(supervisor)["dongs"] == [GASAN]
    doksan = login_as("counselor", (DOKSAN1,))
    district = campaign(supervisor, dongs=[GASAN, DOKSAN1])
    assert district["dongs"] == [GASAN, DOKSAN1]
    assert doksan.get(f"/api/v1/kimchi/campaigns/{district['id']}").status_code == 200


def test_a_resident_who_dies_gets_no_box_and_the_box_goes_back(login_as: Any) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor, box_count=3)
    rid = resident(counselor, "가산로 61")
    a = allocated(counselor, c["id"], rid)
    changed = counselor.post(
        f"/api/v1/residents/{rid}/status", json={"status": "deceased"}, headers={"If-Match": '"v1"'}
    )
    assert changed.status_code == 200, changed.get_json()
    after = counselor.get(f"/api/v1/kimchi/allocations/{a['id']}").get_json()
    assert (after["status"], after["ended_reason"]) == ("cancelled", "resident_ended")
    assert supervisor.get(f"/api/v1/kimchi/campaigns/{c['id']}").get_json()["remaining_stock"] == 3


def test_a_resident_who_moves_dong_takes_the_allocation_along(login_as: Any) -> None:
    supervisor = login_as("supervisor", (GASAN, DOKSAN1))
    counselor = login_as("counselor", (GASAN, DOKSAN1))
    gasan_only = login_as("counselor", (GASAN,))
    c = campaign(supervisor)
    rid = resident(counselor, "가산로 71")
    a = allocated(counselor, c["id"], rid)
    moved = counselor.patch(
        f"/api/v1/residents/{rid}", json={"dong": DOKSAN1}, headers={"If-Match": '"v1"'}
    )
    assert moved.status_code == 200, moved.get_json()
    assert counselor.get(f"/api/v1/kimchi/allocations/{a['id']}").get_json()["dong"] == DOKSAN1
    assert gasan_only.get(f"/api/v1/kimchi/allocations/{a['id']}").status_code == 404


def test_bulk_allocation_by_criteria_answers_its_counts(login_as: Any) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    c = campaign(supervisor, box_count=2)
    for n in range(3):
        resident(counselor, f"가산로 9{n}")
    url = f"/api/v1/kimchi/campaigns/{c['id']}/allocations/bulk"
    dry = counselor.post(url, json={"agency": "금천구청", "dongs": [GASAN], "dry_run": True})
    assert dry.status_code == 200, dry.get_json()
    assert (dry.get_json()["allocated"], dry.get_json()["dry_run"]) == (2, True)
    done = counselor.post(url, json={"agency": "금천구청", "risk_levels": ["none"]}).get_json()
    assert (done["allocated"], done["stock_exhausted"], done["remaining_stock"]) == (2, True, 0)
    bad = counselor.post(url, json={"agency": "금천구청", "risk_levels": ["extreme"]})
    assert bad.status_code == 422 and "risk_levels" in bad.get_json()["errors"]
    assert login_as("outreach").post(url, json={"agency": "x"}).status_code == 403
