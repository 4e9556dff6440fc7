"""A fictional demo district, seeded once; grows as features land."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from welfare.database import database_now
from welfare.models import Dong, SystemMarker

DEMO_MARKER = "demo_seeded"


def seed_demo_district(session: Session) -> dict[str, int] | None:
    """Seed the demo district unless it was seeded before; returns what was added, or None."""
    if session.get(SystemMarker, DEMO_MARKER) is not None:
        return None
    now = database_now(session)
    summary = {"dongs": session.scalar(select(func.count()).select_from(Dong)) or 0}
    session.add(SystemMarker(key=DEMO_MARKER, value="1", set_at=now))
    return summary
