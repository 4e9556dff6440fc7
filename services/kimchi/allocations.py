"""Allocations: one box (or a facility's several) per household per campaign, from the stock.

Two rules, each kept by the database: the household's partial unique index (a second allocation
for the same address, by any agency, is a 409 naming the existing one when the caller may see
it) and the stock's check constraint, approached by one conditional UPDATE of the campaign row
(`take_stock`): on PostgreSQL concurrent allocations queue on that row, each re-reading the
count the previous one committed, so the last box goes exactly once (409 `out_of_stock` after).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, select, update
from sqlalchemy.orm import Session

from services import access, followups, residents
from services.conflicts import flush_or_conflict
from services.kimchi.records import (
    MAX_BOXES,
    AllocationView,
    allocation_view,
    campaign_dongs,
    household_key,
    live_allocation,
    load_allocation,
    load_allocation_for_change,
    load_campaign,
)
from services.pagination import KeyKind, Keyset, Page, paginate
from services.residents.labels import labels
from welfare.errors import Conflict, DomainError, InvalidInput, RuleViolation
from welfare.models import (
    Actor,
    AllocationStatus,
    FollowUpReason,
    KimchiAllocation,
    KimchiCampaign,
    KimchiStop,
    ResidentStatus,
    StopState,
)
from welfare.models.base import eq_literal

MAX_AGENCY_LENGTH = 100
BY_ID = Keyset.of((KimchiAllocation.id, KeyKind.UUID))


def out_of_stock() -> Conflict:
    return Conflict("남은 김치 상자가 없습니다 (out of stock)", code="out_of_stock")


def check_agency(agency: str, errors: dict[str, list[str]]) -> str:
    agency = " ".join(agency.split())
    if not agency:
        errors["agency"] = ["배분 기관을 입력하세요 (an agency is required)"]
    elif len(agency) > MAX_AGENCY_LENGTH:
        errors["agency"] = [f"{MAX_AGENCY_LENGTH}자 이하 (at most {MAX_AGENCY_LENGTH} characters)"]
    return agency


def take_stock(session: Session, campaign_id: uuid.UUID, boxes: int) -> None:
    """Take `boxes` from the campaign's stock in one statement, or 409 `out_of_stock`."""
    result = session.execute(
        update(KimchiCampaign)
        .where(
            KimchiCampaign.id == campaign_id,
            KimchiCampaign.allocated_boxes + boxes <= KimchiCampaign.box_count,
        )
        .values(allocated_boxes=KimchiCampaign.allocated_boxes + boxes)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise out_of_stock()


def return_stock(session: Session, campaign_id: uuid.UUID, boxes: int) -> None:
    session.execute(
        update(KimchiCampaign)
        .where(KimchiCampaign.id == campaign_id)
        .values(allocated_boxes=KimchiCampaign.allocated_boxes - boxes)
        .execution_options(synchronize_session=False)
    )


def existing_for_household(
    session: Session, campaign_id: uuid.UUID, key: bytes
) -> tuple[uuid.UUID, uuid.UUID, str, str] | None:
    """The live allocation of this household in the campaign: (id, resident, dong, agency)."""
    row = session.execute(
        select(
            KimchiAllocation.id,
            KimchiAllocation.resident_id,
            KimchiAllocation.dong_code,
            KimchiAllocation.agency,
        ).where(
            KimchiAllocation.campaign_id == campaign_id,
            KimchiAllocation.household_key == key,
            live_allocation(),
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1], row[2], row[3])


def refuse_same_household(
    session: Session, actor: Actor, campaign_id: uuid.UUID, key: bytes
) -> DomainError | None:
    """409 when the household already has a live allocation, recorded first (the answer tells
    the caller something about that household); `existing_id` only in the caller's scope."""
    existing = existing_for_household(session, campaign_id, key)
    if existing is None:
        return None
    existing_id, resident_id, dong, agency = existing
    access.record_refusal(
        session, actor=actor, action="create", resident_ids=[resident_id], outcome="conflict"
    )
    extra: dict[str, Any] = {}
    if access.in_scope(actor, dong):
        extra["existing_id"] = str(existing_id)
        extra["existing_agency"] = agency
    return Conflict(
        "이 가구는 이미 이 캠페인에서 배분받았습니다 (household already allocated)",
        code="already_allocated",
        extra=extra,
    )


def allocate(
    session: Session,
    *,
    actor: Actor,
    campaign_id: uuid.UUID,
    resident_id: uuid.UUID,
    agency: str,
    now: datetime,
    boxes: int = 1,
) -> AllocationView:
    """Allocate the resident's household a box of the campaign, for an agency."""
    errors: dict[str, list[str]] = {}
    agency = check_agency(agency, errors)
    if not 1 <= boxes <= MAX_BOXES:
        errors["boxes"] = [f"1~{MAX_BOXES} 사이여야 합니다 (between 1 and {MAX_BOXES})"]
    if errors:
        raise InvalidInput(errors)
    campaign = load_campaign(session, actor, campaign_id)
    campaign.ensure_open()
    resident = residents.load(session, actor, resident_id)
    if resident.status != ResidentStatus.ACTIVE:
        raise RuleViolation(
            "전출했거나 사망한 주민에게는 배분할 수 없습니다 (resident not active)",
            code="resident_inactive",
        )
    if resident.dong_code not in campaign_dongs(session, campaign.id):
        raise InvalidInput(
            {"resident_id": ["이 캠페인이 다루지 않는 동의 주민입니다 (dong not in the campaign)"]}
        )
    key = household_key(session, actor, resident)
    refused = refuse_same_household(session, actor, campaign.id, key)
    if refused is not None:
        raise refused
    take_stock(session, campaign.id, boxes)
    allocation = KimchiAllocation(
        id=uuid.uuid4(),
        campaign_id=campaign.id,
        resident_id=resident.id,
        dong_code=resident.dong_code,
        household_key=key,
        agency=agency,
        boxes=boxes,
        status=AllocationStatus.ALLOCATED.value,
        allocated_at=now,
        allocated_by=actor.staff_id,
        updated_at=now,
        version=1,
    )
    session.add(allocation)
    # Two agencies allocating one household at once: the unique index lets one win.
    flush_or_conflict(session, _household_race(session, actor, campaign.id, key))
    result = allocation_view(allocation)
    access.commit_recorded(session, actor=actor, action="create", resident_ids=[resident.id])
    return result


def _household_race(
    session: Session, actor: Actor, campaign_id: uuid.UUID, key: bytes
) -> Callable[[], DomainError | None]:
    return lambda: refuse_same_household(session, actor, campaign_id, key)


def get_allocation(session: Session, *, actor: Actor, allocation_id: uuid.UUID) -> AllocationView:
    allocation = load_allocation(session, actor, allocation_id)
    found = labels(session, actor, [allocation.resident_id])
    result = allocation_view(allocation, found.get(allocation.resident_id))
    access.commit_recorded(
        session, actor=actor, action="read", resident_ids=[allocation.resident_id]
    )
    return result


def list_allocations(
    session: Session,
    *,
    actor: Actor,
    campaign_id: uuid.UUID,
    status: str | None = None,
    dong: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[AllocationView]:
    """The campaign's allocations in the caller's dongs, with resident labels."""
    if cursor is not None:
        BY_ID.decode(cursor)  # a forged cursor is a 422 whatever campaign it names
    campaign = load_campaign(session, actor, campaign_id)
    stmt: Select[Any] = select(KimchiAllocation).where(
        KimchiAllocation.campaign_id == campaign.id,
        access.dong_scope(actor, KimchiAllocation.dong_code),
    )
    if status is not None:
        if status not in {s.value for s in AllocationStatus}:
            raise InvalidInput({"status": ["알 수 없는 상태입니다 (unknown status)"]})
        stmt = stmt.where(KimchiAllocation.status == status)
    if dong is not None:
        stmt = stmt.where(KimchiAllocation.dong_code == dong)
    page = paginate(session, stmt, BY_ID, cursor=cursor, limit=limit)
    found = labels(session, actor, (a.resident_id for a in page.items))
    result = page.map(lambda a: allocation_view(a, found.get(a.resident_id)))
    access.commit_recorded(
        session, actor=actor, action="search", resident_ids=[a.resident_id for a in page.items]
    )
    return result


def cancel_allocation(
    session: Session,
    *,
    actor: Actor,
    allocation_id: uuid.UUID,
    now: datetime,
    expected_version: int | None = None,
) -> AllocationView:
    """Withdraw an allocation not yet delivered: its box goes back to the stock, its household
    may be allocated again, and its open stop leaves its route."""
    allocation = load_allocation_for_change(session, actor, allocation_id, expected_version)
    allocation.cancel(why="withdrawn", at=now)
    release(session, actor=actor, allocation=allocation, why="allocation_withdrawn", now=now)
    session.flush()
    result = allocation_view(allocation)
    access.commit_recorded(
        session, actor=actor, action="update", resident_ids=[allocation.resident_id]
    )
    return result


def release(
    session: Session, *, actor: Actor, allocation: KimchiAllocation, why: str, now: datetime
) -> None:
    """What follows an allocation that ended without a delivery (withdrawn, refused, cancelled
    at the door): its boxes go back to the stock, its open stop leaves its route, and a failed
    delivery's follow-up is cancelled, naming why."""
    return_stock(session, allocation.campaign_id, allocation.boxes)
    session.execute(
        update(KimchiStop)
        .where(KimchiStop.allocation_id == allocation.id, eq_literal(KimchiStop.state, "open"))
        .values(state=StopState.RETURNED.value)
        .execution_options(synchronize_session=False)
    )
    followups.cancel_live(
        session,
        subject_id=allocation.id,
        reason=FollowUpReason.DELIVERY_FAILED.value,
        why=why,
        now=now,
        actor=actor,
    )
