"""Case workflows per program and care-request response deadlines, read from JSON and validated.

The shipped files are `config/case_workflows.json` and `config/care_urgency.json`. Both are
district policy, not code: a program gains a status, or the center's deadlines change, by editing
a file. A malformed file fails at load with a message naming the file, the entry and the problem
(`config.jsonfiles.ReferenceDataError`, as for the ladders).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final

from config.jsonfiles import (
    expect_code,
    expect_fields,
    expect_list,
    expect_text,
    fail,
    read_object,
)
from config.reference import REFERENCE_DIR

WORKFLOWS_FILE: Final = REFERENCE_DIR / "case_workflows.json"
URGENCY_FILE: Final = REFERENCE_DIR / "care_urgency.json"

PROGRAMS: Final = (
    "care_center",
    "ongi",
    "kimchi",
    "mobility",
    "outreach_dispatch",
    "hygiene_care",
)
CLOSURE_REQUESTED: Final = "closure_requested"
CLOSED: Final = "closed"
RESERVED_STATUSES: Final = frozenset({CLOSURE_REQUESTED, CLOSED})
URGENCIES: Final = ("emergency", "urgent", "normal")

_LOCAL_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True, slots=True)
class Workflow:
    """The statuses of one program's cases and the moves between them."""

    program: str
    label: str
    label_en: str
    initial: str
    transitions: Mapping[str, frozenset[str]]
    closable_from: frozenset[str]
    sent_back_to: str

    @property
    def statuses(self) -> frozenset[str]:
        """Every status a case of this program can have, the reserved closure ones included."""
        found = {self.initial, self.sent_back_to, *self.closable_from, *RESERVED_STATUSES}
        for source, targets in self.transitions.items():
            found |= {source, *targets}
        return frozenset(found)

    def next_statuses(self, status: str) -> frozenset[str]:
        """Where staff may move a case from `status` by a plain transition."""
        return self.transitions.get(status, frozenset())

    def may_move(self, status: str, to: str) -> bool:
        return to in self.next_statuses(status)

    def may_request_closure(self, status: str) -> bool:
        return status in self.closable_from


class DeadlineClock(StrEnum):
    """How a care request's response deadline follows from when it was received."""

    CALENDAR = "calendar"
    NEXT_BUSINESS_DAY = "next_business_day"


@dataclass(frozen=True, slots=True)
class UrgencyRule:
    """One urgency and the deadline it sets."""

    code: str
    label: str
    label_en: str
    clock: DeadlineClock
    respond_within: timedelta | None = None  # calendar clock
    at_local_time: time | None = None  # next-business-day clock, Seoul time

    def __post_init__(self) -> None:
        if self.clock is DeadlineClock.CALENDAR:
            if self.respond_within is None or self.respond_within <= timedelta(0):
                raise ValueError(f"{self.code}: a calendar deadline needs a positive duration")
        elif self.at_local_time is None:
            raise ValueError(f"{self.code}: a next-business-day deadline needs a local time")


def load_workflows(path: Path | None = None) -> dict[str, Workflow]:
    """The case workflows in `path` (default: the shipped file), keyed by program."""
    path = path or WORKFLOWS_FILE
    raw_programs = expect_list(path, "programs", read_object(path).get("programs"))
    workflows: dict[str, Workflow] = {}
    for index, raw in enumerate(raw_programs):
        where = f"programs[{index}]"
        entry = expect_fields(
            path,
            where,
            raw,
            {"program", "label", "label_en", "initial", "transitions", "closure"},
        )
        program = expect_code(path, where, entry["program"])
        where = f"{where} ({program})"
        if program not in PROGRAMS:
            fail(path, where, f"unknown program; known: {', '.join(PROGRAMS)}")
        if program in workflows:
            fail(path, where, "duplicate program")
        initial = _status(path, where, entry["initial"])
        transitions = _transitions(path, where, entry["transitions"])
        closure = expect_fields(
            path, f"{where} closure", entry["closure"], {"from", "sent_back_to"}
        )
        closable = closure["from"]
        if not isinstance(closable, list) or not closable:
            fail(path, f"{where} closure", "`from` must be a non-empty list of statuses")
        workflow = Workflow(
            program=program,
            label=expect_text(path, where, "label", entry["label"]),
            label_en=expect_text(path, where, "label_en", entry["label_en"]),
            initial=initial,
            transitions=transitions,
            closable_from=frozenset(_status(path, f"{where} closure", s) for s in closable),
            sent_back_to=_status(path, f"{where} closure", closure["sent_back_to"]),
        )
        reachable = _reachable(initial, transitions)
        for status in (*transitions, *workflow.closable_from, workflow.sent_back_to):
            if status not in reachable:
                fail(path, where, f"status {status!r} can never be reached from {initial!r}")
        workflows[program] = workflow
    missing = [p for p in PROGRAMS if p not in workflows]
    if missing:
        fail(path, "programs", f"no workflow for {', '.join(missing)}")
    return workflows


def load_urgencies(path: Path | None = None) -> dict[str, UrgencyRule]:
    """The care-request urgencies in `path` (default: the shipped file), keyed by code."""
    path = path or URGENCY_FILE
    raw_rules = expect_list(path, "urgencies", read_object(path).get("urgencies"))
    rules: dict[str, UrgencyRule] = {}
    for index, raw in enumerate(raw_rules):
        where = f"urgencies[{index}]"
        entry = expect_fields(
            path,
            where,
            raw,
            {"code", "label", "label_en", "clock"},
            optional={"respond_within_hours", "at_local_time"},
        )
        code = expect_code(path, where, entry["code"])
        where = f"{where} ({code})"
        if code not in URGENCIES:
            fail(path, where, f"unknown urgency; known: {', '.join(URGENCIES)}")
        if code in rules:
            fail(path, where, "duplicate urgency")
        if entry["clock"] not in tuple(DeadlineClock):
            fail(path, where, "clock must be 'calendar' or 'next_business_day'")
        clock = DeadlineClock(entry["clock"])
        within: timedelta | None = None
        at_local: time | None = None
        if clock is DeadlineClock.CALENDAR:
            hours = entry.get("respond_within_hours")
            if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
                fail(path, where, "a calendar deadline needs a positive respond_within_hours")
            if "at_local_time" in entry:
                fail(path, where, "a calendar deadline takes no at_local_time")
            within = timedelta(hours=hours)
        else:
            raw_time = entry.get("at_local_time")
            match = _LOCAL_TIME.fullmatch(raw_time) if isinstance(raw_time, str) else None
            if match is None:
                fail(path, where, "a next_business_day deadline needs at_local_time as HH:MM")
            if "respond_within_hours" in entry:
                fail(path, where, "a next_business_day deadline takes no respond_within_hours")
            at_local = time(int(match.group(1)), int(match.group(2)))
        rules[code] = UrgencyRule(
            code=code,
            label=expect_text(path, where, "label", entry["label"]),
            label_en=expect_text(path, where, "label_en", entry["label_en"]),
            clock=clock,
            respond_within=within,
            at_local_time=at_local,
        )
    missing = [u for u in URGENCIES if u not in rules]
    if missing:
        fail(path, "urgencies", f"no rule for {', '.join(missing)}")
    return rules


def _reachable(initial: str, transitions: Mapping[str, frozenset[str]]) -> set[str]:
    seen, frontier = {initial}, [initial]
    while frontier:
        for target in transitions.get(frontier.pop(), frozenset()):
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


def _transitions(path: Path, where: str, raw: object) -> Mapping[str, frozenset[str]]:
    if not isinstance(raw, dict):
        fail(path, f"{where} transitions", "expected a JSON object of status -> [statuses]")
    result: dict[str, frozenset[str]] = {}
    for source, targets in raw.items():
        if source.startswith("_"):
            continue
        _status(path, f"{where} transitions", source)
        if not isinstance(targets, list):
            fail(path, f"{where} transitions[{source}]", "expected a list of statuses")
        moves = frozenset(_status(path, f"{where} transitions[{source}]", t) for t in targets)
        for status in (source, *moves):
            if status in RESERVED_STATUSES:
                fail(
                    path,
                    f"{where} transitions",
                    f"{status!r} is reached only through the closure request and decision",
                )
        if source in moves:
            fail(path, f"{where} transitions[{source}]", "a status cannot move to itself")
        result[source] = moves
    return MappingProxyType(result)


def _status(path: Path, where: str, raw: object) -> str:
    code = expect_code(path, where, raw)
    if len(code) > 30:
        fail(path, where, f"status {code!r} is longer than 30 characters")
    return code
