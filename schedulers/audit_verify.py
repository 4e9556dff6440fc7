"""The verify-ahead job: walk each audit chain a bounded slice per run and mark how far it was
found whole, so retention's drop walks only what the marks do not cover yet
(services/audit/marks.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from services.audit.marks import verify_ahead
from welfare.models import AuditChain


def verify_audit_chains_ahead(session: Session, as_of: datetime) -> Mapping[str, int]:
    """Each chain's next slice of links past its latest mark; a bad link fails the run (and
    every run after it, until someone looks), with nothing marked."""
    return {f"{chain.value}_verified": verify_ahead(session, chain) for chain in AuditChain}
