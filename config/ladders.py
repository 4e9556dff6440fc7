"""Ongi risk levels and follow-up escalation ladders, read from JSON files and validated at load.

The shipped files are `config/risk_levels.json` and `config/escalation_ladders.json`; a deployment
may point `WELFARE_RISK_LEVELS_FILE` / `WELFARE_LADDERS_FILE` (read by `config.settings`) at its
own copies and pass them here. Ladders are data, not code: timings are district policy.

A follow-up starts on step 1 when it is raised. A step's delay is how long that step has before the
follow-up escalates to the next step, counted from when the follow-up reached it (the raise, for
step 1); on the last step it is how long until the step is overdue. A `calendar` step's delay is
elapsed time; a `business` step's delay is a number of business days (see `welfare.calendar`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final

from config.jsonfiles import (
    expect_code,
    expect_fields,
    expect_list,
    expect_positive,
    expect_text,
    fail,
    read_object,
)
from config.reference import REFERENCE_DIR

RISK_LEVELS_FILE: Final = REFERENCE_DIR / "risk_levels.json"
LADDERS_FILE: Final = REFERENCE_DIR / "escalation_ladders.json"

DEFAULT_RISK_LEVEL: Final = "default"
"""The ladder key a reason falls back to for any risk level without a ladder of its own."""

REASONS: Final = (
    "contact_lapsed",  # Ongi: no successful contact within the risk level's interval
    "care_response_overdue",  # 24-hour care center: a request passed its response deadline
    "delivery_failed",  # kimchi: a delivery ended absent or refused
    "ride_no_show",  # mobility: the rider did not show up
    "eligibility_expiring",  # mobility: a resident's ride eligibility ends within the notice
    "scheduler_stalled",  # system: no successful scheduler tick for too long
    "data_unreadable",  # system: a stored value about a resident failed authentication
    "welfare_concern",  # kimchi: a deliverer's observation that the resident seemed unwell
    "gateway_silent",  # system: a gateway sent nothing for longer than its threshold
    "partner_unanswered",  # a partner agency has not answered an external referral in time
    "dispatch_overdue",  # counselor dispatch: nobody on site by the urgency's deadline
    "hygiene_visit_missed",  # elder health & hygiene: a scheduled visit was missed
)
ACTIONS: Final = (
    "phone_check",
    "home_visit",
    "redeliver",
    "case_review",
    "supervisor_review",
    "emergency_visit_112_119",
    "notify_control_center",
    "admin_repair",
)
# Only people who work cases are escalated to: admins see no case content, gateways are machines.
TARGET_ROLES: Final = ("outreach", "counselor", "supervisor")


class Clock(StrEnum):
    """How a step's delay is counted: elapsed time, or Korean business days."""

    CALENDAR = "calendar"
    BUSINESS = "business"


@dataclass(frozen=True, slots=True)
class RiskLevel:
    """An Ongi risk level and the longest allowed gap between two successful contacts."""

    code: str
    label: str
    interval: timedelta
    label_en: str = ""


@dataclass(frozen=True, slots=True)
class LadderStep:
    """One rung: who must do what, and how long they have before the follow-up climbs."""

    step: int
    delay: timedelta | None
    business_days: int | None
    clock: Clock
    action: str
    target_role: str
    label: str
    label_en: str = ""

    def __post_init__(self) -> None:
        if self.clock == Clock.CALENDAR:
            if self.delay is None or self.delay <= timedelta(0) or self.business_days is not None:
                raise ValueError(f"calendar step {self.step} needs a positive delay only")
        elif self.clock == Clock.BUSINESS:
            if self.business_days is None or self.business_days < 1 or self.delay is not None:
                raise ValueError(f"business step {self.step} needs business_days >= 1 only")
        else:
            raise ValueError(f"step {self.step} has an unknown clock {self.clock!r}")


@dataclass(frozen=True, slots=True)
class Ladder:
    """The steps a follow-up of one reason climbs, for one risk level (or the default)."""

    reason: str
    risk_level: str
    steps: tuple[LadderStep, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError(f"{self.reason}/{self.risk_level}: a ladder needs at least one step")
        numbers = [s.step for s in self.steps]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"steps must be numbered 1, 2, 3, … in order, not {numbers}")

    def step(self, number: int) -> LadderStep:
        """Step `number` (1-based); LookupError past the top of the ladder."""
        if not 1 <= number <= len(self.steps):
            raise LookupError(
                f"{self.reason}/{self.risk_level} has {len(self.steps)} steps, not {number}"
            )
        return self.steps[number - 1]


@dataclass(frozen=True, slots=True)
class LadderBook:
    """Every ladder, keyed by (reason, risk level); each reason has a default ladder."""

    ladders: Mapping[tuple[str, str], Ladder]

    def __post_init__(self) -> None:
        ladders = MappingProxyType(dict(self.ladders))
        for key, ladder in ladders.items():
            if key != (ladder.reason, ladder.risk_level):
                raise ValueError(f"ladder {ladder.reason}/{ladder.risk_level} filed under {key}")
        for reason in {reason for reason, _ in ladders}:
            if (reason, DEFAULT_RISK_LEVEL) not in ladders:
                raise ValueError(f"reason {reason!r} has no {DEFAULT_RISK_LEVEL!r} ladder")
        object.__setattr__(self, "ladders", ladders)

    @property
    def reasons(self) -> frozenset[str]:
        return frozenset(reason for reason, _ in self.ladders)

    def __iter__(self) -> Iterator[Ladder]:
        return iter(self.ladders.values())

    def for_(self, reason: str, risk_level: str | None = None) -> Ladder:
        """The ladder for this reason and risk level, else the reason's default ladder."""
        if risk_level is not None and (reason, risk_level) in self.ladders:
            return self.ladders[reason, risk_level]
        try:
            return self.ladders[reason, DEFAULT_RISK_LEVEL]
        except KeyError:
            raise LookupError(f"no escalation ladder for reason {reason!r}") from None


def load_risk_levels(path: Path | None = None) -> dict[str, RiskLevel]:
    """The risk levels in `path` (default: the shipped file), keyed by code, in file order."""
    path = path or RISK_LEVELS_FILE
    entries = expect_list(path, "risk_levels", read_object(path).get("risk_levels"))
    levels: dict[str, RiskLevel] = {}
    for index, raw in enumerate(entries):
        where = f"risk_levels[{index}]"
        entry = expect_fields(path, where, raw, {"code", "label", "label_en", "interval_hours"})
        code = expect_code(path, where, entry["code"])
        where = f"{where} ({code})"
        if code == DEFAULT_RISK_LEVEL:
            fail(path, where, f"{DEFAULT_RISK_LEVEL!r} is reserved for fallback ladders")
        if code in levels:
            fail(path, where, "duplicate risk level code")
        levels[code] = RiskLevel(
            code=code,
            label=expect_text(path, where, "label", entry["label"]),
            interval=timedelta(hours=expect_positive(path, where, "interval_hours", entry)),
            label_en=expect_text(path, where, "label_en", entry["label_en"]),
        )
    if not levels:
        fail(path, "risk_levels", "no risk levels defined")
    return levels


def load_ladders(
    path: Path | None = None, *, risk_levels: Collection[str] | None = None
) -> LadderBook:
    """The escalation ladders in `path` (default: the shipped file), validated.

    Every reason in `REASONS` must have a default ladder. When `risk_levels` is given, every
    ladder's risk level must be one of those codes or `"default"`.
    """
    path = path or LADDERS_FILE
    entries = expect_list(path, "ladders", read_object(path).get("ladders"))
    ladders: dict[tuple[str, str], Ladder] = {}
    for index, raw in enumerate(entries):
        where = f"ladders[{index}]"
        entry = expect_fields(path, where, raw, {"reason", "risk_level", "steps"})
        reason = expect_code(path, where, entry["reason"])
        if reason not in REASONS:
            fail(path, where, f"unknown reason {reason!r}; known: {', '.join(REASONS)}")
        risk_level = expect_code(path, where, entry["risk_level"])
        where = f"{where} ({reason}/{risk_level})"
        if (
            risk_level != DEFAULT_RISK_LEVEL
            and risk_levels is not None
            and risk_level not in risk_levels
        ):
            fail(path, where, f"unknown risk level {risk_level!r}")
        if (reason, risk_level) in ladders:
            fail(path, where, "duplicate ladder for this reason and risk level")
        raw_steps = expect_list(path, f"{where} steps", entry["steps"])
        if not raw_steps:
            fail(path, where, "a ladder needs at least one step")
        steps = tuple(
            _step(path, f"{where} steps[{i}]", raw_step) for i, raw_step in enumerate(raw_steps)
        )
        numbers = [s.step for s in steps]
        if numbers != list(range(1, len(steps) + 1)):
            fail(path, where, f"steps must be numbered 1, 2, 3, … in order, not {numbers}")
        ladders[reason, risk_level] = Ladder(reason=reason, risk_level=risk_level, steps=steps)
    for reason in REASONS:
        if (reason, DEFAULT_RISK_LEVEL) not in ladders:
            fail(path, "ladders", f"reason {reason!r} has no {DEFAULT_RISK_LEVEL!r} ladder")
    return LadderBook(ladders)


def _step(path: Path, where: str, raw: object) -> LadderStep:
    if isinstance(raw, dict) and isinstance(raw.get("step"), int):
        where = f"{where} (step {raw['step']})"
    entry = expect_fields(
        path,
        where,
        raw,
        {"step", "clock", "action", "target_role", "label", "label_en"},
        optional={"delay_hours", "delay_business_days"},
    )
    number = entry["step"]
    if not isinstance(number, int) or isinstance(number, bool):
        fail(path, where, f"step must be a whole number, not {number!r}")
    clock_name = entry["clock"]
    if clock_name not in tuple(Clock):  # a tuple: a stray list or object compares, never hashes
        fail(path, where, f"unknown clock {clock_name!r}; use 'calendar' or 'business'")
    clock = Clock(clock_name)
    delay: timedelta | None = None
    business_days: int | None = None
    if clock is Clock.CALENDAR:
        if "delay_business_days" in entry:
            fail(path, where, "a calendar step takes delay_hours, not delay_business_days")
        if "delay_hours" not in entry:
            fail(path, where, "missing delay: a calendar step needs delay_hours")
        delay = timedelta(hours=expect_positive(path, where, "delay_hours", entry))
    else:
        if "delay_hours" in entry:
            fail(path, where, "a business step takes delay_business_days, not delay_hours")
        if "delay_business_days" not in entry:
            fail(path, where, "missing delay: a business step needs delay_business_days")
        days = entry["delay_business_days"]
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            fail(path, where, f"delay_business_days must be a whole number >= 1, not {days!r}")
        business_days = days
    action = entry["action"]
    if action not in ACTIONS:
        fail(path, where, f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    role = entry["target_role"]
    if role not in TARGET_ROLES:
        fail(path, where, f"unknown target_role {role!r}; known: {', '.join(TARGET_ROLES)}")
    return LadderStep(
        step=number,
        delay=delay,
        business_days=business_days,
        clock=clock,
        action=action,
        target_role=role,
        label=expect_text(path, where, "label", entry["label"]),
        label_en=expect_text(path, where, "label_en", entry["label_en"]),
    )
