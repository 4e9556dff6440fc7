"""Care-request deadlines follow from urgency: elapsed hours, or the next business day at 09:00."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config.casework import (
    URGENCY_FILE,
    WORKFLOWS_FILE,
    load_urgencies,
    load_workflows,
)
from config.jsonfiles import ReferenceDataError
from services.care import respond_by
from welfare.calendar import SEOUL, BusinessCalendar

CALENDAR = BusinessCalendar()


def seoul(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SEOUL)


def test_an_emergency_must_be_answered_within_the_hour_even_at_night_on_a_holiday() -> None:
    received = seoul(2026, 9, 25, 3, 0)  # Chuseok, 3 a.m.
    assert respond_by("emergency", received, CALENDAR) == received + timedelta(hours=1)


def test_an_urgent_request_has_four_hours() -> None:
    received = seoul(2026, 11, 7, 22, 30)  # a Saturday night
    assert respond_by("urgent", received, CALENDAR) == received + timedelta(hours=4)


def test_a_normal_request_is_due_the_next_business_day_at_nine_in_seoul() -> None:
    monday = seoul(2026, 11, 2, 8, 0)
    assert respond_by("normal", monday, CALENDAR) == seoul(2026, 11, 3, 9, 0)


def test_a_normal_request_before_chuseok_waits_for_the_holidays_to_end() -> None:
    received = seoul(2026, 9, 23, 22, 0)  # the evening before the Chuseok holidays
    assert respond_by("normal", received, CALENDAR) == seoul(2026, 9, 28, 9, 0)


def test_the_day_of_receipt_is_counted_on_the_seoul_calendar_not_in_utc() -> None:
    received = datetime(2026, 10, 1, 15, 30, tzinfo=UTC)  # Friday 2 October, 00:30 in Seoul
    # Saturday is National Foundation Day, Monday its substitute holiday.
    assert respond_by("normal", received, CALENDAR) == seoul(2026, 10, 6, 9, 0)


def test_a_day_off_added_by_staff_pushes_the_deadline() -> None:
    calendar = BusinessCalendar(extra_holidays=[seoul(2026, 11, 3, 0, 0).date()])
    assert respond_by("normal", seoul(2026, 11, 2, 8, 0), calendar) == seoul(2026, 11, 4, 9, 0)


def test_the_shipped_workflows_and_urgencies_load() -> None:
    workflows = load_workflows()
    assert set(workflows) == {
        "care_center",
        "ongi",
        "kimchi",
        "mobility",
        "outreach_dispatch",
        "hygiene_care",
    }
    assert all(w.initial == "intake" for w in workflows.values())
    assert workflows["mobility"].may_move("active", "suspended")
    assert set(load_urgencies()) == {"emergency", "urgent", "normal"}


def rewrite(tmp_path: Path, source: Path, change: Any) -> Path:
    data = json.loads(source.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / source.name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_workflow_may_not_close_a_case_by_a_plain_transition(tmp_path: Path) -> None:
    def close_directly(data: dict[str, Any]) -> None:
        data["programs"][0]["transitions"]["active"].append("closed")

    with pytest.raises(ReferenceDataError, match="closure request and decision"):
        load_workflows(rewrite(tmp_path, WORKFLOWS_FILE, close_directly))


def test_a_workflow_status_that_cannot_be_reached_is_refused(tmp_path: Path) -> None:
    def orphan(data: dict[str, Any]) -> None:
        data["programs"][1]["transitions"]["limbo"] = ["active"]

    with pytest.raises(ReferenceDataError, match="'limbo' can never be reached"):
        load_workflows(rewrite(tmp_path, WORKFLOWS_FILE, orphan))


def test_an_urgency_without_its_deadline_is_refused(tmp_path: Path) -> None:
    def no_hours(data: dict[str, Any]) -> None:
        del data["urgencies"][0]["respond_within_hours"]

    with pytest.raises(ReferenceDataError, match=r"emergency.*respond_within_hours"):
        load_urgencies(rewrite(tmp_path, URGENCY_FILE, no_hours))
