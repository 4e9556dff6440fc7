"""External referrals to partner agencies: consent first, a sheet holding only what the consent
scope allows (recorded as an export), sent → accepted/declined → completed, a follow-up when a
partner does not answer in time, and the Hannae branch refused before it opens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from tests.support.casework import open_case, register
from tests.support.clock import Clock
from tests.support.staff import DOKSAN1
from welfare.models import AuditEvent, ExternalReferral, FollowUp
from welfare.web import get_database

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Seoul
TICK = Job("followups", run_followups)
PHONE = "010-2345-6789"
ADDRESS = "서울특별시 금천구 가산로 1"


@pytest.fixture(autouse=True)
def clock(app: Flask) -> Clock:
    return Clock(NOW).install(app)


def consent(scope: str = "contact") -> dict[str, Any]:
    return {"given_by": "본인", "given_at": (NOW - timedelta(hours=1)).isoformat(), "scope": scope}


def refer(client: Any, rid: str, **overrides: Any) -> Any:
    body = {
        "partner": "welfare_foundation",
        "reason": "긴급 생계비 지원 연계",
        "consent": consent(),
        **overrides,
    }
    return client.post(f"/api/v1/residents/{rid}/external-referrals", json=body)


def resident(counselor: Any) -> str:
    return str(register(counselor, phone=PHONE, address=ADDRESS)["id"])


def exports(app: Flask, rid: str) -> int:
    with get_database(app).new_session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
        return sum(1 for e in events if rid in str(e.resident_ids))


def test_the_sheet_carries_only_what_the_consent_scope_allows_and_is_an_export(
    app: Flask, login_as: Any
) -> None:
    counselor = login_as("counselor")
    rid = resident(counselor)
    contact_only = refer(counselor, rid)
    assert contact_only.status_code == 201, contact_only.get_json()
    body = contact_only.get_json()
    assert body["sheet"] == {"name": "이순자", "phone": PHONE, "reason": "긴급 생계비 지원 연계"}
    assert body["state"] == "sent" and body["partner_name"] == "금천복지재단"
    assert exports(app, rid) == 1
    health = refer(counselor, rid, partner="health_center", consent=consent("health"))
    assert health.status_code == 201, health.get_json()
    assert set(health.get_json()["sheet"]) == {
        "name",
        "phone",
        "address",
        "birth_year",
        "sex",
        "reason",
    }
    # Showing the sheet again is another export; outreach workers see no sheet (a read).
    again = counselor.get(f"/api/v1/external-referrals/{body['id']}")
    assert again.status_code == 200 and again.get_json()["sheet"] == body["sheet"]
    assert exports(app, rid) == 3
    outreach = login_as("outreach").get(f"/api/v1/external-referrals/{body['id']}")
    assert outreach.status_code == 200
    assert outreach.get_json()["sheet"] is None and outreach.get_json()["reason"] is None
    assert exports(app, rid) == 3


def test_hannae_health_branch_is_refused_in_korean_before_it_opens(
    login_as: Any, clock: Clock
) -> None:
    counselor = login_as("counselor")
    rid = resident(counselor)
    listed = counselor.get("/api/v1/partners").get_json()["items"]
    hannae = next(p for p in listed if p["code"] == "hannae_health_branch")
    assert hannae["name"] == "한내보건지소" and hannae["selectable"] is False
    refused = refer(counselor, rid, partner="hannae_health_branch", consent=consent("health"))
    assert refused.status_code == 422
    [message] = refused.get_json()["errors"]["partner"]
    assert message.startswith("한내보건지소는 2027-03-01부터 의뢰할 수 있습니다")
    clock.advance(days=90)  # 2027-03-01, 10:00 in Seoul
    counselor = login_as("counselor")  # the first session has long expired
    opened = refer(counselor, rid, partner="hannae_health_branch", consent=consent("health"))
    assert opened.status_code == 201, opened.get_json()


def test_no_consent_no_referral_and_bad_input_is_a_korean_422(login_as: Any) -> None:
    counselor = login_as("counselor")
    rid = resident(counselor)
    for overrides, field in (
        ({"consent": {**consent(), "scope": "everything"}}, "consent.scope"),
        ({"partner": "unknown_agency"}, "partner"),
        ({"consent": {**consent(), "given_at": (NOW + timedelta(days=1)).isoformat()}}, None),
    ):
        response = refer(counselor, rid, **overrides)
        assert response.status_code == 422, overrides
        errors = response.get_json()["errors"]
        if field:
            assert errors[field][0][0] >= "\uac00"
    missing = counselor.post(
        f"/api/v1/residents/{rid}/external-referrals",
        json={"partner": "welfare_foundation", "reason": "사유"},
    )
    assert missing.status_code == 422
    with get_database(counselor.application).new_session() as s:
        assert s.scalars(select(ExternalReferral)).all() == []


def test_answer_then_complete_with_if_match_and_no_second_answer(login_as: Any) -> None:
    counselor = login_as("counselor")
    rid = resident(counselor)
    sent = refer(counselor, rid).get_json()
    path = f"/api/v1/external-referrals/{sent['id']}"
    early = counselor.post(f"{path}/complete", json={})
    assert early.status_code == 409
    stale = counselor.post(
        f"{path}/answer", json={"answer": "accepted"}, headers={"If-Match": '"v9"'}
    )
    assert stale.status_code == 412
    accepted = counselor.post(
        f"{path}/answer", json={"answer": "accepted", "note": "담당자 김재단 확인"}
    )
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["state"] == "accepted"
    assert counselor.post(f"{path}/answer", json={"answer": "declined"}).status_code == 409
    done = counselor.post(f"{path}/complete", json={"note": "지원 완료"})
    assert done.status_code == 200 and done.get_json()["state"] == "completed"
    listed = counselor.get("/api/v1/external-referrals", query_string={"state": "completed"})
    assert [i["id"] for i in listed.get_json()["items"]] == [sent["id"]]
    assert listed.get_json()["items"][0]["sheet"] is None


def test_a_retried_referral_sends_once_and_a_reused_key_is_refused(login_as: Any) -> None:
    counselor = login_as("counselor")
    rid = resident(counselor)
    first = refer(counselor, rid, client_ref="ref-0001-abc")
    again = refer(counselor, rid, client_ref="ref-0001-abc")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    other = refer(counselor, rid, client_ref="ref-0001-abc", reason="다른 사유")
    assert other.status_code == 422
    assert other.get_json()["code"] == "idempotency_key_reused"


def test_an_unanswered_referral_raises_a_follow_up_after_three_business_days(
    app: Flask, login_as: Any
) -> None:
    counselor = login_as("counselor")
    rid = resident(counselor)
    sent = refer(counselor, rid).get_json()
    db = get_database(app)
    due = datetime.fromisoformat(sent["answer_due_at"])
    assert due == datetime(2026, 12, 4, 1, 0, tzinfo=UTC)  # Tue + 3 business days = Fri
    assert (
        run_job(db, TICK, as_of=due - timedelta(minutes=1)).counts["partner_unanswered_raised"] == 0
    )
    assert run_job(db, TICK, as_of=due).counts["partner_unanswered_raised"] == 1
    assert (
        run_job(db, TICK, as_of=due + timedelta(hours=1)).counts["partner_unanswered_raised"] == 0
    )
    with db.new_session() as s:
        [followup] = s.scalars(
            select(FollowUp).where(FollowUp.reason == "partner_unanswered")
        ).all()
        assert followup.subject_id == uuid.UUID(sent["id"])
        assert followup.dong_code == sent["dong"] and followup.state == "open"
    declined = counselor.post(
        f"/api/v1/external-referrals/{sent['id']}/answer", json={"answer": "declined"}
    )
    assert declined.status_code == 200
    with db.new_session() as s:
        closed = s.get(FollowUp, followup.id)
        assert closed is not None
        assert (closed.state, closed.outcome) == ("resolved", "partner_answered")


def test_another_dongs_staff_see_nothing_of_a_referral(login_as: Any) -> None:
    counselor = login_as("counselor")
    rid = resident(counselor)
    sent = refer(counselor, rid).get_json()
    elsewhere = login_as("counselor", (DOKSAN1,))
    assert elsewhere.get(f"/api/v1/external-referrals/{sent['id']}").status_code == 404
    assert elsewhere.get("/api/v1/external-referrals").get_json()["items"] == []
    assert refer(elsewhere, rid).status_code == 404


def test_a_referral_is_not_attached_to_a_closed_case(app: Flask, login_as: Any) -> None:
    counselor = login_as("counselor")
    rid = resident(counselor)
    case = open_case(counselor, rid, "ongi").get_json()["id"]
    asked = counselor.post(f"/api/v1/cases/{case}/closure-request", json={"note": "끝남"})
    assert asked.status_code == 200, asked.get_json()
    decided = login_as("supervisor").post(
        f"/api/v1/cases/{case}/closure-decision", json={"approve": True}
    )
    assert decided.status_code == 200, decided.get_json()

    refused = refer(counselor, rid, case_id=case)

    assert refused.status_code == 409, refused.get_json()
    assert refused.get_json()["code"] == "case_closed"
    with get_database(app).new_session() as s:
        assert s.scalars(select(ExternalReferral)).all() == []
    assert refer(counselor, rid).status_code == 201  # without the case it is sent
