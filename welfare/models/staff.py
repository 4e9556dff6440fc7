"""Staff accounts, their dong scopes, server-side sessions and API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from welfare.models.actor import Actor, Role
from welfare.models.base import Base, UUIDPk

LOCKOUT_THRESHOLD = 5  # PIPA safeguard standard §5⑥: limit access after repeated failures
LOCKOUT_DURATION = timedelta(minutes=30)
SESSION_IDLE_TIMEOUT = timedelta(minutes=15)  # PIPA: cut idle sessions; ASVS 7.3.1
SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=10)  # one long shift, then log in again


class Staff(Base):
    """A person (or a gateway machine) who may use the system, with a role and dong scope."""

    __tablename__ = "staff"

    id: Mapped[UUIDPk]
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[datetime | None]
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)  # AES-GCM sealed
    # A seed being enrolled, sealed like totp_secret; it replaces totp_secret only once a code
    # from it is confirmed, so starting an enrolment never switches the current factor off.
    totp_pending_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    totp_last_step: Mapped[int | None]  # each code is usable once
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    dong_links: Mapped[list[StaffDong]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="StaffDong.dong_code"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def dongs(self) -> list[str]:
        return [link.dong_code for link in self.dong_links]

    def set_dongs(self, codes: list[str]) -> None:
        wanted = sorted(set(codes))
        keep = [link for link in self.dong_links if link.dong_code in wanted]
        have = {link.dong_code for link in keep}
        self.dong_links = keep + [StaffDong(dong_code=c) for c in wanted if c not in have]

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def record_failed_login(self, now: datetime) -> bool:
        """Count one failure (a login or a re-authentication); True when it locks the account.

        A lock that has run out starts the count afresh: otherwise the count would stay at the
        threshold and a single wrong password after the lock would lock the account again.
        """
        if self.locked_until is not None and self.locked_until <= now:
            self.failed_logins = 0
            self.locked_until = None
        self.failed_logins += 1
        if self.failed_logins >= LOCKOUT_THRESHOLD and not self.is_locked(now):
            self.locked_until = now + LOCKOUT_DURATION
            return True
        return False

    def record_successful_login(self) -> None:
        self.failed_logins = 0
        self.locked_until = None

    def actor(self, *, ip: str | None = None, request_id: str | None = None) -> Actor:
        return Actor(
            staff_id=self.id,
            role=self.role_enum,
            dongs=frozenset(self.dongs),
            ip=ip,
            request_id=request_id,
        )


class StaffDong(Base):
    """One dong in a staff member's scope."""

    __tablename__ = "staff_dongs"

    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    dong_code: Mapped[str] = mapped_column(ForeignKey("dongs.code"), primary_key=True)


class StaffSession(Base):
    """A server-side login session; the cookie holds a random token, the table its hash."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_staff_id", "staff_id"),)

    id: Mapped[UUIDPk]
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # absolute limit
    ip: Mapped[str | None] = mapped_column(String(45))

    def is_live(self, now: datetime) -> bool:
        return now < self.expires_at and now - self.last_seen_at < SESSION_IDLE_TIMEOUT


class TokenIssuer(StrEnum):
    """How a token came to be: this decides whether a person may use it (docs/security-model.md,
    "API tokens: nobody acts in another person's name")."""

    ADMIN = "admin"  # an admin, through the API, for a gateway account
    SELF = "self"  # a person, for themself, after re-authenticating
    CLI = "cli"  # the operator, on the server (`welfare tokens create`)
    LEGACY = "legacy"  # issued before issuers were recorded (migration 0006)


class ApiToken(Base):
    """A bearer token for a gateway (or a person's own script); only its hash is stored, shown
    once at issue. It expires, and names who issued it and how."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_staff_id", "staff_id"),)

    id: Mapped[UUIDPk]
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # lets admins tell tokens apart
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    issued_by: Mapped[uuid.UUID | None]  # the issuing staff member; None for the CLI (or legacy)
    issued_via: Mapped[str] = mapped_column(String(10))  # a TokenIssuer
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at
