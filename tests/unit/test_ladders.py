"""Risk levels and escalation ladders load from their files, and a bad file names its problem."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from config import Settings, SettingsError
from config.jsonfiles import ReferenceDataError
from config.ladders import (
    DEFAULT_RISK_LEVEL,
    LADDERS_FILE,
    REASONS,
    RISK_LEVELS_FILE,
    TARGET_ROLES,
    Clock,
    Ladder,
    LadderBook,
    LadderStep,
    load_ladders,
    load_risk_levels,
)
from config.settings import ENVIRONMENT
from welfare.models import Role

ONGI_RUNGS = ["phone_check", "home_visit", "supervisor_review", "emergency_visit_112_119"]


@pytest.fixture
def book() -> LadderBook:
    return load_ladders(risk_levels=load_risk_levels())


def shipped_ladders() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(LADDERS_FILE.read_text(encoding="utf-8"))
    return data


def time_to_top(ladder: Ladder) -> timedelta:
    """Calendar time from the raise until the last step is reached."""
    total = timedelta(0)
    for step in ladder.steps[:-1]:
        assert step.delay is not None
        total += step.delay
    return total


# --- the shipped files ---------------------------------------------------------------------


def test_the_shipped_risk_levels_set_daily_three_day_and_weekly_intervals() -> None:
    levels = load_risk_levels()
    assert {code: level.interval for code, level in levels.items()} == {
        "high": timedelta(hours=24),
        "medium": timedelta(hours=72),
        "low": timedelta(hours=168),
    }
    assert [level.label for level in levels.values()] == ["고위험", "중위험", "저위험"]


def test_the_shipped_ladders_load_and_name_only_known_risk_levels(book: LadderBook) -> None:
    known = set(load_risk_levels()) | {DEFAULT_RISK_LEVEL}
    assert {ladder.risk_level for ladder in book} <= known
    assert book.reasons == set(REASONS)


@pytest.mark.parametrize("reason", REASONS)
def test_every_reason_has_a_default_ladder(book: LadderBook, reason: str) -> None:
    ladder = book.for_(reason)
    assert ladder.reason == reason
    assert ladder.risk_level == DEFAULT_RISK_LEVEL
    assert ladder.steps


@pytest.mark.parametrize("risk_level", ["high", "medium", "low", DEFAULT_RISK_LEVEL])
def test_the_ongi_ladder_climbs_phone_visit_supervisor_then_112_119(
    book: LadderBook, risk_level: str
) -> None:
    ladder = book.for_("contact_lapsed", risk_level)
    assert ladder.risk_level == risk_level
    assert [step.action for step in ladder.steps] == ONGI_RUNGS
    assert [step.target_role for step in ladder.steps][:2] == ["outreach", "outreach"]


def test_contact_lapse_ladders_run_on_calendar_time_because_risk_takes_no_holidays(
    book: LadderBook,
) -> None:
    lapse_steps = [
        step for ladder in book if ladder.reason == "contact_lapsed" for step in ladder.steps
    ]
    assert lapse_steps
    assert all(step.clock is Clock.CALENDAR for step in lapse_steps)


def test_high_risk_reaches_the_emergency_visit_in_hours_and_low_risk_more_slowly(
    book: LadderBook,
) -> None:
    high, medium, low = (book.for_("contact_lapsed", r) for r in ("high", "medium", "low"))
    assert time_to_top(high) <= timedelta(hours=12)
    assert time_to_top(high) < time_to_top(medium) < time_to_top(low)


def test_an_unknown_risk_level_gets_the_high_risk_timings_through_the_default(
    book: LadderBook,
) -> None:
    fallback = book.for_("contact_lapsed", "very_high")
    assert fallback.risk_level == DEFAULT_RISK_LEVEL
    assert fallback.steps == book.for_("contact_lapsed", "high").steps


def test_a_reason_without_a_ladder_for_the_risk_level_falls_back_to_its_default(
    book: LadderBook,
) -> None:
    assert book.for_("scheduler_stalled", "high").risk_level == DEFAULT_RISK_LEVEL
    assert book.for_("delivery_failed", "high").risk_level == "high"
    assert book.for_("delivery_failed", "low").risk_level == DEFAULT_RISK_LEVEL


def test_an_unknown_reason_is_a_lookup_error(book: LadderBook) -> None:
    with pytest.raises(LookupError, match="no escalation ladder for reason 'lost_cat'"):
        book.for_("lost_cat", "high")


def test_the_care_center_supervisor_review_is_a_business_day_deadline(book: LadderBook) -> None:
    ladder = book.for_("care_response_overdue")
    first, review = ladder.step(1), ladder.step(2)
    assert first.clock is Clock.CALENDAR  # the 24-hour center hands over at any hour
    assert review.action == "supervisor_review"
    assert review.clock is Clock.BUSINESS
    assert review.business_days == 1
    assert review.delay is None


def test_every_step_has_korean_and_english_labels_and_a_delay_for_its_clock(
    book: LadderBook,
) -> None:
    for ladder in book:
        for step in ladder.steps:
            assert step.label and step.label_en
            if step.clock is Clock.CALENDAR:
                assert step.delay is not None and step.business_days is None
            else:
                assert step.business_days is not None and step.delay is None


def test_escalation_targets_are_staff_roles_that_work_cases() -> None:
    assert set(TARGET_ROLES) <= {role.value for role in Role}
    assert not {"admin", "gateway", "system"} & set(TARGET_ROLES)


def test_a_ladder_step_past_the_top_is_a_lookup_error(book: LadderBook) -> None:
    ladder = book.for_("scheduler_stalled")
    assert ladder.step(len(ladder.steps)).action == "notify_control_center"
    with pytest.raises(LookupError, match="has 2 steps, not 3"):
        ladder.step(3)


def test_a_step_built_in_code_must_carry_the_delay_its_clock_needs() -> None:
    with pytest.raises(ValueError, match="calendar step 1 needs a positive delay"):
        LadderStep(1, None, 2, Clock.CALENDAR, "phone_check", "outreach", "전화")
    with pytest.raises(ValueError, match="business step 1 needs business_days"):
        LadderStep(1, timedelta(hours=2), None, Clock.BUSINESS, "phone_check", "outreach", "전화")


def test_a_ladder_built_in_code_needs_steps_numbered_from_one() -> None:
    step = LadderStep(
        2, timedelta(hours=1), None, Clock.CALENDAR, "phone_check", "outreach", "전화"
    )
    with pytest.raises(ValueError, match="at least one step"):
        Ladder("ride_no_show", "default", ())
    with pytest.raises(ValueError, match="numbered 1, 2, 3"):
        Ladder("ride_no_show", "default", (step,))


def test_a_book_refuses_a_reason_without_a_default_ladder() -> None:
    step = LadderStep(
        1, timedelta(hours=1), None, Clock.CALENDAR, "phone_check", "outreach", "전화"
    )
    with pytest.raises(ValueError, match="'ride_no_show' has no 'default' ladder"):
        LadderBook({("ride_no_show", "high"): Ladder("ride_no_show", "high", (step,))})


# --- bad files name their problem ----------------------------------------------------------


def _first_step(data: dict[str, Any]) -> dict[str, Any]:
    step: dict[str, Any] = data["ladders"][0]["steps"][1]
    return step


def _set(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda data: _first_step(data).__setitem__(key, value)


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: _first_step(data).pop(key)


def _renumber(data: dict[str, Any]) -> None:
    data["ladders"][0]["steps"][2]["step"] = 4


def _drop_default(data: dict[str, Any]) -> None:
    data["ladders"] = [
        ladder
        for ladder in data["ladders"]
        if (ladder["reason"], ladder["risk_level"]) != ("ride_no_show", "default")
    ]


def _duplicate(data: dict[str, Any]) -> None:
    data["ladders"].append(copy.deepcopy(data["ladders"][0]))


def _unknown_reason(data: dict[str, Any]) -> None:
    data["ladders"][0]["reason"] = "contact_lapse"


def _both_delays(data: dict[str, Any]) -> None:
    _first_step(data)["delay_business_days"] = 1


def _business_in_hours(data: dict[str, Any]) -> None:
    _first_step(data)["clock"] = "business"


STEP_WHERE = "ladders[0] (contact_lapsed/high) steps[1] (step 2)"


@pytest.mark.parametrize(
    ("breakage", "where", "problem"),
    [
        (_set("clock", "weekly"), STEP_WHERE, "unknown clock 'weekly'"),
        (_drop("delay_hours"), STEP_WHERE, "missing delay: a calendar step needs delay_hours"),
        (_business_in_hours, STEP_WHERE, "a business step takes delay_business_days"),
        (_both_delays, STEP_WHERE, "takes delay_hours, not delay_business_days"),
        (_set("delay_hours", 0), STEP_WHERE, "delay_hours must be a positive number"),
        (_set("target_role", "admin"), STEP_WHERE, "unknown target_role 'admin'"),
        (_set("action", "send_flowers"), STEP_WHERE, "unknown action 'send_flowers'"),
        (_set("delay_hour", 3), STEP_WHERE, "unknown field delay_hour"),
        (_set("label", " "), STEP_WHERE, "label must be non-empty text"),
        (_renumber, "ladders[0] (contact_lapsed/high)", "numbered 1, 2, 3, … in order"),
        (_unknown_reason, "ladders[0]", "unknown reason 'contact_lapse'"),
        (_duplicate, "(contact_lapsed/high)", "duplicate ladder"),
        (_drop_default, "ladders", "reason 'ride_no_show' has no 'default' ladder"),
    ],
)
def test_a_bad_ladder_file_names_the_file_the_entry_and_the_problem(
    tmp_path: Path, breakage: Callable[[dict[str, Any]], None], where: str, problem: str
) -> None:
    data = shipped_ladders()
    breakage(data)
    path = tmp_path / "ladders.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ReferenceDataError) as error:
        load_ladders(path)
    message = str(error.value)
    assert str(path) in message
    assert where in message
    assert problem in message


def test_a_ladder_for_an_unknown_risk_level_is_refused_when_levels_are_given(
    tmp_path: Path,
) -> None:
    data = shipped_ladders()
    data["ladders"][0]["risk_level"] = "extreme"
    path = tmp_path / "ladders.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_ladders(path).for_("contact_lapsed", "extreme").risk_level == "extreme"
    with pytest.raises(ReferenceDataError, match="unknown risk level 'extreme'"):
        load_ladders(path, risk_levels=load_risk_levels())


def test_a_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ladders.json"
    path.write_text('{"ladders": [', encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=r"ladders\.json: is not valid JSON"):
        load_ladders(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReferenceDataError, match=r"missing\.json: cannot be read"):
        load_risk_levels(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"interval_hours": -24}, "risk_levels[0] (high): interval_hours must be a positive"),
        ({"code": "default"}, "'default' is reserved"),
        ({"code": "Very High"}, "risk_levels[0]: 'Very High' is not a code"),
        ({"code": "medium"}, "risk_levels[1] (medium): duplicate risk level code"),
        ({"interval": 24}, "risk_levels[0]: unknown field interval"),
    ],
)
def test_a_bad_risk_level_file_names_the_entry_and_the_problem(
    tmp_path: Path, entry: dict[str, Any], problem: str
) -> None:
    data = json.loads(RISK_LEVELS_FILE.read_text(encoding="utf-8"))
    data["risk_levels"][0].update(entry)
    path = tmp_path / "risk.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReferenceDataError) as error:
        load_risk_levels(path)
    assert str(path) in str(error.value)
    assert problem in str(error.value)


# --- overriding the files through the environment ------------------------------------------


def test_both_files_are_documented_environment_variables() -> None:
    assert "WELFARE_RISK_LEVELS_FILE" in ENVIRONMENT
    assert "WELFARE_LADDERS_FILE" in ENVIRONMENT


def test_settings_default_to_the_shipped_files() -> None:
    settings = Settings.from_env({})
    assert settings.risk_levels_file is None
    assert settings.ladders_file is None


def test_a_ladders_file_named_in_the_environment_is_the_one_loaded(tmp_path: Path) -> None:
    data = shipped_ladders()
    data["ladders"][0]["steps"][0]["delay_hours"] = 3
    path = tmp_path / "district-ladders.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    settings = Settings.from_env({"WELFARE_LADDERS_FILE": str(path)})
    assert settings.ladders_file == path
    book = load_ladders(settings.ladders_file)
    assert book.for_("contact_lapsed", "high").step(1).delay == timedelta(hours=3)


@pytest.mark.parametrize("variable", ["WELFARE_RISK_LEVELS_FILE", "WELFARE_LADDERS_FILE"])
def test_a_reference_file_variable_pointing_nowhere_stops_start_up(
    tmp_path: Path, variable: str
) -> None:
    with pytest.raises(SettingsError, match=f"{variable} points to .*, which does not exist"):
        Settings.from_env({variable: str(tmp_path / "nowhere.json")})
