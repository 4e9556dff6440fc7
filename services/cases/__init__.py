"""Case use cases: a resident in one program, from intake to an approved closure.

`lifecycle` opens, lists, changes and closes cases; `notes` keeps counseling notes; `referrals`
sends a resident to another program with consent. Every load goes through `services.access`;
notes, referral reasons and consent details are sealed with the resident's data key.
"""

from services.cases.lifecycle import (
    decide_closure,
    get_case,
    list_cases,
    new_case,
    next_statuses,
    open_case,
    request_closure,
    resident_cases,
    transition,
    update_case,
)
from services.cases.notes import NoteView, add_note, list_notes
from services.cases.records import add_event, load, workflow_for, workflows
from services.cases.referrals import ReferralView, list_referrals, refer

__all__ = [
    "NoteView",
    "ReferralView",
    "add_event",
    "add_note",
    "decide_closure",
    "get_case",
    "list_cases",
    "list_notes",
    "list_referrals",
    "load",
    "new_case",
    "next_statuses",
    "open_case",
    "refer",
    "request_closure",
    "resident_cases",
    "transition",
    "update_case",
    "workflow_for",
    "workflows",
]
