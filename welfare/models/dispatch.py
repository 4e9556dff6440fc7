"""Counselor dispatch (슈퍼 복지상담관 출동, `outreach_dispatch`): a request for an on-site
counselor visit, and the duty roster of the counselors who go."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from welfare.errors import RuleViolation
from welfare.models.base import Base, HistoryEntry, UUIDPk


class DispatchState(StrEnum):
    REQUESTED = "requested"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    DONE = "done"
    CANCELLED = "cancelled"  # the resident died, moved away or was erased before anyone went


OPEN_DISPATCH_STATES = (
    DispatchState.REQUESTED.value,
    DispatchState.ASSIGNED.value,
    DispatchState.EN_ROUTE.value,
    DispatchState.ON_SITE.value,
)


class DispatchOutcome(StrEnum):
    CASE_OPENED = "case_opened"  # met, and a case was opened
    REFERRED = "referred"  # met, and referred on (a program or a partner)
    NO_NEED = "no_need"  # met, and nothing is needed
    NOT_FOUND = "not_found"  # nobody was met at the address

    @property
    def met(self) -> bool:
        return self is not DispatchOutcome.NOT_FOUND


class RequesterKind(StrEnum):
    DONG_CENTER = "dong_center"  # 동 주민센터
    CARE_CENTER = "care_center"  # 24시간 돌봄잇다센터
    PARTNER = "partner"  # a partner agency of config/partners.json (it has no account)


# The moves a dispatch makes; `done` is reached from `on_site`, or from any earlier state when
# nobody was found.
MOVES: dict[str, tuple[str, ...]] = {
    DispatchState.REQUESTED: (DispatchState.ASSIGNED,),
    DispatchState.ASSIGNED: (DispatchState.EN_ROUTE, DispatchState.ASSIGNED),
    DispatchState.EN_ROUTE: (DispatchState.ON_SITE,),
    DispatchState.ON_SITE: (),
    DispatchState.DONE: (),
    DispatchState.CANCELLED: (),
}
NOT_ON_SITE = text("state IN ('requested', 'assigned', 'en_route')")


class Dispatch(Base):
    """One request for an on-site visit, to a registered resident or, before registration, to
    an address (sealed with a data key of the dispatch's own until a resident is linked)."""

    __tablename__ = "dispatches"
    __table_args__ = (
        Index("ix_dispatches_dong_requested", "dong_code", "requested_at", "id"),
        # The tick reads only dispatches not yet on site.
        Index(
            "ix_dispatches_not_on_site_deadline",
            "deadline_at",
            sqlite_where=NOT_ON_SITE,
            postgresql_where=NOT_ON_SITE,
        ),
        Index("ix_dispatches_resident_id", "resident_id"),
        Index("uq_dispatches_requester_ref", "requested_by", "client_ref", unique=True),
    )

    id: Mapped[UUIDPk]
    dong_code: Mapped[str] = mapped_column(ForeignKey("dongs.code"))
    resident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("residents.id"))
    requester_kind: Mapped[str] = mapped_column(String(20))
    requester_partner: Mapped[str | None] = mapped_column(String(40))
    urgency: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(12), default=DispatchState.REQUESTED.value)
    outcome: Mapped[str | None] = mapped_column(String(20))
    requested_at: Mapped[datetime]
    requested_by: Mapped[uuid.UUID | None]
    deadline_at: Mapped[datetime]
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    assigned_at: Mapped[datetime | None]
    en_route_at: Mapped[datetime | None]
    on_site_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    contact_id: Mapped[uuid.UUID | None]
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    summary_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    client_ref: Mapped[str | None] = mapped_column(String(120))
    request_mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    @property
    def key_subject_id(self) -> uuid.UUID:
        """Whose data key seals this dispatch's personal fields."""
        return self.resident_id or self.id

    def assign(self, *, to: uuid.UUID, at: datetime) -> None:
        if DispatchState.ASSIGNED not in MOVES[self.state]:
            raise RuleViolation(
                "지금 배정할 수 없는 출동입니다 (this dispatch cannot be assigned now)",
                code="dispatch_state",
            )
        self.state = DispatchState.ASSIGNED.value
        self.assignee_id = to
        self.assigned_at = at
        self.updated_at = at

    def move(self, *, to: DispatchState, at: datetime) -> None:
        if to not in MOVES[self.state] or to is DispatchState.ASSIGNED:
            raise RuleViolation(
                f"{self.state}에서 {to.value}(으)로 바꿀 수 없습니다 "
                f"(no move from {self.state} to {to.value})",
                code="dispatch_state",
            )
        self.state = to.value
        setattr(self, f"{to.value}_at", at)
        self.updated_at = at

    def finish(self, *, outcome: DispatchOutcome, at: datetime) -> None:
        """Done: from on site, or (nobody found) from any state after assignment."""
        allowed = self.state == DispatchState.ON_SITE or (
            outcome is DispatchOutcome.NOT_FOUND
            and self.state in (DispatchState.ASSIGNED, DispatchState.EN_ROUTE)
        )
        if not allowed:
            raise RuleViolation(
                "현장에 도착한 출동만 완료할 수 있습니다 (only a dispatch on site can be done)",
                code="dispatch_state",
            )
        self.state = DispatchState.DONE.value
        self.outcome = outcome.value
        self.done_at = at
        self.updated_at = at

    def end_with_resident(self, *, why: str, by: uuid.UUID | None, at: datetime) -> DispatchEvent:
        """Nobody goes any more (the resident died, moved away or was erased): an open dispatch
        ends without an outcome. Returns the history entry naming why, for the caller to add."""
        if self.state not in OPEN_DISPATCH_STATES:
            raise RuleViolation(
                "이미 끝난 출동입니다 (this dispatch is already over)", code="dispatch_state"
            )
        before = self.state
        self.state = DispatchState.CANCELLED.value
        self.done_at = at
        self.updated_at = at
        return self.event("cancelled", by=by, at=at, why=why, from_state=before)

    def follow_resident(
        self, *, to_dong: str, keep_assignee: bool, by: uuid.UUID | None, at: datetime
    ) -> DispatchEvent:
        """Go with the resident to their new dong while still open: the new dong's team goes.
        An assignee who does not work there is released and the dispatch waits for one of its
        counselors on duty (its deadline stays). Returns the history entry, for the caller to
        add."""
        detail: dict[str, Any] = {"why": "resident_moved", "from_dong": self.dong_code}
        if not keep_assignee and self.assignee_id is not None:
            detail["released_staff_id"] = str(self.assignee_id)
            self.assignee_id = None
            self.assigned_at = self.en_route_at = None
            self.state = DispatchState.REQUESTED.value
        self.dong_code = to_dong
        self.updated_at = at
        detail["to_dong"] = to_dong
        return self.event("moved", by=by, at=at, **detail)

    def event(
        self, kind: str, *, by: uuid.UUID | None, at: datetime, **detail: Any
    ) -> DispatchEvent:
        """A history entry for this dispatch: codes, states and staff ids only (never an
        address, a name or a note), so it needs no sealing and outlives an erasure."""
        return DispatchEvent(
            id=uuid.uuid4(),
            dispatch_id=self.id,
            at=at,
            kind=kind,
            actor_staff_id=by,
            detail={"state": self.state, **detail},
        )


class DispatchEvent(HistoryEntry, Base):
    """One thing that happened to a dispatch (requested, assigned, en_route, on_site, done,
    moved, cancelled); never updated or deleted."""

    __tablename__ = "dispatch_events"
    __table_args__ = (Index("ix_dispatch_events_dispatch_id_at", "dispatch_id", "at"),)

    dispatch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dispatches.id"))


class DutyShift(Base):
    """A counselor on duty for dispatches in one dong, from `starts_at` to `ends_at`."""

    __tablename__ = "duty_shifts"
    __table_args__ = (
        Index("ix_duty_shifts_dong_starts", "dong_code", "starts_at", "id"),
        # Entered once: a roster form or an API call sent twice adds no second shift.
        Index(
            "uq_duty_shifts_dong_staff_starts", "dong_code", "staff_id", "starts_at", unique=True
        ),
    )

    id: Mapped[UUIDPk]
    dong_code: Mapped[str] = mapped_column(ForeignKey("dongs.code"))
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
