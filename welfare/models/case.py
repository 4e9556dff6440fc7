"""Cases: one resident in one program, with sealed notes, referrals and a status history."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from welfare.errors import RuleViolation
from welfare.models.base import Base, UUIDPk


class Program(StrEnum):
    CARE_CENTER = "care_center"  # 24시간 돌봄잇다센터
    ONGI = "ongi"  # 온기 프로젝트
    KIMCHI = "kimchi"  # 김치지원 '금치가 온다'
    MOBILITY = "mobility"  # 통합이동지원센터
    OUTREACH_DISPATCH = "outreach_dispatch"  # 슈퍼 복지상담관 출동
    HYGIENE_CARE = "hygiene_care"  # 어르신 건강 위생 안심서비스


class CasePriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class CaseNoteKind(StrEnum):
    NOTE = "note"
    CLOSURE_REQUEST = "closure_request"
    CLOSURE_DECISION = "closure_decision"


# Closing is one protocol in every program (config/case_workflows.json holds the rest).
CLOSURE_REQUESTED = "closure_requested"
CLOSED = "closed"

OPEN_CASE = text("closed_at IS NULL")


class Case(Base):
    """One resident in one program, from intake to an approved closure."""

    __tablename__ = "cases"
    __table_args__ = (
        # One open case per resident per program: a constraint, so two counselors opening the
        # same case at once get one case and one 409.
        Index(
            "uq_cases_open_resident_program",
            "resident_id",
            "program",
            unique=True,
            sqlite_where=OPEN_CASE,
            postgresql_where=OPEN_CASE,
        ),
        # A program's queue: open cases of a dong by status, oldest first.
        Index(
            "ix_cases_open_queue",
            "dong_code",
            "program",
            "status",
            "opened_at",
            "id",
            sqlite_where=OPEN_CASE,
            postgresql_where=OPEN_CASE,
        ),
        Index("ix_cases_resident_id", "resident_id"),
    )

    id: Mapped[UUIDPk]
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))  # copied for scoping in SQL
    program: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30))
    priority: Mapped[str] = mapped_column(String(10), default=CasePriority.NORMAL.value)
    assignee_id: Mapped[uuid.UUID | None]
    referred_from_case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    opened_at: Mapped[datetime]
    opened_by: Mapped[uuid.UUID | None]
    closure_requested_at: Mapped[datetime | None]
    closure_requested_by: Mapped[uuid.UUID | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def ensure_open(self) -> None:
        if not self.is_open:
            raise RuleViolation("종결된 사례입니다 (case closed)", code="case_closed")

    def request_closure(self, *, by: uuid.UUID | None, at: datetime) -> None:
        self.ensure_open()
        self.status = CLOSURE_REQUESTED
        self.closure_requested_at = at
        self.closure_requested_by = by

    def close(self, *, by: uuid.UUID | None, at: datetime) -> None:
        if self.status != CLOSURE_REQUESTED:
            raise RuleViolation(
                "종결 요청된 사례가 아닙니다 (no closure requested)", code="closure_not_requested"
            )
        self.status = CLOSED
        self.closed_at = at
        self.closed_by = by

    def end_with_resident(self, *, why: str, by: uuid.UUID | None, at: datetime) -> CaseEvent:
        """Close at once, outside the two-person protocol, because there is no one left to
        work with (the resident's record was erased by a supervisor, who approves by that act).
        Returns the history entry that says why, for the caller to add."""
        self.ensure_open()
        before = self.status
        self.status = CLOSED
        self.closed_at = at
        self.closed_by = by
        self.updated_at = at
        return CaseEvent(
            id=uuid.uuid4(),
            case_id=self.id,
            at=at,
            kind="closed_with_resident",
            from_status=before,
            to_status=CLOSED,
            actor_staff_id=by,
            detail={"why": why},
        )

    def send_back(self, *, to: str) -> None:
        if self.status != CLOSURE_REQUESTED:
            raise RuleViolation(
                "종결 요청된 사례가 아닙니다 (no closure requested)", code="closure_not_requested"
            )
        self.status = to
        self.closure_requested_at = None
        self.closure_requested_by = None


class CaseEvent(Base):
    """One thing that happened to a case (opened, moved, closure asked and decided);
    never updated, never deleted. Ids and codes only: anything personal is a sealed note."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case_id_at", "case_id", "at"),)

    id: Mapped[UUIDPk]
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    actor_staff_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CaseNote(Base):
    """A counseling note on a case, sealed with the resident's data key; only counselors and
    supervisors read it (docs/security-model.md, "Field rules by role")."""

    __tablename__ = "case_notes"
    __table_args__ = (Index("ix_case_notes_case_id_written_at", "case_id", "written_at"),)

    id: Mapped[UUIDPk]
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))  # whose key
    kind: Mapped[str] = mapped_column(String(20), default=CaseNoteKind.NOTE.value)
    author_id: Mapped[uuid.UUID | None]
    written_at: Mapped[datetime]
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)


class Referral(Base):
    """A resident referred from one program's case to another, with the consent it rests on.

    Who gave consent (the person, or a guardian by name), the reason and the scope of the
    consent are personal data, sealed with the resident's key; when consent was given is plain.
    """

    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_from_case_id", "from_case_id"),
        Index("ix_referrals_to_case_id", "to_case_id"),
    )

    id: Mapped[UUIDPk]
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("residents.id"))
    dong_code: Mapped[str] = mapped_column(String(10))
    from_case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    to_case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    from_program: Mapped[str] = mapped_column(String(20))
    to_program: Mapped[str] = mapped_column(String(20))
    reason_enc: Mapped[bytes] = mapped_column(LargeBinary)
    consent_given_by_enc: Mapped[bytes] = mapped_column(LargeBinary)
    consent_given_at: Mapped[datetime]
    consent_scope_enc: Mapped[bytes] = mapped_column(LargeBinary)
    referred_at: Mapped[datetime]
    referred_by: Mapped[uuid.UUID | None]
