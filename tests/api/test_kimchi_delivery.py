"""Kimchi routes, route sheets and delivery attempts over HTTP: each outcome's effect on the
allocation, the Ongi enrollment and follow-ups; retried attempts; audited sheets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from tests.support.kimchi import allocated, campaign, resident, today
from tests.support.staff import GASAN, SIHEUNG1
from welfare.models import (
    AuditEvent,
    Contact,
    DeliveryAttempt,
    FollowUp,
    KimchiAllocation,
    OngiEnrollment,
)
from welfare.web import get_database

PROBLEM = "application/problem+json"


def setup(login_as: Any, box_count: int = 10) -> tuple[Any, Any, Any, dict[str, Any]]:
    supervisor, counselor, outreach = (
        login_as("supervisor"),
        login_as("counselor"),
        login_as("outreach"),
    )
    return supervisor, counselor, outreach, campaign(supervisor, box_count=box_count)


def route(client: Any, campaign_id: str, allocation_ids: list[str], **extra: Any) -> Any:
    return client.post(
        f"/api/v1/kimchi/campaigns/{campaign_id}/routes",
        json={"name": "1회차", "delivery_on": today(), "allocation_ids": allocation_ids, **extra},
    )


def attempt(client: Any, allocation_id: str, outcome: str, **extra: Any) -> Any:
    return client.post(
        f"/api/v1/kimchi/allocations/{allocation_id}/attempts",
        json={"outcome": outcome, "occurred_at": datetime.now(UTC).isoformat(), **extra},
    )


def status_of(client: Any, allocation_id: str) -> str:
    return str(client.get(f"/api/v1/kimchi/allocations/{allocation_id}").get_json()["status"])


def live_followups(app: Flask, reason: str, subject: str) -> list[FollowUp]:
    with get_database(app).new_session() as s:
        return list(
            s.scalars(
                select(FollowUp).where(
                    FollowUp.reason == reason,
                    FollowUp.subject_id == uuid.UUID(subject),
                    FollowUp.state.in_(("open", "escalated")),
                )
            )
        )


def enroll(client: Any, resident_id: str, risk_level: str = "high") -> None:
    enrolled_at = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    response = client.post(
        "/api/v1/ongi/enrollments",
        json={"resident_id": resident_id, "risk_level": risk_level, "enrolled_at": enrolled_at},
    )
    assert response.status_code == 201, response.get_json()


def test_a_route_answers_its_stops_in_order_and_routes_its_allocations(login_as: Any) -> None:
    _s, counselor, _o, c = setup(login_as)
    a = allocated(counselor, c["id"], resident(counselor, "가산로 1"))
    b = allocated(counselor, c["id"], resident(counselor, "가산로 2"))
    response = route(counselor, c["id"], [b["id"], a["id"]])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert [(s["seq"], s["allocation_id"]) for s in body["stops"]] == [(1, b["id"]), (2, a["id"])]
    assert (body["status"], body["dong"]) == ("open", GASAN)
    assert status_of(counselor, a["id"]) == "routed"


def test_the_suggested_order_follows_the_normalized_address(login_as: Any) -> None:
    _s, counselor, _o, c = setup(login_as)
    far = allocated(counselor, c["id"], resident(counselor, "서울 금천구 다산로 9"))
    near = allocated(counselor, c["id"], resident(counselor, "가산로 3"))
    mid = allocated(counselor, c["id"], resident(counselor, "서울특별시 금천구 나루로 1"))
    body = route(counselor, c["id"], [far["id"], near["id"], mid["id"]], suggest_order=True)
    assert body.status_code == 201, body.get_json()
    order = [s["allocation_id"] for s in body.get_json()["stops"]]
    assert order == [near["id"], mid["id"], far["id"]]


def test_an_allocation_is_on_at_most_one_open_route(login_as: Any) -> None:
    _s, counselor, _o, c = setup(login_as)
    a = allocated(counselor, c["id"], resident(counselor, "가산로 4"))
    assert route(counselor, c["id"], [a["id"]]).status_code == 201
    again = route(counselor, c["id"], [a["id"]])
    assert again.status_code == 409 and again.get_json()["code"] == "allocation_routed"


def test_bad_routes_are_field_errors_and_write_nothing(app: Flask, login_as: Any) -> None:
    supervisor, counselor, _o, c = setup(login_as)
    other = campaign(supervisor)
    mine = allocated(counselor, c["id"], resident(counselor, "가산로 5"))
    theirs = allocated(counselor, other["id"], resident(counselor, "가산로 6"))
    elsewhere = login_as("counselor", (GASAN, SIHEUNG1))
    wide = campaign(supervisor, dongs=[GASAN, SIHEUNG1])
    near = allocated(elsewhere, wide["id"], resident(elsewhere, "가산로 7"))
    siheung = allocated(elsewhere, wide["id"], resident(elsewhere, "시흥대로 1", dong=SIHEUNG1))
    late = (datetime.now(UTC) + timedelta(days=90)).date().isoformat()
    for ids, extra, field in (
        ([mine["id"], theirs["id"]], {}, "allocation_ids"),
        ([mine["id"]], {"delivery_on": late}, "delivery_on"),
        ([mine["id"], mine["id"]], {}, "allocation_ids"),
        ([mine["id"], str(uuid.uuid4())], {}, "allocation_ids"),
        ([], {}, "allocation_ids"),
        (
            [mine["id"]],
            {"deliverer_staff_id": str(elsewhere.staff.id), "volunteer_name": "김"},
            "volunteer_name",
        ),
    ):
        response = route(counselor, c["id"], ids, **extra)
        assert response.status_code == 422 and response.mimetype == PROBLEM, (ids, extra)
        assert field in response.get_json()["errors"], response.get_json()
    mixed = route(elsewhere, wide["id"], [near["id"], siheung["id"]])
    assert mixed.status_code == 422 and "allocation_ids" in mixed.get_json()["errors"]
    assert status_of(counselor, mine["id"]) == "allocated"
    assert status_of(counselor, theirs["id"]) == "allocated"


def test_a_route_sheet_shows_the_deliverer_names_addresses_and_phones_and_is_recorded(
    app: Flask, login_as: Any
) -> None:
    _s, counselor, outreach, c = setup(login_as)
    rid = resident(counselor, "서울 금천구 가산로 7, 201호")
    counselor.patch(
        f"/api/v1/residents/{rid}", json={"phone": "010-2345-6789"}, headers={"If-Match": '"v1"'}
    )
    a = allocated(counselor, c["id"], rid)
    made = route(
        counselor, c["id"], [a["id"]], deliverer_staff_id=str(outreach.staff.id)
    ).get_json()
    sheet = outreach.get(f"/api/v1/kimchi/routes/{made['id']}/sheet")
    assert sheet.status_code == 200, sheet.get_json()
    line = sheet.get_json()["lines"][0]
    assert (line["name"], line["address"], line["phone"]) == (
        "이순자",
        "서울 금천구 가산로 7, 201호",
        "010-2345-6789",
    )
    csv_sheet = outreach.get(f"/api/v1/kimchi/routes/{made['id']}/sheet.csv")
    assert csv_sheet.status_code == 200, csv_sheet.get_data(as_text=True)
    assert csv_sheet.mimetype == "text/csv"
    text = csv_sheet.get_data(as_text=True)
    assert "이순자" in text and "가산로 7" in text and text.startswith("\ufeff순번")
    with get_database(app).new_session() as s:
        records = list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.staff_id == outreach.staff.id, AuditEvent.action != "login")
                .order_by(AuditEvent.at)
            )
        )
        assert [(e.action, e.resident_ids) for e in records] == [
            ("read", [rid]),
            ("export", [rid]),
        ]
    mine = outreach.get(f"/api/v1/kimchi/campaigns/{c['id']}/routes", query_string={"mine": "true"})
    assert [r["id"] for r in mine.get_json()["items"]] == [made["id"]]


def test_a_volunteer_route_names_the_volunteer(login_as: Any) -> None:
    _s, counselor, _o, c = setup(login_as)
    a = allocated(counselor, c["id"], resident(counselor, "가산로 8"))
    body = route(counselor, c["id"], [a["id"]], volunteer_name="자원봉사 박").get_json()
    assert body["volunteer_name"] == "자원봉사 박"
    assert counselor.get(f"/api/v1/kimchi/routes/{body['id']}").get_json()["volunteer_name"] == (
        "자원봉사 박"
    )


def test_abandoning_a_route_returns_its_open_stops_to_the_pool(login_as: Any) -> None:
    _s, counselor, outreach, c = setup(login_as)
    done = allocated(counselor, c["id"], resident(counselor, "가산로 9"))
    waiting = allocated(counselor, c["id"], resident(counselor, "가산로 10"))
    made = route(counselor, c["id"], [done["id"], waiting["id"]]).get_json()
    assert attempt(outreach, done["id"], "left_at_door").status_code == 201
    abandoned = counselor.post(f"/api/v1/kimchi/routes/{made['id']}/abandon")
    assert abandoned.status_code == 200, abandoned.get_json()
    body = abandoned.get_json()
    assert body["status"] == "abandoned"
    assert [s["state"] for s in body["stops"]] == ["done", "returned"]
    assert status_of(counselor, waiting["id"]) == "allocated"
    assert status_of(counselor, done["id"]) == "delivered"
    assert route(counselor, c["id"], [waiting["id"]]).status_code == 201
    again = counselor.post(f"/api/v1/kimchi/routes/{made['id']}/abandon")
    assert again.status_code == 409 and again.get_json()["code"] == "route_closed"


def test_handed_over_to_the_resident_delivers_and_counts_as_an_ongi_contact(
    app: Flask, login_as: Any
) -> None:
    _s, counselor, outreach, c = setup(login_as)
    rid = resident(counselor, "가산로 11")
    enroll(counselor, rid)
    a = allocated(counselor, c["id"], rid)
    made = route(counselor, c["id"], [a["id"]]).get_json()
    response = attempt(outreach, a["id"], "handed_over", recipient_relation="self")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["allocation_status"], body["route_id"]) == ("delivered", made["id"])
    assert body["contact_id"] is not None
    assert status_of(counselor, a["id"]) == "delivered"
    assert counselor.get(f"/api/v1/kimchi/routes/{made['id']}").get_json()["status"] == "done"
    with get_database(app).new_session() as s:
        contact = s.get(Contact, uuid.UUID(body["contact_id"]))
        assert contact is not None
        assert (contact.channel, contact.outcome, contact.program) == (
            "delivery",
            "reached",
            "kimchi",
        )
        enrollment = s.scalar(
            select(OngiEnrollment).where(OngiEnrollment.resident_id == uuid.UUID(rid))
        )
        assert enrollment is not None and enrollment.last_success_at is not None
    again = attempt(outreach, a["id"], "left_at_door")
    assert again.status_code == 409 and again.get_json()["code"] == "allocation_ended"


def test_handed_over_to_a_neighbour_or_left_at_the_door_delivers_without_a_contact(
    app: Flask, login_as: Any
) -> None:
    _s, counselor, outreach, c = setup(login_as)
    for outcome, extra in (
        ("handed_over", {"recipient_relation": "neighbour"}),
        ("left_at_door", {}),
    ):
        rid = resident(counselor, f"가산로 {outcome}")
        enroll(counselor, rid)
        a = allocated(counselor, c["id"], rid)
        body = attempt(outreach, a["id"], outcome, **extra).get_json()
        assert (body["allocation_status"], body["contact_id"]) == ("delivered", None)
        with get_database(app).new_session() as s:
            assert not s.scalars(select(Contact).where(Contact.resident_id == uuid.UUID(rid))).all()


def test_a_resident_not_in_ongi_is_delivered_without_a_contact(app: Flask, login_as: Any) -> None:
    _s, counselor, outreach, c = setup(login_as)
    a = allocated(counselor, c["id"], resident(counselor, "가산로 12"))
    body = attempt(outreach, a["id"], "handed_over", recipient_relation="self").get_json()
    assert (body["allocation_status"], body["contact_id"]) == ("delivered", None)


def test_absent_fails_with_a_follow_up_that_a_successful_reattempt_resolves(
    app: Flask, login_as: Any
) -> None:
    _s, counselor, outreach, c = setup(login_as)
    rid = resident(counselor, "가산로 13")
    enroll(counselor, rid, "high")
    a = allocated(counselor, c["id"], rid)
    route(counselor, c["id"], [a["id"]])
    first = attempt(outreach, a["id"], "absent")
    assert first.status_code == 201 and first.get_json()["allocation_status"] == "failed"
    raised = live_followups(app, "delivery_failed", a["id"])
    assert len(raised) == 1
    assert (raised[0].program, raised[0].risk_level, raised[0].dong_code) == (
        "kimchi",
        "high",
        GASAN,
    )
    assert attempt(outreach, a["id"], "bad_address").status_code == 201
    assert len(live_followups(app, "delivery_failed", a["id"])) == 1  # one live, still climbing
    failures = counselor.get(
        f"/api/v1/kimchi/campaigns/{c['id']}/allocations", query_string={"status": "failed"}
    ).get_json()["items"]
    assert [f["id"] for f in failures] == [a["id"]]
    second = route(counselor, c["id"], [a["id"]])  # re-routed after failing
    assert second.status_code == 201
    abandoned = counselor.post(f"/api/v1/kimchi/routes/{second.get_json()['id']}/abandon")
    assert abandoned.status_code == 200
    assert status_of(counselor, a["id"]) == "failed"  # back to the pool as it was
    done = attempt(outreach, a["id"], "handed_over", recipient_relation="household_member")
    assert done.get_json()["allocation_status"] == "delivered"
    assert live_followups(app, "delivery_failed", a["id"]) == []
    with get_database(app).new_session() as s:
        closed = s.scalars(select(FollowUp).where(FollowUp.subject_id == uuid.UUID(a["id"]))).one()
        assert (closed.state, closed.outcome) == ("resolved", "redelivered")
    summary = counselor.get(f"/api/v1/kimchi/campaigns/{c['id']}/summary").get_json()
    assert (summary["delivered"], summary["failed"]) == (1, 0)


def test_refused_ends_the_allocation_and_returns_the_box(login_as: Any) -> None:
    supervisor, counselor, outreach, c = setup(login_as, box_count=1)
    a = allocated(counselor, c["id"], resident(counselor, "가산로 14"))
    body = attempt(outreach, a["id"], "refused").get_json()
    assert body["allocation_status"] == "cancelled"
    after = counselor.get(f"/api/v1/kimchi/allocations/{a['id']}").get_json()
    assert after["ended_reason"] == "refused"
    assert supervisor.get(f"/api/v1/kimchi/campaigns/{c['id']}").get_json()["remaining_stock"] == 1


def test_a_concern_raises_a_welfare_concern_for_the_counselor(app: Flask, login_as: Any) -> None:
    _s, counselor, outreach, c = setup(login_as)
    rid = resident(counselor, "가산로 15")
    a = allocated(counselor, c["id"], rid)
    response = attempt(
        outreach,
        a["id"],
        "handed_over",
        recipient_relation="self",
        observation="기침이 심하고 거동이 불편해 보임",
        concern=True,
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["observation"] == "기침이 심하고 거동이 불편해 보임"
    raised = live_followups(app, "welfare_concern", rid)
    assert len(raised) == 1 and raised[0].program == "kimchi"
    assert raised[0].evidence["allocation_id"] == a["id"]
    assert "기침" not in str(raised[0].evidence)
    with get_database(app).new_session() as s:
        sealed = s.scalars(select(DeliveryAttempt.observation_enc)).first()
        assert sealed is not None and "기침".encode() not in sealed
    listed = counselor.get(f"/api/v1/kimchi/allocations/{a['id']}/attempts").get_json()["items"]
    assert listed[0]["observation"] == "기침이 심하고 거동이 불편해 보임"


def test_a_retried_attempt_creates_nothing_twice(app: Flask, login_as: Any) -> None:
    _s, counselor, outreach, c = setup(login_as)
    rid = resident(counselor, "가산로 16")
    a = allocated(counselor, c["id"], rid)
    at = datetime.now(UTC).isoformat()
    body = {"outcome": "absent", "occurred_at": at, "client_ref": "phone-1"}
    url = f"/api/v1/kimchi/allocations/{a['id']}/attempts"
    first = outreach.post(url, json=body)
    second = outreach.post(url, json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["id"] == second.get_json()["id"]
    reused = outreach.post(url, json={**body, "outcome": "refused"})
    assert reused.status_code == 422 and reused.get_json()["code"] == "idempotency_key_reused"
    with get_database(app).new_session() as s:
        count = s.scalar(
            select(func.count()).where(DeliveryAttempt.allocation_id == uuid.UUID(a["id"]))
        )
        assert count == 1
    assert len(live_followups(app, "delivery_failed", a["id"])) == 1


def test_bad_attempts_are_field_errors_and_write_nothing(app: Flask, login_as: Any) -> None:
    _s, counselor, outreach, c = setup(login_as)
    a = allocated(counselor, c["id"], resident(counselor, "가산로 17"))
    long_ago = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    for body, field in (
        ({"outcome": "teleported"}, "outcome"),
        ({"outcome": "handed_over"}, "recipient_relation"),
        ({"outcome": "absent", "recipient_relation": "self"}, "recipient_relation"),
        ({"outcome": "absent", "concern": True}, "observation"),
        ({"outcome": "absent", "occurred_at": long_ago}, "occurred_at"),
        ({"outcome": "absent", "occurred_at": future}, "occurred_at"),
    ):
        response = outreach.post(
            f"/api/v1/kimchi/allocations/{a['id']}/attempts",
            json={"occurred_at": datetime.now(UTC).isoformat(), **body},
        )
        assert response.status_code == 422 and response.mimetype == PROBLEM, body
        assert field in response.get_json()["errors"], (body, response.get_json())
    with get_database(app).new_session() as s:
        assert s.scalar(select(func.count()).select_from(DeliveryAttempt)) == 0
        allocation = s.get(KimchiAllocation, uuid.UUID(a["id"]))
        assert allocation is not None and allocation.status == "allocated"


def test_a_residents_deliveries_are_on_their_timeline(login_as: Any) -> None:
    _s, counselor, outreach, c = setup(login_as)
    rid = resident(counselor, "가산로 18")
    a = allocated(counselor, c["id"], rid)
    attempt(outreach, a["id"], "absent", observation="문이 잠겨 있음")
    attempt(outreach, a["id"], "left_at_door")
    items = counselor.get(f"/api/v1/residents/{rid}/timeline").get_json()["items"]
    kimchi = [(i["kind"], i["outcome"], i["note"]) for i in items if i["program"] == "kimchi"]
    assert kimchi == [
        ("kimchi_delivery", "left_at_door", None),
        ("kimchi_delivery", "absent", "문이 잠겨 있음"),
        ("kimchi_allocated", "delivered", None),
    ]
    outreach_view = outreach.get(f"/api/v1/residents/{rid}/timeline").get_json()["items"]
    assert all(i["note"] is None for i in outreach_view if i["program"] == "kimchi")


def test_after_erasure_nothing_about_the_recipient_decrypts(app: Flask, login_as: Any) -> None:
    supervisor, counselor, outreach, c = setup(login_as)
    rid = resident(counselor, "가산로 19")
    waiting = resident(counselor, "가산로 20")
    a = allocated(counselor, c["id"], rid)
    w = allocated(counselor, c["id"], waiting)
    attempt(outreach, a["id"], "absent", observation="이웃 말로는 입원 중")
    for who in (rid, waiting):
        erased = supervisor.post(f"/api/v1/residents/{who}/erasure", json={"reason": "파기 요청"})
        assert erased.status_code in (200, 204), erased.get_json()
    listed = counselor.get(f"/api/v1/kimchi/allocations/{a['id']}/attempts")
    assert listed.status_code == 410
    assert "입원" not in listed.get_data(as_text=True)
    assert status_of(counselor, w["id"]) == "cancelled"
    assert status_of(counselor, a["id"]) == "cancelled"
    assert live_followups(app, "delivery_failed", a["id"]) == []
    assert supervisor.get(f"/api/v1/kimchi/campaigns/{c['id']}").get_json()["remaining_stock"] == 10
