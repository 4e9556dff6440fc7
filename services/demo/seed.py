"""A fictional demo district, seeded once; grows as features land.

Everything here is made up: names drawn from common syllables, RRNs with valid dates and sex
digits but random serial numbers, 010 phones, street addresses of Geumcheon-gu with invented
building numbers. The seed goes through the same use cases as real work (bulk registration,
Ongi enrollment, contact logging, and the casework of services.demo.casework: cases, notes,
referrals and care requests, acted by the demo staff), so the district it leaves behind behaves
like a real one: some residents are already past their contact interval and some care requests
past their response deadline, and the next scheduler tick raises their follow-ups.

Re-running is safe: the `demo_seeded` marker is written last, and every step before it skips
what exists (staff by username, residents by RRN, enrollments by resident, casework by story),
so a run that was interrupted completes on the next one. One piece: it is the order of the
seeding steps and the fictional data they draw on; the casework lives in its own modules.
"""

from __future__ import annotations

import calendar
import random
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.casework import PROGRAMS
from services import access, ongi, resident_import, vault
from services import staff as staff_service
from services.demo import casework as demo_casework
from services.demo import kimchi as demo_kimchi
from services.demo import mobility as demo_mobility
from services.demo import plan_services as demo_plan_services
from services.demo.casework import Team
from services.resident_import import ImportRow
from services.residents import RRN_INDEX
from services.residents.registration import seoul_today
from welfare.database import database_now
from welfare.identity import parse_rrn
from welfare.models import (
    Actor,
    Case,
    Dong,
    OngiEnrollment,
    Resident,
    Role,
    Staff,
    SystemMarker,
)

DEMO_MARKER = "demo_seeded"
DEMO_RESIDENTS = 300
ENROLLED_SHARE = 0.4
LAPSED_SHARE = 0.2  # of enrollments: past their interval, so the next tick raises follow-ups
DEMO_SEED = 20261124
# The registry predates everything else the seed writes (Ongi enrollments go back 180 days,
# casework a few weeks), so no record is older than the resident it is about.
REGISTERED_AGO = timedelta(days=365)

SURNAMES = (
    "김김김김이이이박박최정강조윤장임한오서신권황안송류전홍고문양손배백허유남심노하곽성차주우구민"
)
GIVEN_SYLLABLES = (
    "민서준지우현하은도윤수아예채원영희철순자숙옥미경정혜진성호동훈재석상태광명숙례분말금복"
)
STREETS: dict[str, tuple[str, ...]] = {
    "가산": ("가산디지털1로", "가산디지털2로", "벚꽃로", "디지털로", "가산로"),
    "독산": ("독산로", "시흥대로", "범안로", "남부순환로", "독산로50길"),
    "시흥": ("시흥대로", "금하로", "한내로", "탑골로", "은행나무로", "문성로", "금천로"),
}
BUILDINGS = (
    "현대아파트",
    "벽산아파트",
    "두산아파트",
    "남서울힐스테이트",
    "금천롯데캐슬",
    "한신아파트",
)
HOUSEHOLDS = (
    ("single", 45),
    ("elderly_couple", 15),
    ("single_parent", 8),
    ("grandparent_family", 5),
    ("disabled", 10),
    ("other", 17),
)
RISK_SPREAD = (("high", 25), ("medium", 35), ("low", 40))
CHANNELS = {
    "high": ("phone", "visit", "ai_call", "sensor"),
    "medium": ("phone", "message", "ai_call", "visit"),
    "low": ("message", "phone", "sensor"),
}
GATEWAY_CHANNELS = frozenset({"message", "ai_call", "sensor"})
WELL_NOTES = ("안부 통화, 특이사항 없음", "방문, 식사 잘 하심", "건강 양호, 복지관 프로그램 안내")
UNWELL_NOTES = ("무릎 통증 호소, 보건소 연계 안내", "식사량 감소, 다음 주 재방문 예정")
# Dongs that get their own demo counselor and outreach worker (the supervisor sees all ten).
STAFFED_DONGS = {"1154551000": "gasan", "1154561000": "doksan1", "1154567000": "siheung1"}


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    role: str
    dongs: tuple[str, ...]


@dataclass(slots=True)
class DemoDistrict:
    """What a seed added, and the demo credentials to show once (never stored in clear)."""

    counts: dict[str, int]
    details: dict[str, dict[str, int]] = field(default_factory=dict)  # breakdowns per kind
    accounts: list[DemoAccount] = field(default_factory=list)
    password: str | None = None


def seed_demo_district(
    session: Session,
    *,
    hasher: PasswordHasher,
    residents: int = DEMO_RESIDENTS,
    seed: int = DEMO_SEED,
) -> DemoDistrict | None:
    """Seed the demo district unless it was seeded before; returns what was added, or None."""
    if session.get(SystemMarker, DEMO_MARKER) is not None:
        return None
    now = database_now(session)
    rng = random.Random(seed)  # noqa: S311 - fictional data must repeat, not be secret
    dongs = {d.code: d.name for d in session.scalars(select(Dong).where(Dong.is_active))}
    district = DemoDistrict(counts={"dongs": len(dongs)})
    _seed_staff(session, district, dongs, hasher, now)
    registered_at = now - REGISTERED_AGO
    people = list(fictional_residents(rng, residents, dongs, today=registered_at))
    imported = resident_import.import_residents(
        session, actor=Actor.system("demo"), rows=people, now=registered_at
    )
    district.counts["residents"] = imported.imported
    ids = _resident_ids(session, people)
    cases_before = set(session.scalars(select(Case.id)))
    _seed_ongi(session, district, rng, ids, now)
    _seed_casework(session, district, dongs=dongs, resident_ids=ids, seed=seed, now=now)
    _seed_mobility(session, district, resident_ids=ids, now=now)
    _count_cases(session, district, since=cases_before)
    # What the first tick will find: a closed Ongi case in the stories ends its enrollment.
    district.counts["lapsed"] = _still_lapsed(session, ids, now)
    session.add(SystemMarker(key=DEMO_MARKER, value="1", set_at=now))
    session.commit()
    return district


def _count_cases(session: Session, district: DemoDistrict, *, since: set[uuid.UUID]) -> None:
    """The cases this run opened, as they stand now: the stories' and the Ongi cases that
    enrollments opened (some of which the stories then worked on)."""
    opened = [c for c in session.scalars(select(Case)) if c.id not in since]
    by_program = Counter(c.program for c in opened)
    by_status = Counter(demo_casework.status_class(c) for c in opened)
    district.counts["cases"] = len(opened)
    district.details["cases by program"] = {p: by_program[p] for p in PROGRAMS}
    district.details["cases by status"] = {s: by_status[s] for s in demo_casework.STATUS_CLASSES}


def _still_lapsed(session: Session, resident_ids: Sequence[uuid.UUID], now: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(OngiEnrollment)
            .where(
                OngiEnrollment.resident_id.in_(resident_ids),
                OngiEnrollment.status == "active",
                OngiEnrollment.next_due_at <= now,
            )
        )
        or 0
    )


def _seed_staff(
    session: Session,
    district: DemoDistrict,
    dongs: dict[str, str],
    hasher: PasswordHasher,
    now: datetime,
) -> None:
    wanted = [DemoAccount("demo.admin", Role.ADMIN.value, ())]
    wanted.append(DemoAccount("demo.supervisor", Role.SUPERVISOR.value, tuple(sorted(dongs))))
    for code, slug in STAFFED_DONGS.items():
        if code in dongs:
            wanted.append(DemoAccount(f"demo.counselor.{slug}", Role.COUNSELOR.value, (code,)))
            wanted.append(DemoAccount(f"demo.outreach.{slug}", Role.OUTREACH.value, (code,)))
    existing = set(
        session.scalars(
            select(Staff.username).where(Staff.username.in_(a.username for a in wanted))
        )
    )
    password = f"demo-{secrets.token_urlsafe(12)}"
    for account in wanted:
        if account.username in existing:
            continue
        staff_service.create_staff(
            session,
            actor=None,
            username=account.username,
            role=account.role,
            dongs=list(account.dongs),
            display_name=_display_name(account, dongs),
            password=password,
            hasher=hasher,
            now=now,
        )
        district.accounts.append(account)
    district.password = password if district.accounts else None
    district.counts["staff"] = len(district.accounts)


ROLE_LABELS = {
    "admin": "관리자",
    "supervisor": "팀장",
    "counselor": "상담관",
    "outreach": "방문인력",
}


def _display_name(account: DemoAccount, dongs: dict[str, str]) -> str:
    """What a colleague sees in the team directory: the dong and the job, e.g. 가산동 상담관."""
    label = ROLE_LABELS.get(account.role, account.role)
    if len(account.dongs) == 1:
        return f"{dongs[account.dongs[0]]} {label} (데모)"
    return f"{label} (데모)"


def fictional_residents(
    rng: random.Random, count: int, dongs: dict[str, str], *, today: datetime
) -> Iterator[ImportRow]:
    """`count` made-up residents spread over `dongs` (code -> Korean name), as import rows."""
    codes = sorted(dongs)
    households = [h for h, _ in HOUSEHOLDS]
    weights = [w for _, w in HOUSEHOLDS]
    for n in range(count):
        code = codes[n % len(codes)]
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_SYLLABLES, k=2))
        yield ImportRow(
            line=n + 2,
            values={
                "name": name,
                "rrn": fictional_rrn(rng, today=today),
                "dong": code,
                "phone": _phone(rng),
                "address": _address(rng, dongs[code]),
                "household_type": rng.choices(households, weights)[0],
            },
        )


def fictional_rrn(rng: random.Random, *, today: datetime) -> str:
    """A valid RRN: a real date, the sex digit of its century, a legacy check digit."""
    band = rng.random()
    if band < 0.45:  # the Ongi program's elders
        year = rng.randint(1932, 1960)
    elif band < 0.85:
        year = rng.randint(1961, 1999)
    else:
        year = rng.randint(2000, min(2015, today.year - 1))
    month = rng.randint(1, 12)
    day = rng.randint(1, calendar.monthrange(year, month)[1])
    foreigner = rng.random() < 0.03
    sex = rng.randint(0, 1)
    digit = (5 if foreigner else 1) + sex if year < 2000 else (7 if foreigner else 3) + sex
    body = f"{year % 100:02d}{month:02d}{day:02d}{digit}{rng.randint(0, 99999):05d}"
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    check = (11 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11) % 10
    return f"{body[:6]}-{body[6:]}{check}"


def _phone(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.2:  # a Geumcheon landline
        return f"02-8{rng.randint(0, 99):02d}-{rng.randint(0, 9999):04d}"
    return f"010-{rng.randint(2000, 9999):04d}-{rng.randint(0, 9999):04d}"


def _address(rng: random.Random, dong_name: str) -> str:
    area = next((k for k in STREETS if dong_name.startswith(k)), "시흥")
    street = f"서울특별시 금천구 {rng.choice(STREETS[area])} {rng.randint(1, 320)}"
    kind = rng.random()
    if kind < 0.5:
        return (
            f"{street}, {rng.choice(BUILDINGS)} {rng.randint(101, 115)}동 "
            f"{rng.randint(1, 20)}{rng.randint(1, 4):02d}호 ({dong_name})"
        )
    if kind < 0.8:
        return f"{street}, {rng.randint(1, 4)}층 {rng.randint(1, 3):02d}호 ({dong_name})"
    return f"{street} ({dong_name})"


def _resident_ids(session: Session, people: Sequence[ImportRow]) -> list[uuid.UUID]:
    """The ids of the seeded residents, in the order they were generated."""
    indexer = vault.indexer(session)
    index_of = {
        indexer.full(RRN_INDEX, parse_rrn(p.values["rrn"] or "", today=date.max).digits): i
        for i, p in enumerate(people)
    }
    found = session.execute(
        select(Resident.rrn_index, Resident.id).where(Resident.rrn_index.in_(list(index_of)))
    ).all()
    by_position = sorted((index_of[idx], rid) for idx, rid in found if idx is not None)
    return [rid for _, rid in by_position]


def _seed_ongi(
    session: Session,
    district: DemoDistrict,
    rng: random.Random,
    resident_ids: Sequence[uuid.UUID],
    now: datetime,
) -> None:
    system = Actor.system("demo")
    outreach = _outreach_by_dong(session)
    enrolled_already = set(
        session.scalars(
            select(OngiEnrollment.resident_id).where(OngiEnrollment.resident_id.in_(resident_ids))
        )
    )
    chosen = [r for r in resident_ids if rng.random() < ENROLLED_SHARE]
    levels = [code for code, _ in RISK_SPREAD]
    weights = [w for _, w in RISK_SPREAD]
    enrollments = contacts = lapsed = 0
    for resident_id in chosen:
        risk = rng.choices(levels, weights)[0]
        is_lapsed = rng.random() < LAPSED_SHARE
        if resident_id in enrolled_already:
            continue
        enrollment = ongi.enroll(
            session,
            actor=system,
            resident_id=resident_id,
            risk_level=risk,
            now=now,
            enrolled_at=now - timedelta(days=rng.randint(30, 180)),
        )
        resident = session.get_one(Resident, resident_id)
        actor = outreach.get(resident.dong_code, system)
        history = [
            contact
            for contact in _contact_history(rng, enrollment.interval, risk, now, lapsed=is_lapsed)
            if contact[0] >= enrollment.enrolled_at
        ]
        for occurred_at, channel, outcome, note in history:
            ongi.record_contact(
                session,
                resident=resident,
                actor=system if channel in GATEWAY_CHANNELS else actor,
                channel=channel,
                outcome=outcome,
                occurred_at=occurred_at,
                now=now,
                program="ongi",
                note=note,
                client_ref=None,
                source="gateway" if channel in GATEWAY_CHANNELS else "staff",
            )
        access.record(session, actor=system, action="create", resident_ids=[resident_id])
        session.commit()
        enrollments += 1
        contacts += len(history)
        lapsed += is_lapsed
    district.counts.update(enrollments=enrollments, contacts=contacts, lapsed=lapsed)


def _contact_history(
    rng: random.Random, interval: timedelta, risk: str, now: datetime, *, lapsed: bool
) -> list[tuple[datetime, str, str, str | None]]:
    """A few weeks of contacts, oldest first, ending before `now` (long before, when lapsed)."""
    last = now - interval * (rng.uniform(1.2, 3.0) if lapsed else rng.uniform(0.1, 0.85))
    history: list[tuple[datetime, str, str, str | None]] = []
    at = last
    for _ in range(rng.randint(2, 6)):
        channel = rng.choice(CHANNELS[risk])
        unwell = rng.random() < 0.1
        notes = UNWELL_NOTES if unwell else WELL_NOTES
        note = rng.choice(notes) if channel in ("phone", "visit") and rng.random() < 0.6 else None
        history.append((at, channel, "unwell" if unwell else "reached", note))
        if rng.random() < 0.3:  # a failed attempt some hours before the success
            missed = at - timedelta(hours=rng.uniform(2, 20))
            history.append((missed, "phone", rng.choice(("no_answer", "not_home")), None))
        at -= interval * rng.uniform(0.5, 0.95)
    if lapsed and rng.random() < 0.7:  # tried since, without reaching the person
        history.append((now - interval * rng.uniform(0.2, 1.0), "phone", "no_answer", None))
    return sorted(history)


def _outreach_by_dong(session: Session) -> dict[str, Actor]:
    """The demo outreach worker of each staffed dong, who logs that dong's calls and visits."""
    return _staff_by_dong(session, "outreach")


def _staff_by_dong(session: Session, role: str) -> dict[str, Actor]:
    """The demo staff member of `role` (counselor or outreach) of each staffed dong."""
    actors: dict[str, Actor] = {}
    for code, slug in STAFFED_DONGS.items():
        member = session.scalar(select(Staff).where(Staff.username == f"demo.{role}.{slug}"))
        if member is not None:
            actors[code] = member.actor()
    return actors


def _seed_mobility(
    session: Session, district: DemoDistrict, *, resident_ids: Sequence[uuid.UUID], now: datetime
) -> None:
    """The mobility center's fleet, riders and rides (services.demo.mobility)."""
    supervisor = session.scalar(select(Staff).where(Staff.username == "demo.supervisor"))
    done = demo_mobility.seed_mobility(
        session,
        supervisor=supervisor.actor() if supervisor else None,
        counselors=_staff_by_dong(session, "counselor"),
        outreach=_outreach_by_dong(session),
        resident_ids=resident_ids,
        now=now,
    )
    district.counts["rides"] = done["rides"]
    district.details["mobility center"] = done


def _seed_casework(
    session: Session,
    district: DemoDistrict,
    *,
    dongs: dict[str, str],
    resident_ids: Sequence[uuid.UUID],
    seed: int,
    now: datetime,
) -> None:
    """Cases, referrals and care requests, played by the demo staff (services.demo.casework)."""
    supervisor = session.scalar(select(Staff).where(Staff.username == "demo.supervisor"))
    team = Team(
        supervisor=supervisor.actor() if supervisor else None,
        counselors=_staff_by_dong(session, "counselor"),
        outreach=_outreach_by_dong(session),
    )
    # Its own stream, so the people it makes up do not depend on how far the steps before got.
    rng = random.Random(seed + 1)  # noqa: S311 - fictional data must repeat, not be secret

    def stranger(dong: str, *, born_by: int | None = None) -> dict[str, str | None]:
        while True:
            row = next(fictional_residents(rng, 1, {dong: dongs[dong]}, today=now))
            rrn = parse_rrn(row.values["rrn"] or "", today=seoul_today(now))
            if born_by is None or rrn.birth_date.year <= born_by:
                return dict(row.values)

    done = demo_casework.seed_casework(
        session, team=team, resident_ids=resident_ids, stranger=stranger, now=now
    )
    district.counts.update(done.totals)
    district.details.update(done.details)
    delivered = demo_kimchi.seed_kimchi(
        session,
        supervisor=team.supervisor,
        counselors=team.counselors,
        outreach=team.outreach,
        now=now,
    )
    district.counts.update(
        {
            "kimchi_campaigns": delivered.campaigns,
            "kimchi_allocations": delivered.allocations,
            "kimchi_routes": delivered.routes,
        }
    )
    district.details["kimchi delivery outcomes"] = delivered.outcomes
    district.details["district plan services"] = demo_plan_services.seed_plan_services(
        session,
        supervisor=team.supervisor,
        counselors=team.counselors,
        resident_ids=resident_ids,
        now=now,
    )
