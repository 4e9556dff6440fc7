"""Supervisors query access records and the monthly review; every security event is there."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select

from services import audit
from tests.support.staff import DOKSAN1, GASAN, PASSWORD, make_staff
from welfare.models import AccessRightChange
from welfare.web import get_database


def test_supervisors_query_access_records_by_resident_and_action(login_as: Any) -> None:
    counselor = login_as("counselor")
    rid = counselor.post(
        "/api/v1/residents", json={"name": "최말순", "rrn": "350505-2234564", "dong": GASAN}
    ).get_json()["id"]
    counselor.get(f"/api/v1/residents/{rid}")
    supervisor = login_as("supervisor")
    items = supervisor.get(f"/api/v1/audit/events?resident_id={rid}").get_json()["items"]
    assert [(i["action"], i["staff_id"]) for i in items] == [
        ("read", str(counselor.staff.id)),
        ("create", str(counselor.staff.id)),
    ]
    assert all(i["request_id"] for i in items)
    reads = supervisor.get("/api/v1/audit/events?action=read").get_json()["items"]
    assert {i["action"] for i in reads} == {"read"}
    assert "최말순" not in str(items)
    assert login_as("counselor").get("/api/v1/audit/events").status_code == 403


def test_logins_failures_lockouts_and_logouts_are_recorded(app: Flask, login_as: Any) -> None:
    member = make_staff(app, "outreach")
    client = app.test_client()
    for _ in range(5):
        client.post(
            "/api/v1/auth/login", json={"username": member.username, "password": "nope nope nope"}
        )
    client.post("/api/v1/auth/login", json={"username": "ghost", "password": PASSWORD})
    supervisor = login_as("supervisor")
    actions = [
        i["action"]
        for i in supervisor.get(f"/api/v1/audit/events?staff_id={member.id}").get_json()["items"]
    ]
    assert actions.count("login_failed") == 5
    assert "locked_out" in actions
    ghost = supervisor.get("/api/v1/audit/events?action=login_failed").get_json()["items"]
    assert any(i["staff_id"] is None for i in ghost)
    supervisor.post("/api/v1/auth/logout")
    with get_database(app).new_session() as s:
        assert audit.verify_chain(s, "access").ok


def test_every_change_of_access_rights_is_kept_in_its_own_chain(app: Flask, login_as: Any) -> None:
    admin = login_as("admin", dongs=())
    created = admin.post(
        "/api/v1/staff",
        json={
            "username": "rights.test",
            "role": "counselor",
            "dongs": [GASAN],
            "password": "a perfectly fine passphrase",
        },
    ).get_json()
    etag = admin.get(f"/api/v1/staff/{created['id']}").headers["ETag"]
    admin.patch(
        f"/api/v1/staff/{created['id']}", json={"role": "supervisor"}, headers={"If-Match": etag}
    )
    admin.post(f"/api/v1/staff/{created['id']}/deactivate")
    with get_database(app).new_session() as s:
        changes = list(
            s.scalars(
                select(AccessRightChange)
                .where(AccessRightChange.target_staff_id == uuid.UUID(created["id"]))
                .order_by(AccessRightChange.at, AccessRightChange.id)
            )
        )
        assert audit.verify_chain(s, "access_rights").ok
    # counselor -> supervisor is a grant of a privileged role: recorded as such
    assert [c.change for c in changes] == ["created", "role_granted", "deactivated"]
    assert changes[1].before["role"] == "counselor"
    assert changes[1].after["role"] == "supervisor"
    assert all(c.actor_staff_id == admin.staff.id for c in changes)


def test_the_monthly_review_is_served_to_supervisors(login_as: Any) -> None:
    supervisor = login_as("supervisor")
    response = supervisor.get("/api/v1/audit/review?month=2026-11")
    assert response.status_code == 200
    assert isinstance(response.get_json(), dict)
    assert supervisor.get("/api/v1/audit/review?month=2026-13").status_code == 422


def test_a_review_month_the_calendar_cannot_bound_is_a_422(login_as: Any) -> None:
    supervisor = login_as("supervisor")
    for month in ("0000-01", "0001-01", "9999-12"):
        response = supervisor.get(f"/api/v1/audit/review?month={month}")
        assert response.status_code == 422, (month, response.get_json())
        assert "month" in response.get_json()["errors"]


def test_every_lockout_shows_up_in_the_monthly_review(login_as: Any, app: Flask) -> None:
    member = make_staff(app, "counselor")
    client = app.test_client()
    for _ in range(5):
        client.post("/api/v1/auth/login", json={"username": member.username, "password": "x" * 12})
    supervisor = login_as("supervisor")
    month = f"{datetime.now(ZoneInfo('Asia/Seoul')):%Y-%m}"
    review = supervisor.get(f"/api/v1/audit/review?month={month}").get_json()
    expected = {"staff_id": str(member.id), "events": 1, "staff_name": member.username}
    assert expected in review["lockouts"]  # names beside ids for the reviewer
    assert review["totals"]["lockouts"] >= 1
    mine = [p for p in review["per_staff"] if p["staff_id"] == str(member.id)]
    assert mine[0]["lockouts"] == 1


def test_supervisors_review_their_dongs_records_and_admins_all_without_reasons(
    login_as: Any,
) -> None:
    """Supervisors see the records about their dongs' residents (by anyone) and the records of
    their dongs' staff (about anyone); ids of other dongs' residents and reasons about them are
    withheld. Admins see every record and every (pseudonymous) id, but no free-text reason."""
    gasan_counselor = login_as("counselor", dongs=(GASAN,))
    rid = gasan_counselor.post(
        "/api/v1/residents", json={"name": "최말순", "rrn": "350505-2234564", "dong": GASAN}
    ).get_json()["id"]
    reveal = gasan_counselor.post(
        f"/api/v1/residents/{rid}/reveal-rrn", json={"reason": "긴급 지원 연계 확인"}
    )
    assert reveal.status_code == 200
    doksan_counselor = login_as("counselor", dongs=(DOKSAN1,))
    assert doksan_counselor.get(f"/api/v1/residents/{rid}").status_code == 404  # a probe

    gasan = login_as("supervisor", dongs=(GASAN,))
    about = gasan.get(f"/api/v1/audit/events?resident_id={rid}").get_json()["items"]
    assert [(i["action"], i["staff_id"]) for i in about] == [
        ("access_denied", str(doksan_counselor.staff.id)),  # another dong's probe shows
        ("reveal", str(gasan_counselor.staff.id)),
        ("create", str(gasan_counselor.staff.id)),
    ]
    assert about[1]["reason"] == "긴급 지원 연계 확인"
    assert all(i["resident_ids"] == [rid] and i["resident_ids_withheld"] == 0 for i in about)

    doksan = login_as("supervisor", dongs=(DOKSAN1,))
    own = doksan.get(f"/api/v1/audit/events?staff_id={doksan_counselor.staff.id}")
    (probe,) = [i for i in own.get_json()["items"] if i["action"] == "access_denied"]
    assert (probe["resident_ids"], probe["resident_ids_withheld"]) == ([], 1)
    assert doksan.get(f"/api/v1/audit/events?resident_id={rid}").get_json()["items"] == [probe]
    everything = doksan.get("/api/v1/audit/events?limit=200").get_json()["items"]
    assert str(gasan_counselor.staff.id) not in str(everything)

    admin = login_as("admin", dongs=())
    seen = admin.get(f"/api/v1/audit/events?resident_id={rid}").get_json()["items"]
    assert [i["action"] for i in seen] == ["access_denied", "reveal", "create"]
    assert (seen[1]["reason"], seen[1]["reason_withheld"]) == (None, True)
    assert all(i["resident_ids"] == [rid] for i in seen)
    assert "긴급 지원" not in str(admin.get("/api/v1/audit/events?limit=200").get_json())


def test_the_monthly_review_covers_the_supervisor_s_dongs_only(login_as: Any) -> None:
    gasan_counselor = login_as("counselor", dongs=(GASAN,))
    gasan_counselor.post(
        "/api/v1/residents", json={"name": "최말순", "rrn": "350505-2234564", "dong": GASAN}
    )
    month = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y-%m")
    doksan = login_as("supervisor", dongs=(DOKSAN1,))
    review = doksan.get(f"/api/v1/audit/review?month={month}").get_json()
    assert review["scope"] == {"dongs": [DOKSAN1]}
    assert str(gasan_counselor.staff.id) not in str(review)
    gasan = login_as("supervisor", dongs=(GASAN,))
    mine = gasan.get(f"/api/v1/audit/review?month={month}").get_json()
    assert str(gasan_counselor.staff.id) in [p["staff_id"] for p in mine["per_staff"]]
    admin = login_as("admin", dongs=())
    assert admin.get(f"/api/v1/audit/review?month={month}").get_json()["scope"] == {"dongs": None}
