"""Kimchi delivery campaigns ('김치가 온다', docs/domain.md): campaigns with a stock of boxes, one
allocation per household across agencies, routes with ordered stops and route sheets, delivery
attempts whose outcomes reach the allocation, the resident's Ongi watch and follow-ups.

`records` loads and shows; `campaigns` creates, reads, summarizes and closes campaigns;
`allocations` allocates from the stock, one per household (the household is a keyed blind index
of the normalized address, welfare/identity/address.py).
"""

from services.kimchi.allocations import (
    allocate,
    cancel_allocation,
    get_allocation,
    list_allocations,
)
from services.kimchi.campaigns import (
    CampaignSummary,
    ClosingReport,
    Tally,
    change_status,
    create_campaign,
    get_campaign,
    list_campaigns,
    summary,
)
from services.kimchi.records import AllocationView, CampaignView

__all__ = [
    "AllocationView",
    "CampaignSummary",
    "CampaignView",
    "ClosingReport",
    "Tally",
    "allocate",
    "cancel_allocation",
    "change_status",
    "create_campaign",
    "get_allocation",
    "get_campaign",
    "list_allocations",
    "list_campaigns",
    "summary",
]
