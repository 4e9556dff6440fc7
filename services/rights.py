"""Access rights of staff accounts: nobody changes their own, and every grant, change and
revocation goes to the access-rights chain (PIPA safeguard standard art. 5: kept 3 years)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from services import audit
from welfare.errors import Forbidden
from welfare.models import Actor, AuditAction, AuditCategory, AuditOutcome, Role, Staff

# Roles whose grant is recorded as a grant of its own: they see other staff's work (supervisor)
# or administer every account (admin).
PRIVILEGED_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


class OwnRightsRefused(Forbidden):
    """An admin may not act on their own account's rights: that is what another admin is for."""

    code = "own_rights_change"
    title = (
        "본인 계정의 역할·담당 동·활성 상태·잠금·인증 수단·토큰은 직접 바꿀 수 없습니다. "
        "다른 관리자에게 요청하세요 (you cannot change your own role, dongs, active flag, lock, "
        "second factor or tokens; ask another admin)"
    )


def refuse_own(session: Session, *, actor: Actor, target_id: uuid.UUID, what: str) -> None:
    """403, recorded, when `actor` is acting on their own account's rights (`what` names them)."""
    if actor.staff_id is not None and actor.staff_id == target_id:
        refuse(session, actor=actor, reason=f"own_{what}")
        raise OwnRightsRefused


def refuse(session: Session, *, actor: Actor, reason: str) -> None:
    """Record a refused change of access rights; committed at once so it survives the 403.

    An `access_denied` security record: it shows among the monthly review's denied attempts
    without counting as access to residents' data. `reason` is a stable code, never data.
    """
    audit.record_access(
        session,
        actor=actor,
        action=AuditAction.ACCESS_DENIED,
        outcome=AuditOutcome.DENIED,
        category=AuditCategory.SECURITY,
        reason=reason,
    )
    session.commit()


def rights_of(staff: Staff) -> dict[str, Any]:
    return {"role": staff.role, "dongs": staff.dongs, "is_active": staff.is_active}


def record(
    session: Session,
    *,
    actor: Actor | None,
    staff: Staff,
    change: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """One access-right change naming both parties: the actor (a staff member, or "cli" for
    the operator on the server) and the staff member whose rights changed."""
    audit.record_right_change(
        session,
        actor=actor or Actor.system("cli"),
        target_staff_id=staff.id,
        change=change,
        before=before,
        after=after,
    )


def is_privileged(role: Role | str | None) -> bool:
    return role is not None and Role(role) in PRIVILEGED_ROLES
