"""The demo's share of the district plan's other services, played through the use cases as the
demo staff: today's duty roster, counselor dispatches in every state, elders on weekly health &
hygiene visits (a visit met, one with a health concern, one missed that the first tick chases),
and referrals to partner agencies waiting for, or past, their answer.

Played once: a second seed finds the roster and adds nothing. Everything is fictional.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import dispatch, hygiene, partners
from welfare.calendar import SEOUL
from welfare.models import Actor, DutyShift, HygieneVisit, Resident

# (urgency, summary, how far it got) of each staffed dong's dispatches
DISPATCHES = (
    ("normal", "이웃 신고: 우편물이 쌓이고 인기척 없음", "done"),
    ("urgent", "동 주민센터: 단전 예고 가구, 연락 두절", "en_route"),
    ("urgent", "돌봄잇다센터: 야간 전화 후 연락 끊김", "requested"),
)
ELDERS_PER_DONG = 2
ELDER_BORN_BY = 1956
OBSERVATION = "다리 부종과 호흡 곤란 호소, 보건지소 진료 권유"
REFERRAL_REASON = "긴급 생계비 지원 연계 (재단 긴급지원사업)"


SHIFT_LEAD_HOURS = 3  # a demo shift starts this long before the seed's hour ...
SHIFT_HOURS = 12  # ... and lasts this long


def seed_plan_services(
    session: Session,
    *,
    supervisor: Actor | None,
    counselors: Mapping[str, Actor],
    resident_ids: Sequence[uuid.UUID],
    now: datetime,
) -> dict[str, int]:
    """The roster, dispatches, hygiene visits and partner referrals; an empty count when the
    roster exists already or nobody can play it."""
    done: Counter[str] = Counter()
    if supervisor is None or not counselors or session.scalar(select(DutyShift.id).limit(1)):
        return dict(done)
    by_dong = _residents_by_dong(session, resident_ids)
    # The duty around the seed's time, yesterday and today (the dispatches below are assigned
    # then): a shift of 12 hours from 3 hours before, on the hour. A fixed 09:00-18:00 left no
    # one on duty for a seed run in the evening or at night in Seoul, and the seed failed.
    on_the_hour = now.astimezone(SEOUL).replace(minute=0, second=0, microsecond=0)
    for dong, counselor in sorted(counselors.items()):
        people = by_dong.get(dong, [])
        if counselor.staff_id is None or len(people) < len(DISPATCHES):
            continue
        for days_ago in (1, 0):
            start = on_the_hour - timedelta(days=days_ago, hours=SHIFT_LEAD_HOURS)
            dispatch.add_shift(
                session,
                actor=supervisor,
                dong=dong,
                staff_id=counselor.staff_id,
                starts_at=start,
                ends_at=start + timedelta(hours=SHIFT_HOURS),
                now=now - timedelta(days=2),
            )
            done["duty_shifts"] += 1
        for (urgency, summary, state), (resident_id, _born) in zip(
            DISPATCHES, people, strict=False
        ):
            _dispatch(
                session,
                counselor,
                resident_id,
                plan=(dong, urgency, summary, state),
                now=now,
            )
            done[f"dispatches_{state}"] += 1
        elders = [rid for rid, born in people if born is not None and born <= ELDER_BORN_BY]
        for n, resident_id in enumerate(elders[:ELDERS_PER_DONG]):
            for outcome, count in _hygiene(session, counselor, resident_id, n, now).items():
                done[f"hygiene_visits_{outcome}"] += count
            done["hygiene_enrollments"] += 1
        for n, (resident_id, _born) in enumerate(people[len(DISPATCHES) : len(DISPATCHES) + 2]):
            _refer(session, counselor, resident_id, answered=n == 0, now=now)
            done["partner_referrals"] += 1
    return dict(done)


def _residents_by_dong(
    session: Session, resident_ids: Sequence[uuid.UUID]
) -> dict[str, list[tuple[uuid.UUID, int | None]]]:
    rows = session.execute(
        select(Resident.id, Resident.dong_code, Resident.birth_year)
        .where(Resident.id.in_(resident_ids), Resident.status == "active")
        .order_by(Resident.id)
    ).all()
    found: dict[str, list[tuple[uuid.UUID, int | None]]] = {}
    for rid, dong, born in rows:
        found.setdefault(dong, []).append((rid, born))
    return found


def _dispatch(
    session: Session,
    counselor: Actor,
    resident_id: uuid.UUID,
    *,
    plan: tuple[str, str, str, str],
    now: datetime,
) -> None:
    """A dispatch (dong, urgency, summary, state) played up to its state: done yesterday, on
    the way now, or just asked for."""
    dong, urgency, summary, state = plan
    asked_at = now - (timedelta(days=1) if state == "done" else timedelta(minutes=40))
    if state == "requested":
        asked_at = now - timedelta(minutes=10)
    view, _ = dispatch.request_dispatch(
        session,
        actor=counselor,
        dong=dong,
        urgency=urgency,
        requester_kind="dong_center" if state != "requested" else "care_center",
        summary=summary,
        resident_id=resident_id,
        now=asked_at,
    )
    if state == "requested":
        return
    dispatch.assign(
        session,
        actor=counselor,
        dispatch_id=view.id,
        staff_id=counselor.staff_id,
        now=asked_at + timedelta(minutes=5),
    )
    dispatch.move(
        session,
        actor=counselor,
        dispatch_id=view.id,
        to="en_route",
        now=asked_at + timedelta(minutes=15),
    )
    if state == "en_route":
        return
    arrived = asked_at + timedelta(hours=1)
    dispatch.move(session, actor=counselor, dispatch_id=view.id, to="on_site", now=arrived)
    dispatch.finish(
        session,
        actor=counselor,
        dispatch_id=view.id,
        outcome="no_need",
        note="본인 만남. 건강 양호, 이웃과 왕래 있음",
        now=asked_at + timedelta(hours=1, minutes=30),
    )


def _hygiene(
    session: Session, counselor: Actor, resident_id: uuid.UUID, n: int, now: datetime
) -> Counter[str]:
    """Weekly visits since three weeks ago; the past ones recorded (the second elder's latest
    visit is left missed, for the first tick to chase)."""
    start = datetime.combine(
        (now - timedelta(days=21)).astimezone(SEOUL).date(), time(10 + n, 0), tzinfo=SEOUL
    )
    enrolled, _made = hygiene.enroll(
        session,
        actor=counselor,
        resident_id=resident_id,
        provider="hygiene_care_provider",
        services=["bathing", "cleaning", "health_check"],
        rrule="FREQ=WEEKLY",
        dtstart=start,
        now=start - timedelta(days=1),
    )
    past = session.scalars(
        select(HygieneVisit)
        .where(HygieneVisit.enrollment_id == enrolled.id, HygieneVisit.scheduled_at < now)
        .order_by(HygieneVisit.scheduled_at)
    ).all()
    recorded: Counter[str] = Counter()
    for k, visit in enumerate(past):
        last = k == len(past) - 1
        if last and n == 1:
            hygiene.record_visit(
                session,
                actor=counselor,
                visit_id=visit.id,
                outcome="missed",
                now=visit.scheduled_at + timedelta(hours=2),
            )
            recorded["missed"] += 1
            continue
        concern = last and n == 0
        hygiene.record_visit(
            session,
            actor=counselor,
            visit_id=visit.id,
            outcome="done",
            met=True,
            health_concern=concern,
            observation=OBSERVATION if concern else None,
            now=visit.scheduled_at + timedelta(hours=2),
        )
        recorded["done"] += 1
    return recorded


def _refer(
    session: Session, counselor: Actor, resident_id: uuid.UUID, *, answered: bool, now: datetime
) -> None:
    """One referral accepted by the welfare foundation; one sent a week ago and still without
    an answer (past its three business days: the first tick raises `partner_unanswered`)."""
    sent_at = now - timedelta(days=7)
    view, _ = partners.refer(
        session,
        actor=counselor,
        resident_id=resident_id,
        partner="welfare_foundation",
        consent={"given_by": "본인", "given_at": sent_at - timedelta(hours=1), "scope": "contact"},
        reason=REFERRAL_REASON,
        now=sent_at,
    )
    if answered:
        partners.answer(
            session,
            actor=counselor,
            referral_id=view.id,
            accepted=True,
            note="재단 담당자 접수, 다음 주 가정방문 예정",
            now=sent_at + timedelta(days=1),
        )
