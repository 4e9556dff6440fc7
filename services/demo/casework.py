"""Plays the demo district's casework (services.demo.stories) through the use cases, as the
demo staff, so every workflow rule, the two-person closure, consent on referrals, sealing under
the resident's key and the access records apply as in real use.

Each story acts as the dong's demo counselor or outreach worker, or the demo supervisor, about
residents the seed registered (or, for one care request, a person registered after the call).
Some requests are left unanswered past their deadline, so the first scheduler tick raises their
`care_response_overdue` follow-ups.

Re-running skips what exists: a case story when its resident already has a case in the story's
program, a care story when the same demo staff member already took a request of that dong, type,
channel and urgency (the stories are distinct on those). Each use case commits on its own, so a
story interrupted halfway stays as far as it got. One piece, though long: one player per step
kind of the stories, sharing the clock and the team.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.casework import PROGRAMS
from services import care, cases, followups, residents, vault
from services.demo.stories import (
    CARE_STORIES,
    CASE_STORIES,
    Ago,
    AskClosure,
    CareKind,
    CareStory,
    CaseStory,
    Decide,
    HandOver,
    Move,
    Note,
    Outcome,
    Preference,
    Refer,
    RegisterAndLink,
    Respond,
    StaffRole,
    When,
    Workday,
)
from services.residents import RRN_INDEX
from services.residents.registration import seoul_today
from welfare.calendar import SEOUL, BusinessCalendar
from welfare.identity import parse_rrn
from welfare.models import (
    Actor,
    CareRequest,
    Case,
    CaseEvent,
    OngiEnrollment,
    Resident,
    ResidentStatus,
)
from welfare.models.case import CLOSED, CLOSURE_REQUESTED

KIMCHI_HOUSEHOLDS = frozenset({"single", "elderly_couple", "grandparent_family", "single_parent"})
STATUS_CLASSES = ("intake", "in_progress", "closure_requested", "closed")
CONSENT_LEAD = timedelta(minutes=15)  # consent is taken in the conversation, then recorded


class Strangers(Protocol):
    """Makes up someone of `dong` who is not registered, born in `born_by` or before when
    given: name, rrn, phone, address and household_type, as an import row has them."""

    def __call__(self, dong: str, *, born_by: int | None = None) -> Mapping[str, str | None]: ...


class Clock:
    """Turns a story's moments into UTC instants before the seed's `now`."""

    def __init__(self, now: datetime, calendar: BusinessCalendar) -> None:
        self.now = now
        self.today = now.astimezone(SEOUL).date()
        self.calendar = calendar
        self._workdays: list[date] = []

    def at(self, when: When) -> datetime:
        if isinstance(when, Ago):
            return self.now - timedelta(minutes=when.minutes)
        if isinstance(when, Workday):
            day = self._workday(when.ago)
        else:
            day = self.today - timedelta(days=when.ago)
        if day >= self.today:  # an earlier Seoul day lies wholly before the seed's clock
            raise ValueError(f"{when} is not on an earlier day: stories only look back")
        return datetime.combine(day, time.fromisoformat(when.hhmm), tzinfo=SEOUL).astimezone(UTC)

    def _workday(self, ago: int) -> date:
        if ago < 1:
            raise ValueError(f"{ago} business days ago is not on an earlier day")
        day = self._workdays[-1] if self._workdays else self.today
        while len(self._workdays) < ago:
            day -= timedelta(days=1)
            if self.calendar.is_business_day(day):
                self._workdays.append(day)
        return self._workdays[ago - 1]


# -- who acts, about whom ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Team:
    """The demo staff who act in the stories: each staffed dong's counselor and outreach
    worker, and the supervisor who decides closures."""

    supervisor: Actor | None
    counselors: Mapping[str, Actor]
    outreach: Mapping[str, Actor]

    def member(self, dong: str, role: StaffRole) -> Actor | None:
        return (self.counselors if role == "counselor" else self.outreach).get(dong)


@dataclass(frozen=True, slots=True)
class Candidate:
    id: uuid.UUID
    household_type: str | None
    birth_year: int
    is_enrolled: bool

    def fits(self, preference: Preference | None) -> bool:
        if preference == "ongi":
            return self.is_enrolled
        if preference == "kimchi":
            return self.household_type in KIMCHI_HOUSEHOLDS
        if preference == "mobility":
            return self.household_type == "disabled" or self.birth_year <= 1950
        return True


class Pools:
    """The seeded residents of each dong, in the order they were generated; each story takes
    one nobody has taken yet (cases from the front, care requests from the back), so the same
    district always gives the same picks."""

    def __init__(self, session: Session, resident_ids: Sequence[uuid.UUID]) -> None:
        order = {rid: n for n, rid in enumerate(resident_ids)}
        enrolled = set(
            session.scalars(
                select(OngiEnrollment.resident_id).where(
                    OngiEnrollment.resident_id.in_(resident_ids)
                )
            )
        )
        rows = session.execute(
            select(
                Resident.id, Resident.dong_code, Resident.household_type, Resident.birth_year
            ).where(Resident.id.in_(resident_ids), Resident.status == ResidentStatus.ACTIVE.value)
        ).all()
        self._by_dong: dict[str, list[Candidate]] = {}
        for rid, dong, household, born in sorted(rows, key=lambda r: order[r.id]):
            self._by_dong.setdefault(dong, []).append(
                Candidate(rid, household, born, rid in enrolled)
            )
        self._taken: set[uuid.UUID] = set()

    def for_case(
        self, dong: str, preference: Preference | None, *, refers_to: frozenset[str] = frozenset()
    ) -> uuid.UUID | None:
        """A free resident who fits the story; one the story refers to Ongi is not enrolled yet
        (an enrollment opens its Ongi case, and a referral there would meet it)."""
        free = [
            c
            for c in self._by_dong.get(dong, [])
            if c.id not in self._taken and not ("ongi" in refers_to and c.is_enrolled)
        ]
        pick = next((c for c in free if c.fits(preference)), free[0] if free else None)
        return self._take(pick)

    def for_care(self, dong: str) -> uuid.UUID | None:
        free = [c for c in self._by_dong.get(dong, []) if c.id not in self._taken]
        return self._take(free[-1] if free else None)

    def _take(self, pick: Candidate | None) -> uuid.UUID | None:
        if pick is None:
            return None
        self._taken.add(pick.id)
        return pick.id


# -- playing the stories -----------------------------------------------------------------------
@dataclass(slots=True)
class Casework:
    """What the stories added: totals, and breakdowns per kind."""

    cases: Counter[str] = field(default_factory=Counter)  # by program
    statuses: Counter[str] = field(default_factory=Counter)  # by status class
    care: Counter[str] = field(default_factory=Counter)  # by story kind
    notes: int = 0
    referrals: int = 0

    def track(self, case: Case) -> None:
        self.cases[case.program] += 1
        self.statuses[status_class(case)] += 1

    @property
    def totals(self) -> dict[str, int]:
        return {
            "cases": sum(self.cases.values()),
            "case_notes": self.notes,
            "referrals": self.referrals,
            "care_requests": sum(self.care.values()),
        }

    @property
    def details(self) -> dict[str, dict[str, int]]:
        return {
            "cases by program": {p: self.cases[p] for p in PROGRAMS},
            "cases by status": {s: self.statuses[s] for s in STATUS_CLASSES},
            "care requests": {k: self.care[k] for k in get_args(CareKind)},
        }


def status_class(case: Case) -> str:
    """intake, in_progress, closure_requested or closed: what a queue shows at a glance."""
    if case.closed_at is not None or case.status == CLOSED:
        return "closed"
    if case.status == CLOSURE_REQUESTED:
        return "closure_requested"
    if case.status == cases.workflow_for(case.program).initial:
        return "intake"
    return "in_progress"


def seed_casework(
    session: Session,
    *,
    team: Team,
    resident_ids: Sequence[uuid.UUID],
    stranger: Strangers,
    now: datetime,
) -> Casework:
    """Play every story whose staff and residents exist and that was not played before.

    `stranger` makes up people who are not registered: callers, and the person a request
    arrives about."""
    player = Player(
        session,
        team=team,
        pools=Pools(session, resident_ids),
        clock=Clock(now, followups.business_calendar(session)),
        stranger=stranger,
    )
    for case_story in CASE_STORIES:
        player.play_case(case_story)
    for care_story in CARE_STORIES:
        player.play_care(care_story)
    return player.done


@dataclass(slots=True)
class Player:
    """Plays stories as the demo staff, counting what they add."""

    session: Session
    team: Team
    pools: Pools
    clock: Clock
    stranger: Strangers
    done: Casework = field(default_factory=Casework)

    def play_case(self, story: CaseStory) -> None:
        session, clock, done, supervisor = self.session, self.clock, self.done, self.team.supervisor
        counselor = self.team.counselors.get(story.dong)
        refers_to = frozenset(step.program for step in story.steps if isinstance(step, Refer))
        resident_id = self.pools.for_case(story.dong, story.prefers, refers_to=refers_to)
        needs_supervisor = any(isinstance(step, Decide) for step in story.steps)
        if counselor is None or resident_id is None or (needs_supervisor and not supervisor):
            return
        # An Ongi enrollment already opened the resident's Ongi case: the story works that one.
        case = _untouched_open_case(session, resident_id, story.program)
        if case is not None:  # taken on by the story's counselor, which marks it as played
            case = cases.update_case(
                session,
                actor=counselor,
                case_id=case.id,
                expected_version=case.version,
                now=clock.at(story.opened),
                priority=story.priority,
                assignee_id=counselor.staff_id,
            )
        else:
            if _has_case(session, resident_id, story.program):
                return  # played on an earlier run
            case = cases.open_case(
                session,
                actor=counselor,
                resident_id=resident_id,
                program=story.program,
                now=clock.at(story.opened),
                assignee_id=counselor.staff_id,
                priority=story.priority,
            )
        for step in story.steps:
            at = clock.at(step.when)
            if isinstance(step, Move):
                case = cases.transition(
                    session, actor=counselor, case_id=case.id, to=step.to, now=at
                )
            elif isinstance(step, Note):
                cases.add_note(session, actor=counselor, case_id=case.id, body=step.body, now=at)
                done.notes += 1
            elif isinstance(step, Refer):
                referred, _ = cases.refer(
                    session,
                    actor=counselor,
                    case_id=case.id,
                    program=step.program,
                    reason=step.reason,
                    consent={
                        "given_by": step.consent_by,
                        "given_at": at - CONSENT_LEAD,
                        "scope": step.consent_scope,
                    },
                    now=at,
                )
                done.referrals += 1
                done.track(referred)
            elif isinstance(step, AskClosure):
                case = cases.request_closure(
                    session, actor=counselor, case_id=case.id, note=step.note, now=at
                )
                done.notes += 1
            elif supervisor is not None:
                case = cases.decide_closure(
                    session,
                    actor=supervisor,
                    case_id=case.id,
                    approve=step.approve,
                    note=step.note,
                    now=at,
                )
                done.notes += 1
        done.track(case)

    def play_care(self, story: CareStory) -> None:
        session, clock, done, team = self.session, self.clock, self.done, self.team
        receiver = team.member(story.dong, story.by)
        counselor = team.counselors.get(story.dong)
        resident_id = self.pools.for_care(story.dong) if story.about_resident else None
        if receiver is None or counselor is None or (story.about_resident and not resident_id):
            return
        if _has_request(session, story, receiver):
            return
        caller = self.stranger(story.dong) if story.caller_known else {}
        received_at = clock.at(story.received)
        request = care.receive_request(
            session,
            actor=receiver,
            dong=story.dong,
            care_type=story.care_type,
            urgency=story.urgency,
            summary=story.summary,
            now=received_at,
            resident_id=resident_id,
            caller_name=caller.get("name"),
            caller_phone=caller.get("phone"),
            received_at=received_at,
            channel=story.channel,
        )
        for step in story.steps:
            at = clock.at(step.when)
            if isinstance(step, Respond):
                care.respond(
                    session,
                    actor=team.member(story.dong, step.by) or receiver,
                    request_id=request.id,
                    note=step.note,
                    now=at,
                )
            elif isinstance(step, HandOver):
                assert counselor.staff_id is not None  # noqa: S101 - demo staff are staff
                care.hand_over(
                    session,
                    actor=team.member(story.dong, step.by) or receiver,
                    request_id=request.id,
                    to_staff_id=counselor.staff_id,
                    note=step.note,
                    now=at,
                )
            elif isinstance(step, Outcome):
                care.record_outcome(
                    session,
                    actor=team.member(story.dong, step.by) or receiver,
                    request_id=request.id,
                    outcome=step.outcome,
                    note=step.note,
                    now=at,
                )
            elif isinstance(step, RegisterAndLink):
                person = {
                    **self.stranger(story.dong, born_by=step.born_by),
                    "household_type": step.household_type,
                }
                resident_id = _register(session, counselor, story.dong, person, at)
                care.link_resident(
                    session,
                    actor=counselor,
                    request_id=request.id,
                    resident_id=resident_id,
                    now=clock.at(step.then_link),
                )
            elif resident_id is not None:  # OpenCase, for the resident the request is now about
                case = cases.open_case(
                    session,
                    actor=counselor,
                    resident_id=resident_id,
                    program=step.program,
                    now=at,
                    assignee_id=counselor.staff_id,
                )
                cases.add_note(session, actor=counselor, case_id=case.id, body=step.note, now=at)
                done.notes += 1
                done.track(case)
        done.care[story.kind] += 1


def _register(
    session: Session,
    counselor: Actor,
    dong: str,
    person: Mapping[str, str | None],
    at: datetime,
) -> uuid.UUID:
    """The newcomer's resident id, registering them (once) as the counselor would."""
    rrn = parse_rrn(person["rrn"] or "", today=seoul_today(at))
    known = session.scalar(
        select(Resident.id).where(
            Resident.rrn_index == vault.indexer(session).full(RRN_INDEX, rrn.digits)
        )
    )
    if known is not None:
        return known
    view = residents.register_resident(
        session,
        actor=counselor,
        name=person["name"] or "",
        rrn=person["rrn"] or "",
        dong=dong,
        now=at,
        phone=person.get("phone"),
        address=person.get("address"),
        household_type=person.get("household_type"),
    )
    return view.id


def _untouched_open_case(session: Session, resident_id: uuid.UUID, program: str) -> Case | None:
    """The resident's open case in `program` if an enrollment opened it and nothing has happened
    to it since: a story may still be played on it."""
    case = session.scalar(
        select(Case).where(
            Case.resident_id == resident_id, Case.program == program, Case.closed_at.is_(None)
        )
    )
    if case is None:
        return None
    kinds = set(session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id)))
    return case if kinds == {"opened", "enrolled"} else None


def _has_case(session: Session, resident_id: uuid.UUID, program: str) -> bool:
    found = session.scalar(
        select(Case.id).where(Case.resident_id == resident_id, Case.program == program).limit(1)
    )
    return found is not None


def _has_request(session: Session, story: CareStory, receiver: Actor) -> bool:
    found = session.scalar(
        select(CareRequest.id)
        .where(
            CareRequest.dong_code == story.dong,
            CareRequest.care_type == story.care_type,
            CareRequest.channel == story.channel,
            CareRequest.urgency == story.urgency,
            CareRequest.created_by == receiver.staff_id,
        )
        .limit(1)
    )
    return found is not None
