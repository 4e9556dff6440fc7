"""The tick raises `care_response_overdue` exactly once per unanswered request past its deadline."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import care, followup_queue, residents
from tests.support.casework import unique_rrn
from tests.support.staff import DOKSAN1, GASAN, log_in, make_staff
from welfare.database import Database
from welfare.models import FollowUp, FollowUpEvent

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday, 09:00 in Seoul
TICK = Job("followups", run_followups)
REASON = "care_response_overdue"


@pytest.fixture
def counselor(app: Flask) -> Any:
    return make_staff(app, "counselor", (GASAN,)).actor()


@pytest.fixture
def received(db: Database, counselor: Any) -> Callable[..., uuid.UUID]:
    """Receive a request at T0 (or `at`) in Gasan-dong; returns its id."""

    def make(urgency: str = "emergency", at: datetime = T0, **extra: Any) -> uuid.UUID:
        with db.new_session() as s:
            return care.receive_request(
                s,
                actor=counselor,
                dong=GASAN,
                care_type="elder_care",
                urgency=urgency,
                summary="혼자 사는 어르신 연락 두절",
                now=at,
                **extra,
            ).id

    return make


def tick(db: Database, at: datetime) -> dict[str, Any]:
    result = run_job(db, TICK, as_of=at)
    assert result.status == "succeeded", result
    return result.counts


def overdue(db: Database, request_id: uuid.UUID) -> list[FollowUp]:
    with db.new_session() as s:
        return list(
            s.scalars(
                select(FollowUp)
                .where(FollowUp.subject_id == request_id, FollowUp.reason == REASON)
                .order_by(FollowUp.raised_at)
            )
        )


def respond(db: Database, actor: Any, request_id: uuid.UUID, at: datetime) -> None:
    with db.new_session() as s:
        care.respond(s, actor=actor, request_id=request_id, note="현장 출동, 안전 확인", now=at)


def test_an_emergency_request_answered_in_time_raises_nothing(
    db: Database, received: Any, counselor: Any
) -> None:
    request_id = received("emergency")
    respond(db, counselor, request_id, T0 + timedelta(minutes=40))
    for hours in (1, 2, 30):
        assert tick(db, T0 + timedelta(hours=hours))["care_overdue_raised"] == 0
    assert overdue(db, request_id) == []


def test_an_unanswered_request_raises_exactly_one_follow_up_however_many_ticks_run(
    db: Database, received: Any
) -> None:
    request_id = received("emergency")
    assert tick(db, T0 + timedelta(minutes=59))["care_overdue_raised"] == 0
    assert tick(db, T0 + timedelta(hours=1))["care_overdue_raised"] == 1
    for minutes in (61, 61, 75, 90, 119):
        assert tick(db, T0 + timedelta(minutes=minutes))["care_overdue_raised"] == 0
    (followup,) = overdue(db, request_id)
    assert (followup.subject_type, followup.program, followup.state) == (
        "care_request",
        "care_center",
        "open",
    )
    assert (followup.dong_code, followup.resident_id) == (GASAN, None)
    assert followup.due_at == T0 + timedelta(hours=1)
    assert followup.evidence["care_request_id"] == str(request_id)


def test_a_scheduler_stopped_for_a_day_still_raises_one_follow_up(
    db: Database, received: Any
) -> None:
    request_id = received("urgent")
    tick(db, T0)
    assert tick(db, T0 + timedelta(days=1))["care_overdue_raised"] == 1
    assert len(overdue(db, request_id)) == 1


def test_a_late_response_resolves_the_follow_up_and_nothing_is_raised_again(
    db: Database, received: Any, counselor: Any
) -> None:
    request_id = received("emergency")
    tick(db, T0 + timedelta(hours=1, minutes=5))
    respond(db, counselor, request_id, T0 + timedelta(hours=1, minutes=30))
    (followup,) = overdue(db, request_id)
    assert (followup.state, followup.outcome) == ("resolved", "responded")
    assert tick(db, T0 + timedelta(hours=3))["care_overdue_raised"] == 0
    assert len(overdue(db, request_id)) == 1


def test_an_outcome_without_a_response_cancels_the_follow_up(
    db: Database, received: Any, counselor: Any
) -> None:
    request_id = received("emergency")
    tick(db, T0 + timedelta(hours=2))
    with db.new_session() as s:
        care.record_outcome(
            s, actor=counselor, request_id=request_id, outcome="closed", now=T0 + timedelta(hours=3)
        )
    (followup,) = overdue(db, request_id)
    assert (followup.state, followup.outcome) == ("cancelled", "request_closed")


def test_the_overdue_follow_up_climbs_the_care_ladder(db: Database, received: Any) -> None:
    request_id = received("emergency")
    raised_at = T0 + timedelta(hours=1)
    tick(db, raised_at)
    (followup,) = overdue(db, request_id)
    assert followup.next_escalation_at == raised_at + timedelta(hours=2)  # on-shift counselor
    tick(db, raised_at + timedelta(hours=2))
    tick(db, raised_at + timedelta(hours=2))
    (followup,) = overdue(db, request_id)
    assert (followup.step, followup.state) == (2, "escalated")
    with db.new_session() as s:
        details = list(
            s.scalars(
                select(FollowUpEvent.detail)
                .where(FollowUpEvent.followup_id == followup.id)
                .order_by(FollowUpEvent.at)
            )
        )
    assert [d["target_role"] for d in details] == ["counselor", "supervisor"]


def test_a_normal_request_is_overdue_only_after_the_next_business_morning(
    db: Database, received: Any
) -> None:
    friday_evening = datetime(2026, 11, 6, 10, 0, tzinfo=UTC)  # 19:00 in Seoul
    request_id = received("normal", at=friday_evening)
    monday_nine = datetime(2026, 11, 9, 0, 0, tzinfo=UTC)
    assert tick(db, monday_nine - timedelta(minutes=1))["care_overdue_raised"] == 0
    assert tick(db, monday_nine)["care_overdue_raised"] == 1
    assert len(overdue(db, request_id)) == 1


def test_a_follow_up_about_a_request_without_a_resident_stays_in_its_dong(
    app: Flask, db: Database, received: Any
) -> None:
    request_id = received("emergency")
    tick(db, T0 + timedelta(hours=1))
    (followup,) = overdue(db, request_id)
    gasan = log_in(app, make_staff(app, "outreach", (GASAN,)))
    doksan = log_in(app, make_staff(app, "counselor", (DOKSAN1,)))
    queue = gasan.get(f"/api/v1/followups?reason={REASON}").get_json()["items"]
    assert [f["id"] for f in queue] == [str(followup.id)]
    assert doksan.get(f"/api/v1/followups?reason={REASON}").get_json()["items"] == []
    assert doksan.get(f"/api/v1/followups/{followup.id}").status_code == 404


def test_linking_the_request_later_puts_its_follow_up_on_the_residents_timeline(
    db: Database, received: Any, counselor: Any
) -> None:
    request_id = received("emergency")
    tick(db, T0 + timedelta(hours=1))
    with db.new_session() as s:
        resident = residents.register_resident(
            s, actor=counselor, name="박말순", rrn=unique_rrn(), dong=GASAN, now=T0
        )
        care.link_resident(
            s,
            actor=counselor,
            request_id=request_id,
            resident_id=resident.id,
            now=T0 + timedelta(hours=1, minutes=10),
        )
    (followup,) = overdue(db, request_id)
    assert followup.resident_id == resident.id


def test_a_note_on_an_unlinked_request_follow_up_survives_linking(
    db: Database, received: Any, counselor: Any
) -> None:
    request_id = received("emergency")
    tick(db, T0 + timedelta(hours=2))
    (followup,) = overdue(db, request_id)
    with db.new_session() as s:
        followup_queue.resolve(
            s,
            actor=counselor,
            followup_id=followup.id,
            outcome="other",
            note="현장 도착, 보호자 연락 중",
            now=T0 + timedelta(hours=3),
        )
        view = residents.register_resident(
            s, actor=counselor, name="연결대상", rrn=unique_rrn(), dong=GASAN, now=T0
        )
        care.link_resident(
            s,
            actor=counselor,
            request_id=request_id,
            resident_id=view.id,
            now=T0 + timedelta(hours=4),
        )
    with db.new_session() as s:
        _, events = followup_queue.get_followup(s, actor=counselor, followup_id=followup.id)
    assert events[-1].note == "현장 도착, 보호자 연락 중"
