"""Who is acting: a staff member through the API, or the system itself (a scheduler job)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    COUNSELOR = "counselor"
    OUTREACH = "outreach"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    GATEWAY = "gateway"
    SYSTEM = "system"  # scheduler jobs and maintenance commands; never a login


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a use case, with everything access control and access records need."""

    staff_id: uuid.UUID | None
    role: Role
    dongs: frozenset[str] = field(default_factory=frozenset)
    ip: str | None = None
    request_id: str | None = None
    token_id: uuid.UUID | None = None  # the API token the request came with, if any

    @classmethod
    def system(cls, purpose: str = "scheduler") -> Actor:
        return cls(staff_id=None, role=Role.SYSTEM, request_id=purpose)

    @property
    def is_system(self) -> bool:
        return self.role is Role.SYSTEM
