"""The supervisor's dashboard: counts over the caller's dongs, never anything about a person.

Every figure is an aggregate (how many follow-ups, how fast care requests were answered), read
through the same dong scope as every list, so no resident is named and no access record is
written. Times of day are Seoul's: a "day" is a Seoul calendar day.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access, followup_queue, kimchi
from services.followups import LIVE_STATES
from services.kimchi.records import campaign_scope
from welfare.models import (
    Actor,
    CampaignStatus,
    CareRequest,
    FollowUp,
    FollowUpReason,
    FollowUpState,
    KimchiCampaign,
    Ride,
    Role,
)
from welfare.models.base import in_literals
from welfare.models.system import SchedulerRun

SEOUL = ZoneInfo("Asia/Seoul")
DAYS = 30
# Open follow-ups by how long they have been open: labels and upper bounds.
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("1일 미만", timedelta(days=1)),
    ("1-3일", timedelta(days=3)),
    ("3-7일", timedelta(days=7)),
    ("7일 이상", None),
)
URGENCIES = ("emergency", "urgent", "normal")
RECENT_RUNS = 10
KIMCHI_CAMPAIGNS = 5  # the newest campaigns not closed, whose progress the dashboard charts


@dataclass(frozen=True, slots=True)
class CareTimes:
    urgency: str
    on_time: int
    late: int
    waiting_overdue: int  # not answered and past the deadline now
    median_minutes: float | None  # from receipt to response, of those answered
    deadline_minutes: float | None  # the median deadline, for comparison


@dataclass(slots=True)
class Dashboard:
    open_by_dong: dict[str, list[int]] = field(default_factory=dict)  # dong -> per age bucket
    days: list[date] = field(default_factory=list)
    lapses_raised: list[int] = field(default_factory=list)
    lapses_resolved: list[int] = field(default_factory=list)
    care: list[CareTimes] = field(default_factory=list)
    rides: dict[str, list[int]] = field(default_factory=dict)  # ending -> per day
    runs: list[SchedulerRun] = field(default_factory=list)
    system_alarms: int = 0
    kimchi: list[kimchi.CampaignSummary] = field(default_factory=list)  # my dongs' counts


def dashboard(session: Session, *, actor: Actor, now: datetime) -> Dashboard:
    """The dashboard's figures for the caller's dongs, as of `now`."""
    result = Dashboard()
    _open_followups(session, actor, now, result)
    _lapses_per_day(session, actor, now, result)
    _care_times(session, actor, now, result)
    _rides_per_day(session, actor, result)
    _kimchi_progress(session, actor, result)
    if actor.role in (Role.SUPERVISOR, Role.ADMIN):
        result.runs = list(
            session.scalars(
                select(SchedulerRun)
                .order_by(SchedulerRun.started_at.desc(), SchedulerRun.id.desc())
                .limit(RECENT_RUNS)
            )
        )
    session.commit()
    return result


def _open_followups(session: Session, actor: Actor, now: datetime, result: Dashboard) -> None:
    rows = session.execute(
        select(FollowUp.dong_code, FollowUp.raised_at, FollowUp.subject_type).where(
            in_literals(FollowUp.state, LIVE_STATES), followup_queue.visible_to(actor)
        )
    ).all()
    for dong in sorted(actor.dongs):
        result.open_by_dong[dong] = [0] * len(AGE_BUCKETS)
    for dong_code, raised_at, subject_type in rows:
        if subject_type == "system" or dong_code is None:
            result.system_alarms += 1
            continue
        age = now - raised_at
        bucket = next(i for i, (_, bound) in enumerate(AGE_BUCKETS) if bound is None or age < bound)
        result.open_by_dong.setdefault(dong_code, [0] * len(AGE_BUCKETS))[bucket] += 1


def _seoul_day(value: datetime) -> date:
    return value.astimezone(SEOUL).date()


def _lapses_per_day(session: Session, actor: Actor, now: datetime, result: Dashboard) -> None:
    today = _seoul_day(now)
    result.days = [today - timedelta(days=DAYS - 1 - n) for n in range(DAYS)]
    since = datetime.combine(result.days[0], datetime.min.time(), SEOUL)
    lapses = (
        FollowUp.reason == FollowUpReason.CONTACT_LAPSED.value,
        access.dong_scope(actor, FollowUp.dong_code),
    )
    raised = Counter(
        _seoul_day(at)
        for at in session.scalars(
            select(FollowUp.raised_at).where(*lapses, FollowUp.raised_at >= since)
        )
    )
    resolved = Counter(
        _seoul_day(at)
        for at in session.scalars(
            select(FollowUp.resolved_at).where(
                *lapses,
                FollowUp.state == FollowUpState.RESOLVED.value,
                FollowUp.resolved_at >= since,
            )
        )
        if at is not None
    )
    result.lapses_raised = [raised[d] for d in result.days]
    result.lapses_resolved = [resolved[d] for d in result.days]


# How the rides of each day ended, as the dashboard groups them.
RIDE_ENDINGS = {
    "completed": ("completed",),
    "no_show": ("no_show",),
    "cancelled": ("cancelled", "late_cancel"),
}


def _rides_per_day(session: Session, actor: Actor, result: Dashboard) -> None:
    """Mobility rides of each of the 30 days (by their window's Seoul day), by how they ended."""
    since = datetime.combine(result.days[0], datetime.min.time(), SEOUL)
    until = datetime.combine(result.days[-1] + timedelta(days=1), datetime.min.time(), SEOUL)
    rows = session.execute(
        select(Ride.window_start, Ride.state).where(
            access.dong_scope(actor, Ride.dong_code),
            Ride.window_start >= since,
            Ride.window_start < until,
        )
    ).all()
    for ending, states in RIDE_ENDINGS.items():
        per_day = Counter(_seoul_day(at) for at, state in rows if state in states)
        result.rides[ending] = [per_day[d] for d in result.days]


def _kimchi_progress(session: Session, actor: Actor, result: Dashboard) -> None:
    """The campaigns under way in the caller's dongs, each counted as its own summary counts
    (services.kimchi.summary: the allocations of the caller's dongs, by status)."""
    campaign_ids = session.scalars(
        select(KimchiCampaign.id)
        .where(campaign_scope(actor), KimchiCampaign.status != CampaignStatus.CLOSED.value)
        .order_by(KimchiCampaign.created_at.desc(), KimchiCampaign.id.desc())
        .limit(KIMCHI_CAMPAIGNS)
    ).all()
    result.kimchi = [kimchi.summary(session, actor=actor, campaign_id=c) for c in campaign_ids]


def _care_times(session: Session, actor: Actor, now: datetime, result: Dashboard) -> None:
    since = now - timedelta(days=DAYS)
    rows = session.execute(
        select(
            CareRequest.urgency,
            CareRequest.received_at,
            CareRequest.respond_by,
            CareRequest.responded_at,
        ).where(access.dong_scope(actor, CareRequest.dong_code), CareRequest.received_at >= since)
    ).all()
    for urgency in URGENCIES:
        mine = [r for r in rows if r.urgency == urgency]
        answered = [r for r in mine if r.responded_at is not None]
        minutes = [(r.responded_at - r.received_at).total_seconds() / 60 for r in answered]
        deadlines = [(r.respond_by - r.received_at).total_seconds() / 60 for r in mine]
        result.care.append(
            CareTimes(
                urgency=urgency,
                on_time=sum(1 for r in answered if r.responded_at <= r.respond_by),
                late=sum(1 for r in answered if r.responded_at > r.respond_by),
                waiting_overdue=sum(
                    1 for r in mine if r.responded_at is None and r.respond_by <= now
                ),
                median_minutes=round(statistics.median(minutes), 1) if minutes else None,
                deadline_minutes=round(statistics.median(deadlines), 1) if deadlines else None,
            )
        )
