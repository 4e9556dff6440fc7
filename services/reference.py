"""Reading reference data."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from welfare.models import Dong


def list_dongs(session: Session) -> list[Dong]:
    return list(session.scalars(select(Dong).where(Dong.is_active).order_by(Dong.code)))


def known_dong_codes(session: Session) -> set[str]:
    return set(session.scalars(select(Dong.code).where(Dong.is_active)))
