"""24-hour care center use cases: receive a request, respond, hand over, record the outcome,
link it to a resident, and the handover view of what is open by deadline.

A request is scoped by its own dong, so one that arrives before the person is registered is
still visible to that dong's staff only. Its personal fields (summary, caller name and phone)
are sealed with a data key of the request's own until it is linked to a resident; linking
re-seals them, and the notes of its history, under the resident's key and destroys the
request's key, so all data about one person lives under one key and the resident's erasure
shreds it (docs/architecture.md, "Encryption").

The urgency sets `respond_by` (config/care_urgency.json). An unanswered request past it gets a
`care_response_overdue` follow-up from the tick (schedulers/followups.py); answering resolves it
in the same transaction.
"""

from services.care.deadlines import respond_by, urgencies
from services.care.intake import get_request, handover_view, receive_request
from services.care.records import CareEventView, CareRequestView, load, view
from services.care.work import hand_over, link_resident, record_outcome, respond

__all__ = [
    "CareEventView",
    "CareRequestView",
    "get_request",
    "hand_over",
    "handover_view",
    "link_resident",
    "load",
    "receive_request",
    "record_outcome",
    "respond",
    "respond_by",
    "urgencies",
    "view",
]
