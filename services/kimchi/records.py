"""What every kimchi use case shares: loading campaigns and scoped allocations, household keys,
and the views the API shows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, exists, literal, select
from sqlalchemy.orm import Session

from services import access, vault
from services.residents.labels import ResidentLabel
from services.residents.records import household_index, opened_field
from welfare.errors import NotFound
from welfare.models import (
    Actor,
    AllocationStatus,
    KimchiAllocation,
    KimchiCampaign,
    KimchiCampaignDong,
    Resident,
)

# A resident with no address is a household alone: keyed by their id in a column of its own,
# so it can never equal an address's index.
ALONE_INDEX = "kimchi.household_alone"
MAX_BOXES = 50  # a care facility receives several boxes as one recipient


@dataclass(frozen=True, slots=True)
class CampaignView:
    id: uuid.UUID
    name: str
    starts_on: date
    ends_on: date
    box_count: int
    box_kg: float
    status: str
    dongs: list[str]
    allocated_boxes: int
    remaining_stock: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int


@dataclass(frozen=True, slots=True)
class AllocationView:
    id: uuid.UUID
    campaign_id: uuid.UUID
    resident_id: uuid.UUID
    dong: str
    agency: str
    boxes: int
    status: str
    allocated_at: datetime
    allocated_by: uuid.UUID | None
    delivered_at: datetime | None
    ended_reason: str | None
    updated_at: datetime
    version: int
    resident: ResidentLabel | None = None


def campaign_view(session: Session, campaign: KimchiCampaign) -> CampaignView:
    return CampaignView(
        id=campaign.id,
        dongs=campaign_dongs(session, campaign.id),
        name=campaign.name,
        starts_on=campaign.starts_on,
        ends_on=campaign.ends_on,
        box_count=campaign.box_count,
        box_kg=campaign.box_kg,
        status=campaign.status,
        allocated_boxes=campaign.allocated_boxes,
        remaining_stock=campaign.box_count - campaign.allocated_boxes,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
        closed_at=campaign.closed_at,
        version=campaign.version,
    )


def allocation_view(
    allocation: KimchiAllocation, resident: ResidentLabel | None = None
) -> AllocationView:
    return AllocationView(
        id=allocation.id,
        campaign_id=allocation.campaign_id,
        resident_id=allocation.resident_id,
        dong=allocation.dong_code,
        agency=allocation.agency,
        boxes=allocation.boxes,
        status=allocation.status,
        allocated_at=allocation.allocated_at,
        allocated_by=allocation.allocated_by,
        delivered_at=allocation.delivered_at,
        ended_reason=allocation.ended_reason,
        updated_at=allocation.updated_at,
        version=allocation.version,
        resident=resident,
    )


def live_allocation() -> ColumnElement[bool]:
    """`status <> 'cancelled'` written as the household index's own condition, with the value
    in the SQL, so SQLite and generic PostgreSQL plans can use that partial index."""
    return KimchiAllocation.status != literal(
        AllocationStatus.CANCELLED.value, literal_execute=True
    )


def campaign_scope(actor: Actor) -> ColumnElement[bool]:
    """The SQL predicate of the campaigns the caller sees: those covering one of their dongs."""
    return exists().where(
        KimchiCampaignDong.campaign_id == KimchiCampaign.id,
        access.dong_scope(actor, KimchiCampaignDong.dong_code),
    )


def campaign_dongs(session: Session, campaign_id: uuid.UUID) -> list[str]:
    return list(
        session.scalars(
            select(KimchiCampaignDong.dong_code)
            .where(KimchiCampaignDong.campaign_id == campaign_id)
            .order_by(KimchiCampaignDong.dong_code)
        )
    )


def load_campaign(
    session: Session, actor: Actor, campaign_id: uuid.UUID, *, for_update: bool = False
) -> KimchiCampaign:
    """A campaign covering one of the caller's dongs (404 and a denial record otherwise)."""
    stmt = select(KimchiCampaign).where(KimchiCampaign.id == campaign_id, campaign_scope(actor))
    if for_update:
        stmt = stmt.with_for_update()
    campaign = session.scalar(stmt)
    if campaign is not None:
        return campaign
    if session.get(KimchiCampaign, campaign_id) is not None:
        access.deny(session, actor=actor)
    raise NotFound


def load_allocation(
    session: Session, actor: Actor, allocation_id: uuid.UUID, *, for_update: bool = False
) -> KimchiAllocation:
    """An allocation of the caller's dongs (404 and a denial record otherwise)."""
    return access.load_scoped(
        session,
        KimchiAllocation,
        allocation_id,
        actor=actor,
        resident_id_of=lambda a: a.resident_id,
        for_update=for_update,
    )


def load_allocation_for_change(
    session: Session, actor: Actor, allocation_id: uuid.UUID, expected_version: int | None
) -> KimchiAllocation:
    return access.load_for_change(
        session,
        KimchiAllocation,
        allocation_id,
        actor=actor,
        expected_version=expected_version,
        resident_id_of=lambda a: a.resident_id,
    )


def household_key(session: Session, actor: Actor, resident: Resident) -> bytes:
    """The resident's household: the blind index of their normalized address, computed from the
    sealed address (and kept) for residents registered before the index existed; a resident
    without an address is a household alone."""
    if resident.household_index is None and resident.address_enc is not None:
        address = opened_field(session, actor, resident, "address")
        resident.household_index = household_index(session, address)
    if resident.household_index is not None:
        return resident.household_index
    return alone_key(session, resident.id)


def alone_key(session: Session, resident_id: uuid.UUID) -> bytes:
    return vault.indexer(session).full(ALONE_INDEX, str(resident_id))
