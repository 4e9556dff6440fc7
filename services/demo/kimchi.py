"""The demo's kimchi campaign ('금치가 온다'): one campaign in progress, allocated by criteria in
the staffed dongs, a round per dong on its route sheet, and mixed outcomes (handed over, left at
the door, absent, refused, a concern), played through the real use cases."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import kimchi
from welfare.calendar import SEOUL
from welfare.models import Actor, KimchiCampaign

CAMPAIGN_NAME = "2026 김장 나눔 '금치가 온다'"
BOX_COUNT = 200
PER_DONG = 12
STOPS_PER_ROUTE = 8
AGENCY = "{dong} 주민센터"
# The first stops of each round, in order: (outcome, relation, observation, concern); the rest
# of the round is still to be delivered.
OUTCOMES: tuple[tuple[str, str | None, str | None, bool], ...] = (
    ("handed_over", "self", None, False),
    ("handed_over", "household_member", None, False),
    ("left_at_door", None, None, False),
    ("absent", None, "두 번 초인종, 응답 없음", False),
    ("refused", None, None, False),
    ("handed_over", "self", "기침이 심하고 거동이 불편해 보임", True),
)


@dataclass(frozen=True, slots=True)
class KimchiDemo:
    campaigns: int
    allocations: int
    routes: int
    outcomes: dict[str, int]


def seed_kimchi(
    session: Session,
    *,
    supervisor: Actor | None,
    counselors: Mapping[str, Actor],
    outreach: Mapping[str, Actor],
    now: datetime,
) -> KimchiDemo:
    """One campaign that started three days ago, in its delivery period; nothing when it exists
    (a second seed, or one completing an interrupted run, adds nothing)."""
    if supervisor is None or session.scalar(
        select(KimchiCampaign.id).where(KimchiCampaign.name == CAMPAIGN_NAME)
    ):
        return KimchiDemo(0, 0, 0, {})
    today = now.astimezone(SEOUL).date()
    campaign = kimchi.create_campaign(
        session,
        actor=supervisor,
        name=CAMPAIGN_NAME,
        starts_on=today - timedelta(days=3),
        ends_on=today + timedelta(days=14),
        box_count=BOX_COUNT,
        now=now - timedelta(days=4),
    )
    allocated = routes = 0
    outcomes: Counter[str] = Counter()
    for dong, counselor in sorted(counselors.items()):
        result = kimchi.allocate_by_criteria(
            session,
            actor=counselor,
            campaign_id=campaign.id,
            agency=AGENCY.format(dong=dong),
            dongs=[dong],
            limit=PER_DONG,
            now=now - timedelta(days=2),
        )
        allocated += result.allocated
        stops = result.allocation_ids[:STOPS_PER_ROUTE]
        deliverer = outreach.get(dong)
        if not stops or deliverer is None:
            continue
        route = kimchi.create_route(
            session,
            actor=counselor,
            campaign_id=campaign.id,
            name="1회차",
            delivery_on=today,
            allocation_ids=stops,
            deliverer_staff_id=deliverer.staff_id,
            suggest_order=True,
            now=now - timedelta(days=1),
        )
        routes += 1
        for (outcome, relation, observation, concern), stop in zip(
            OUTCOMES, route.stops, strict=False
        ):
            kimchi.record_attempt(
                session,
                actor=deliverer,
                allocation_id=stop.allocation_id,
                outcome=outcome,
                recipient_relation=relation,
                observation=observation,
                concern=concern,
                occurred_at=now - timedelta(hours=2),
                now=now - timedelta(hours=2),
            )
            outcomes[outcome] += 1
    return KimchiDemo(1, allocated, routes, dict(outcomes))
