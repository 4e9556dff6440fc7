"""The partitions job (PostgreSQL): this month's and the next three months' partitions of access
records and contacts exist, and rows that landed in a DEFAULT partition move to their month's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from services.partitions import ensure_partitions
from welfare.database import database_now


def keep_partitions_ahead(session: Session, as_of: datetime) -> Mapping[str, int]:
    """Create missing monthly partitions from the later of `as_of` and the database clock (a
    tick run ahead prepares its months too); a no-op on SQLite."""
    return ensure_partitions(session, max(as_of, database_now(session)))
