"""The retention job: prune access records after 2 years and access-right changes after 3."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.audit import prune_chain
from welfare.database import database_now
from welfare.models import AuditChain

# PIPA safeguard standard (개인정보의 안전성 확보조치 기준, PIPC notice 2023-6), art. 8(1): access
# records are kept at least 2 years when the system holds unique identifiers (RRN) or sensitive
# data, as this one does. 730 days, never less: a leap day only keeps records a day longer.
ACCESS_RECORD_RETENTION = timedelta(days=730)
# Same standard, art. 5(3): records of granting, changing and revoking access rights are kept at
# least 3 years.
ACCESS_RIGHT_CHANGE_RETENTION = timedelta(days=1095)

RETENTION: dict[AuditChain, timedelta] = {
    AuditChain.ACCESS: ACCESS_RECORD_RETENTION,
    AuditChain.ACCESS_RIGHTS: ACCESS_RIGHT_CHANGE_RETENTION,
}


def prune_audit_records(session: Session, as_of: datetime) -> Mapping[str, int]:
    """Delete the records whose retention has run out; each chain's anchor moves with them.

    The clock is the earlier of `as_of` and the database's own: a tick run "in the future" must
    not delete what the law still requires (PostgreSQL's trigger would refuse it anyway).
    """
    clock = min(as_of, database_now(session))
    return {
        f"{chain.value}_pruned": prune_chain(session, chain=chain, older_than=clock - retention)
        for chain, retention in RETENTION.items()
    }
