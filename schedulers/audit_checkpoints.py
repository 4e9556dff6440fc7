"""The checkpoint job: write each audit chain's signed head to the sink outside the database."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from services.audit import CheckpointRefused, session_sink, ship_checkpoints

log = logging.getLogger("welfare.audit")


def write_audit_checkpoints(session: Session, as_of: datetime) -> Mapping[str, int]:
    """Compare each chain's head with the sink's latest checkpoint and append the new head.

    A head behind, beside or restarted since the latest checkpoint is refused: the run fails
    (its error shows in the scheduler runs and in /readyz), the sink keeps the truth, and it
    fails again every interval until someone looks. Without a sink there is nothing to do.
    """
    sink = session_sink(session)
    if sink is None:
        return {"written": 0, "no_sink": 1}
    try:
        return ship_checkpoints(session, sink)
    except CheckpointRefused as exc:
        # Chains and seqs only: a checkpoint message never holds anyone's data.
        log.error("audit checkpoint refused", extra={"problem": str(exc)})
        raise
