"""The resident registry's use cases: register, read, update, list, search, reveal, erase.

`records` loads a resident in scope and decrypts what the caller may see; `registration`
validates and seals a new resident; `search` lists and finds; `changes` updates, moves dong,
records a death or move-out, and erases.
"""

from services.residents.changes import (
    SETTABLE_STATUSES,
    ReplayReport,
    change_status,
    end_programs,
    erase_resident,
    follow_to_dong,
    replay_erasures,
    update_resident,
)
from services.residents.records import (
    NAME_INDEX,
    PHONE_INDEX,
    RRN_INDEX,
    TABLE,
    ResidentView,
    check_dong,
    get_resident,
    load,
    view,
)
from services.residents.registration import (
    Identity,
    build_resident,
    register_resident,
    resident_row,
    validate_identity,
)
from services.residents.search import list_residents, reveal_rrn, search_residents

__all__ = [
    "NAME_INDEX",
    "PHONE_INDEX",
    "RRN_INDEX",
    "SETTABLE_STATUSES",
    "TABLE",
    "Identity",
    "ReplayReport",
    "ResidentView",
    "build_resident",
    "change_status",
    "check_dong",
    "end_programs",
    "erase_resident",
    "follow_to_dong",
    "get_resident",
    "list_residents",
    "load",
    "register_resident",
    "replay_erasures",
    "resident_row",
    "reveal_rrn",
    "search_residents",
    "update_resident",
    "validate_identity",
    "view",
]
