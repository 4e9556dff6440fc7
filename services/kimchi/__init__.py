"""Kimchi delivery campaigns ('김치가 온다', docs/domain.md): campaigns with a stock of boxes, one
allocation per household across agencies, routes with ordered stops and route sheets, delivery
attempts whose outcomes reach the allocation, the resident's Ongi watch and follow-ups.

`records` loads and shows; `campaigns` creates, reads, summarizes and closes campaigns;
`allocations` allocates from the stock, one per household (the household is a keyed blind index
of the normalized address, welfare/identity/address.py); `routes` plans rounds and prints route
sheets; `delivery` records attempts and their effects; `bulk` allocates by criteria and from
agencies' spreadsheets.
"""

from services.kimchi.allocations import (
    allocate,
    cancel_allocation,
    get_allocation,
    list_allocations,
)
from services.kimchi.bulk import (
    BulkResult,
    ImportResult,
    Skipped,
    allocate_by_criteria,
    import_allocations,
)
from services.kimchi.bulk import read_csv as read_allocation_csv
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
from services.kimchi.delivery import (
    AttemptView,
    RecordedAttempt,
    attempt_view,
    list_attempts,
    record_attempt,
)
from services.kimchi.records import AllocationView, CampaignView
from services.kimchi.routes import (
    RouteSheet,
    RouteView,
    SheetLine,
    StopView,
    abandon_route,
    create_route,
    get_route,
    get_route_labelled,
    list_routes,
    route_sheet,
)

__all__ = [
    "AllocationView",
    "AttemptView",
    "BulkResult",
    "CampaignSummary",
    "CampaignView",
    "ClosingReport",
    "ImportResult",
    "RecordedAttempt",
    "RouteSheet",
    "RouteView",
    "SheetLine",
    "Skipped",
    "StopView",
    "Tally",
    "abandon_route",
    "allocate",
    "allocate_by_criteria",
    "attempt_view",
    "cancel_allocation",
    "change_status",
    "create_campaign",
    "create_route",
    "get_allocation",
    "get_campaign",
    "get_route",
    "get_route_labelled",
    "import_allocations",
    "list_allocations",
    "list_attempts",
    "list_campaigns",
    "list_routes",
    "read_allocation_csv",
    "record_attempt",
    "route_sheet",
    "summary",
]
