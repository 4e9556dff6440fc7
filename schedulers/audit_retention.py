"""The retention job: prune access records after 2 years and access-right changes after 3; on
PostgreSQL access records (and contacts, when a retention is configured for them) go by whole
monthly partitions."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services import partitions
from services.audit import prune_chain
from services.audit.retention import drop_expired_partitions
from welfare.database import database_now
from welfare.models import AuditChain

log = logging.getLogger("welfare.audit")

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


def prune_audit_records(
    session: Session, as_of: datetime, *, contact_retention: timedelta | None = None
) -> Mapping[str, int]:
    """Delete the records whose retention has run out; each chain's anchor moves with them.

    The clock is the earlier of `as_of` and the database's own: a tick run "in the future" must
    not delete what the law still requires (PostgreSQL's trigger would refuse it anyway).

    On PostgreSQL the access records go a month at a time: a partition is dropped once every
    record in it is past 730 days (services/audit/retention.py, `drop_expired_partitions`),
    so a record stays up to a month longer than the law requires, never shorter. Contacts have
    no retention unless one is configured (`WELFARE_CONTACT_RETENTION_DAYS`); then their
    months go the same way, except a month holding a contact on an open case's file.
    """
    now = database_now(session)
    clock = min(as_of, now)
    if not partitions.is_partitioned(session):
        return {
            f"{chain.value}_pruned": prune_chain(session, chain=chain, older_than=clock - retention)
            for chain, retention in RETENTION.items()
        }
    moved = partitions.ensure_partitions(session, now)
    # Rows that waited in a DEFAULT partition go to their month's first (counted when any).
    counts = {name: n for name, n in moved.items() if name.endswith("_moved") and n}
    dropped = drop_expired_partitions(
        session, chain=AuditChain.ACCESS, older_than=clock - ACCESS_RECORD_RETENTION
    )
    counts["access_pruned"] = dropped.rows
    counts["access_partitions_dropped"] = len(dropped.months)
    if dropped.held_back is not None:
        # A reason in fixed words: never a record's content.
        log.info("access record partitions held back", extra={"reason": dropped.held_back})
        counts["access_partitions_held_back"] = 1
    counts["access_rights_pruned"] = prune_chain(
        session, chain=AuditChain.ACCESS_RIGHTS, older_than=clock - ACCESS_RIGHT_CHANGE_RETENTION
    )
    if contact_retention is not None:
        contacts = partitions.drop_expired_contacts(session, older_than=clock - contact_retention)
        counts["contacts_pruned"] = contacts.rows
        counts["contact_partitions_dropped"] = len(contacts.months)
        counts["contact_partitions_held"] = len(contacts.held)
    return counts
