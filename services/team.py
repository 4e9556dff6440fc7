"""The team directory: colleagues to hand work to, found by name.

Counselors, outreach workers and supervisors see the active staff who work with resident data
in a dong they share, with display name, role and the dongs they share: enough to assign a
follow-up or hand over a care request by name, nothing about accounts (no logins, locks or
tokens; the username only stands in for a missing display name). Admins administer accounts
through `services.staff` instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import access
from services.pagination import KeyKind, Keyset, Page, paginate
from welfare.models import Actor, Role, Staff, StaffDong

BY_NAME = Keyset.of((Staff.display_name, KeyKind.TEXT), (Staff.id, KeyKind.UUID))
CASEWORK_ROLES = sorted(r.value for r in access.RESIDENT_DATA_ROLES)


@dataclass(frozen=True, slots=True)
class Colleague:
    id: uuid.UUID
    name: str
    role: str
    dongs: list[str]  # the dongs the caller shares with them


def directory(
    session: Session,
    *,
    actor: Actor,
    dong: str | None = None,
    role: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Colleague]:
    """Colleagues who share a dong with the caller (themselves included), by name."""
    mine = sorted(actor.dongs) if dong is None else sorted({dong} & actor.dongs)
    shared = select(StaffDong.staff_id).where(StaffDong.dong_code.in_(mine))
    stmt = select(Staff).where(
        Staff.is_active.is_(True),
        Staff.role.in_(CASEWORK_ROLES if role is None else [Role(role).value]),
        Staff.id.in_(shared),
    )
    page = paginate(session, stmt, BY_NAME, cursor=cursor, limit=limit)
    session.commit()
    return page.map(
        lambda s: Colleague(
            id=s.id,
            name=s.display_name or s.username,
            role=s.role,
            dongs=[d for d in s.dongs if d in actor.dongs],
        )
    )
