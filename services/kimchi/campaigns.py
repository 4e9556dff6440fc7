"""Campaigns: created and closed by supervisors, read by everyone who works cases, and their
summary (counts only, in the caller's dongs; the stock is the campaign's)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services import access
from services.kimchi.records import CampaignView, campaign_scope, campaign_view, load_campaign
from services.pagination import KeyKind, Keyset, Page, paginate
from services.reference import known_dong_codes
from welfare.errors import Forbidden, InvalidInput, PreconditionFailed
from welfare.models import (
    Actor,
    AllocationStatus,
    CampaignStatus,
    KimchiAllocation,
    KimchiCampaign,
    KimchiCampaignDong,
    Role,
)

MAX_BOX_COUNT = 1_000_000
NEWEST_FIRST = Keyset.of(
    (KimchiCampaign.created_at, KeyKind.INSTANT),
    (KimchiCampaign.id, KeyKind.UUID),
    descending=True,
)


def _supervisor_only(actor: Actor) -> None:
    if not actor.is_system and actor.role is not Role.SUPERVISOR:
        raise Forbidden("캠페인은 팀장만 만들고 닫습니다 (only supervisors manage campaigns)")


def create_campaign(
    session: Session,
    *,
    actor: Actor,
    name: str,
    starts_on: date,
    ends_on: date,
    box_count: int,
    now: datetime,
    box_kg: float = 5.0,
    dongs: Sequence[str] | None = None,
) -> CampaignView:
    """A new campaign in planning, with its stock of boxes, covering `dongs`: their staff see
    it and allocate to their residents. By default the creating supervisor's dongs (the system:
    every dong); a district campaign lists all ten."""
    _supervisor_only(actor)
    errors: dict[str, list[str]] = {}
    known = known_dong_codes(session)
    default = known if actor.is_system else set(actor.dongs)
    covered = sorted(set(dongs)) if dongs else sorted(default)
    if not covered:
        errors["dongs"] = ["캠페인이 다룰 동을 고르세요 (choose the dongs it covers)"]
    elif not set(covered) <= known:
        errors["dongs"] = ["알 수 없는 행정동 코드입니다 (unknown dong code)"]
    name = name.strip()
    if not name:
        errors["name"] = ["캠페인 이름을 입력하세요 (a name is required)"]
    if ends_on < starts_on:
        errors["ends_on"] = ["종료일은 시작일 이후여야 합니다 (ends before it starts)"]
    if not 1 <= box_count <= MAX_BOX_COUNT:
        errors["box_count"] = [f"1~{MAX_BOX_COUNT} 사이여야 합니다 (between 1 and {MAX_BOX_COUNT})"]
    if not 0 < box_kg <= 100:
        errors["box_kg"] = ["0보다 크고 100 이하여야 합니다 (between 0 and 100 kg)"]
    if errors:
        raise InvalidInput(errors)
    campaign = KimchiCampaign(
        id=uuid.uuid4(),
        name=name,
        starts_on=starts_on,
        ends_on=ends_on,
        box_count=box_count,
        box_kg=box_kg,
        allocated_boxes=0,
        status=CampaignStatus.PLANNING.value,
        created_by=actor.staff_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(campaign)
    session.flush()
    session.add_all(KimchiCampaignDong(campaign_id=campaign.id, dong_code=d) for d in covered)
    session.flush()
    result = campaign_view(session, campaign)
    session.commit()
    return result


def get_campaign(session: Session, *, actor: Actor, campaign_id: uuid.UUID) -> CampaignView:
    campaign = load_campaign(session, actor, campaign_id)
    result = campaign_view(session, campaign)
    session.commit()
    return result


def list_campaigns(
    session: Session, *, actor: Actor, cursor: str | None = None, limit: int = 50
) -> Page[CampaignView]:
    """The campaigns covering the caller's dongs, newest first (they name no resident)."""
    stmt = select(KimchiCampaign).where(campaign_scope(actor))
    page = paginate(session, stmt, NEWEST_FIRST, cursor=cursor, limit=limit)
    result = page.map(lambda c: campaign_view(session, c))
    session.commit()
    return result


@dataclass(frozen=True, slots=True)
class Tally:
    allocated: int = 0  # allocations not cancelled
    boxes: int = 0
    delivered: int = 0
    failed: int = 0
    routed: int = 0
    waiting: int = 0  # allocated, on no route yet
    cancelled: int = 0


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    campaign: CampaignView
    allocated: int
    delivered: int
    failed: int
    remaining_stock: int
    routed: int
    waiting: int
    cancelled: int
    boxes: int
    by_dong: dict[str, Tally] = field(default_factory=dict)
    by_agency: dict[str, Tally] = field(default_factory=dict)


def _tally(counts: dict[str, int], boxes: int) -> Tally:
    cancelled = counts.get(AllocationStatus.CANCELLED.value, 0)
    return Tally(
        allocated=sum(counts.values()) - cancelled,
        boxes=boxes,
        delivered=counts.get(AllocationStatus.DELIVERED.value, 0),
        failed=counts.get(AllocationStatus.FAILED.value, 0),
        routed=counts.get(AllocationStatus.ROUTED.value, 0),
        waiting=counts.get(AllocationStatus.ALLOCATED.value, 0),
        cancelled=cancelled,
    )


def summary(session: Session, *, actor: Actor, campaign_id: uuid.UUID) -> CampaignSummary:
    """Counts of the campaign's allocations in the caller's dongs (scoped in SQL), by status,
    dong and agency; the remaining stock is the campaign's own. Counts name nobody, so the
    summary leaves no access record."""
    campaign = load_campaign(session, actor, campaign_id)
    stmt = (
        select(
            KimchiAllocation.dong_code,
            KimchiAllocation.agency,
            KimchiAllocation.status,
            func.count(),
            func.sum(KimchiAllocation.boxes),
        )
        .where(
            KimchiAllocation.campaign_id == campaign.id,
            access.dong_scope(actor, KimchiAllocation.dong_code),
        )
        .group_by(KimchiAllocation.dong_code, KimchiAllocation.agency, KimchiAllocation.status)
    )
    total: dict[str, int] = {}
    dongs: dict[str, dict[str, int]] = {}
    agencies: dict[str, dict[str, int]] = {}
    boxes_of: dict[tuple[str, str], int] = {}
    live_boxes = 0
    for dong, agency, status, count, boxes in session.execute(stmt):
        for bucket in (total, dongs.setdefault(dong, {}), agencies.setdefault(agency, {})):
            bucket[status] = bucket.get(status, 0) + count
        if status != AllocationStatus.CANCELLED:
            live_boxes += boxes or 0
            boxes_of["dong", dong] = boxes_of.get(("dong", dong), 0) + (boxes or 0)
            boxes_of["agency", agency] = boxes_of.get(("agency", agency), 0) + (boxes or 0)
    whole = _tally(total, live_boxes)
    result = CampaignSummary(
        campaign=campaign_view(session, campaign),
        allocated=whole.allocated,
        delivered=whole.delivered,
        failed=whole.failed,
        remaining_stock=campaign.box_count - campaign.allocated_boxes,
        routed=whole.routed,
        waiting=whole.waiting,
        cancelled=whole.cancelled,
        boxes=live_boxes,
        by_dong={d: _tally(c, boxes_of.get(("dong", d), 0)) for d, c in sorted(dongs.items())},
        by_agency={
            a: _tally(c, boxes_of.get(("agency", a), 0)) for a, c in sorted(agencies.items())
        },
    )
    session.commit()
    return result


@dataclass(frozen=True, slots=True)
class ClosingReport:
    """What a closed campaign never delivered: allocations still waiting, routed or failed."""

    campaign: CampaignView
    undelivered: int
    undelivered_by_status: dict[str, int]
    undelivered_by_dong: dict[str, int]


def change_status(
    session: Session,
    *,
    actor: Actor,
    campaign_id: uuid.UUID,
    status: str,
    now: datetime,
    expected_version: int | None = None,
) -> ClosingReport:
    """Move the campaign forward; closing reports what was never delivered (district-wide
    counts: the supervisor closes the whole campaign)."""
    _supervisor_only(actor)
    try:
        target = CampaignStatus(status)
    except ValueError:
        raise InvalidInput(
            {"status": ["allocating, delivering, closed 중 하나 (unknown status)"]}
        ) from None
    campaign = load_campaign(session, actor, campaign_id, for_update=True)
    if expected_version is not None and campaign.version != expected_version:
        raise PreconditionFailed
    campaign.move_to(target, at=now)
    session.flush()
    rows = session.execute(
        select(KimchiAllocation.status, KimchiAllocation.dong_code, func.count())
        .where(
            KimchiAllocation.campaign_id == campaign.id,
            KimchiAllocation.status.in_(
                [
                    AllocationStatus.ALLOCATED.value,
                    AllocationStatus.ROUTED.value,
                    AllocationStatus.FAILED.value,
                ]
            ),
        )
        .group_by(KimchiAllocation.status, KimchiAllocation.dong_code)
    ).all()
    by_status: dict[str, int] = {}
    by_dong: dict[str, int] = {}
    for state, dong, count in rows:
        by_status[state] = by_status.get(state, 0) + count
        by_dong[dong] = by_dong.get(dong, 0) + count
    result = ClosingReport(
        campaign=campaign_view(session, campaign),
        undelivered=sum(by_status.values()),
        undelivered_by_status=by_status,
        undelivered_by_dong=dict(sorted(by_dong.items())),
    )
    session.commit()
    return result
