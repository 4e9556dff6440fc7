"""Supervisors' view of the access records: filtered queries, cursor pages, the monthly review."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from services.audit import query_events, record_access
from services.audit.review import WorkingHours, monthly_review
from tests.support.audit import staff_actor
from welfare.errors import InvalidInput
from welfare.models import Actor, AuditAction, AuditEvent

SEOUL = ZoneInfo("Asia/Seoul")


def seoul(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SEOUL)


def test_queries_filter_by_resident_staff_action_and_time(session: Session) -> None:
    alice, bob = staff_actor(), staff_actor()
    r1, r2 = uuid.uuid4(), uuid.uuid4()
    appended = [
        record_access(session, actor=alice, action="read", resident_ids=[r1], at=seoul(5, 9)),
        record_access(
            session, actor=alice, action="search", resident_ids=[r1, r2], at=seoul(5, 10)
        ),
        record_access(session, actor=bob, action="read", resident_ids=[r2], at=seoul(6, 9)),
        record_access(session, actor=bob, action="login", at=seoul(6, 8)),
    ]
    number = {event.id: n for n, event in enumerate(appended, start=1)}

    def found(**filters: object) -> list[int]:
        """Which records (by append order) a query lists, in its order: newest `at` first.
        Records are listed from their append on, linked or not."""
        items, _ = query_events(session, **filters)  # type: ignore[arg-type]  # each of its own type
        return [number[e.id] for e in items]

    assert found() == [3, 4, 2, 1]
    assert found(resident_id=r1) == [2, 1]
    assert found(resident_id=r2) == [3, 2]
    assert found(resident_id=uuid.uuid4()) == []
    assert found(staff_id=bob.staff_id) == [3, 4]
    assert found(action=AuditAction.READ) == [3, 1]
    assert found(since=seoul(5, 10), until=seoul(6, 9)) == [4, 2]
    assert found(resident_id=r2, staff_id=alice.staff_id, action="search") == [2]


def test_cursor_pages_walk_every_record_once_newest_first(session: Session) -> None:
    actor = staff_actor()
    number = {
        record_access(session, actor=actor, action="read", at=seoul(1, 9, i)).id: i + 1
        for i in range(12)
    }
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        items, cursor = query_events(session, staff_id=actor.staff_id, cursor=cursor, limit=5)
        seen.extend(number[e.id] for e in items)
        pages += 1
        if cursor is None:
            break
        assert str(items[-1].id) not in cursor  # opaque, not a bare id
    assert seen == list(range(12, 0, -1))
    assert pages == 3


def test_an_exact_last_page_returns_no_further_cursor(session: Session) -> None:
    for i in range(4):
        record_access(session, actor=staff_actor(), action="read", at=seoul(1, 9, i))
    items, cursor = query_events(session, limit=4)
    assert (len(items), cursor) == (4, None)


@pytest.mark.parametrize(
    "filters",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": ""},
        {"limit": 0},
        {"limit": 10_000},
        {"action": "peek"},
        {"since": datetime(2026, 1, 1)},  # noqa: DTZ001 - the naive value under test
    ],
)
def test_bad_query_input_is_a_validation_error(session: Session, filters: dict) -> None:
    with pytest.raises(InvalidInput):
        query_events(session, **filters)


def read(session: Session, actor: Actor, at: datetime, n: int = 1) -> list[AuditEvent]:
    return [
        record_access(session, actor=actor, action="read", resident_ids=[uuid.uuid4()], at=at)
        for _ in range(n)
    ]


def test_the_monthly_review_flags_out_of_hours_access_and_a_volume_outlier(
    session: Session,
) -> None:
    team = [staff_actor() for _ in range(5)]
    for i, member in enumerate(team):
        read(session, member, seoul(6, 10), n=10 + i % 2)  # a Tuesday morning, in hours
    heavy = staff_actor()
    read(session, heavy, seoul(7, 14), n=60)
    night_owl = team[0]
    read(session, night_owl, seoul(8, 23, 30))  # Thursday 23:30 in Seoul
    read(session, night_owl, seoul(10, 11))  # Saturday
    read(session, team[1], seoul(9, 7, 59))  # Friday, a minute before opening
    read(session, team[1], seoul(9, 20, 0))  # Friday, closing time
    read(session, team[2], seoul(31, 23), n=1)  # last evening of the month
    read(session, team[2], seoul(1, 9, month=11), n=5)  # next month: not counted
    record_access(session, actor=team[3], action="access_denied", outcome="denied", at=seoul(6, 11))
    record_access(session, actor=team[3], action="reveal", reason="사례 확인", at=seoul(6, 11))
    record_access(session, actor=team[4], action="export", reason="김장 배송 명단", at=seoul(6, 12))
    record_access(session, actor=team[4], action="export", outcome="denied", at=seoul(6, 12))
    record_access(session, actor=team[4], action="login_failed", at=seoul(6, 3))  # security

    review = monthly_review(session, month=date(2026, 10, 1))

    assert review["month"] == "2026-10"
    assert review["period"] == {
        "from": "2026-09-30T15:00:00+00:00",
        "until": "2026-10-31T15:00:00+00:00",
    }
    outliers = review["volume"]["outliers"]
    assert [o["staff_id"] for o in outliers] == [str(heavy.staff_id)]
    out_of_hours = {o["staff_id"]: o["events"] for o in review["out_of_hours"]}
    assert out_of_hours == {
        str(night_owl.staff_id): 2,
        str(team[1].staff_id): 2,
        str(team[2].staff_id): 1,
    }
    assert review["access_denied"] == [{"staff_id": str(team[3].staff_id), "events": 1}]
    assert review["reveals"] == [{"staff_id": str(team[3].staff_id), "events": 1}]
    assert review["exports"] == [{"staff_id": str(team[4].staff_id), "events": 2}]
    totals = review["totals"]
    assert (totals["exports_without_reason"], totals["by_action"]["login_failed"]) == (1, 1)
    assert totals["out_of_hours"] == 5


def test_the_review_holds_counts_and_staff_ids_but_no_resident_ids(session: Session) -> None:
    events = read(session, staff_actor(), seoul(6, 10), n=3)
    text = json.dumps(monthly_review(session, month=date(2026, 10, 1)))
    for event in events:
        for resident_id in event.resident_ids:
            assert resident_id not in text


def test_a_public_holiday_counts_as_out_of_hours_and_the_window_is_a_parameter(
    session: Session,
) -> None:
    actor = staff_actor()
    read(session, actor, seoul(14, 18, 30))  # an ordinary Wednesday evening
    assert monthly_review(session, month=date(2026, 10, 1))["out_of_hours"] == []
    read(session, actor, seoul(5, 10))  # Monday: substitute holiday for 개천절 (Oct 3, a Saturday)
    read(session, actor, seoul(9, 10))  # Friday: 한글날 (Hangul Day)
    default = monthly_review(session, month=date(2026, 10, 1))
    assert default["out_of_hours"] == [{"staff_id": str(actor.staff_id), "events": 2}]
    shorter = monthly_review(
        session, month=date(2026, 10, 1), working_hours=WorkingHours(end=time(18))
    )
    assert shorter["out_of_hours"] == [{"staff_id": str(actor.staff_id), "events": 3}]
    assert shorter["working_hours"]["end"] == "18:00"
    no_holidays = monthly_review(
        session, month=date(2026, 10, 1), working_hours=WorkingHours(public_holidays_off=False)
    )
    assert no_holidays["out_of_hours"] == []


def test_an_empty_month_reviews_to_zeros(session: Session) -> None:
    review = monthly_review(session, month=date(2026, 2, 1))
    assert review["totals"]["events"] == 0
    assert review["volume"]["outliers"] == []
    assert review["per_staff"] == []


def test_staff_listings_are_sorted_for_a_stable_report(session: Session) -> None:
    first, second = staff_actor(), staff_actor()
    read(session, first, seoul(6, 23), n=1)
    read(session, second, seoul(6, 23), n=3)
    review = monthly_review(session, month=date(2026, 10, 1))
    assert [o["events"] for o in review["out_of_hours"]] == [3, 1]
    assert [p["staff_id"] for p in review["per_staff"]] == sorted(
        [str(first.staff_id), str(second.staff_id)]
    )


def test_the_review_counts_attempts_refused_as_duplicates(session: Session) -> None:
    prober, other = staff_actor(), staff_actor()
    for _ in range(3):
        record_access(
            session,
            actor=prober,
            action="create",
            resident_ids=[uuid.uuid4()],
            outcome="conflict",
            at=seoul(6, 10),
        )
    read(session, other, seoul(6, 10), n=2)
    review = monthly_review(session, month=date(2026, 10, 1))
    assert review["conflicts"] == [{"staff_id": str(prober.staff_id), "events": 3}]
    assert review["totals"]["conflicts"] == 3
