"""The linking job: give access records appended since the last run their place in the chain."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from services.audit import link_chains


def link_audit_records(session: Session, as_of: datetime) -> Mapping[str, int]:
    """Link every chain's unlinked records, oldest first (up to a bound per run; the next run
    takes the rest). A head that was tampered with fails the run (AuditChainBroken), every
    interval, until someone looks: records keep being appended, sealed, and wait."""
    return link_chains(session)
