"""Access records (접속기록) and access-right changes: two append-only, HMAC-chained logs.

A writer appends a row sealed with `seal`, HMAC-SHA256(audit key, "seal:" || canonical JSON of its
fields), without touching anything shared; the linking job (services/audit/link.py) then gives it
its position in its chain (`seq`, gapless from 1), the previous link's hash and its own hash,
HMAC-SHA256(audit key, prev_hash || canonical JSON of its fields and seal). Until then `seq`,
`prev_hash` and `hash` are null, and those three columns are the only ones ever written twice.
A head row per chain, MAC'd with the same key, names the newest link and the oldest one kept
after retention pruning, so deleting rows at either end is detectable. Rows hold pseudonymous ids
only: staff ids and resident ids, never names, RRNs or search terms. Staff ids carry no foreign
key on purpose: the records must outlive the accounts they name.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from welfare.models.base import Base, UUIDPk


class AuditChain(StrEnum):
    """The two chains; each has its own sequence, head and retention period."""

    ACCESS = "access"  # access records: who touched which resident's data, and security events
    ACCESS_RIGHTS = "access_rights"  # grants, changes and revocations of access rights

    @property
    def label(self) -> str:
        return {"access": "access records", "access_rights": "access-right changes"}[self.value]


class AuditAction(StrEnum):
    """What was done. Stored as text so a new action needs no migration."""

    READ = "read"
    SEARCH = "search"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXPORT = "export"
    REVEAL = "reveal"  # full RRN (or another masked field) shown; needs a reason
    ACCESS_DENIED = "access_denied"  # out-of-scope or forbidden attempt
    ERASE = "erase"
    DECRYPT_FAILED = "decrypt_failed"  # a ciphertext that failed to open (moved or corrupted)
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    LOCKED_OUT = "locked_out"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an action name, not a password
    REAUTH_FAILED = "reauth_failed"  # a wrong password or code to confirm an account change
    TOTP_ENROLLED = "totp_enrolled"  # a second factor enrolled or replaced
    TOTP_REMOVED = "totp_removed"  # a second factor removed (by its owner or reset by an admin)

    @property
    def is_security(self) -> bool:
        return self in SECURITY_ACTIONS

    @property
    def needs_reason(self) -> bool:
        """PIPA's safeguard standard wants a confirmed reason for every download; a reveal of a
        full RRN is justified case by case (docs/security-model.md, "Field rules by role")."""
        return self in (AuditAction.REVEAL, AuditAction.EXPORT)


SECURITY_ACTIONS = frozenset(
    {
        AuditAction.DECRYPT_FAILED,
        AuditAction.LOGIN,
        AuditAction.LOGIN_FAILED,
        AuditAction.LOGOUT,
        AuditAction.LOCKED_OUT,
        AuditAction.PASSWORD_CHANGED,
        AuditAction.REAUTH_FAILED,
        AuditAction.TOTP_ENROLLED,
        AuditAction.TOTP_REMOVED,
    }
)


class AuditOutcome(StrEnum):
    OK = "ok"
    DENIED = "denied"
    NOT_FOUND = "not_found"
    ERROR = "error"
    CONFLICT = "conflict"  # refused as a duplicate (e.g. an RRN already registered): 409


class AuditCategory(StrEnum):
    ACCESS = "access"  # processing of residents' personal data
    SECURITY = "security"  # authentication and integrity events


class RightChange(StrEnum):
    """What changed about a staff member's access."""

    CREATED = "created"
    ROLE_CHANGED = "role_changed"
    ROLE_GRANTED = "role_granted"  # supervisor or admin given, at creation or later
    DONGS_CHANGED = "dongs_changed"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    UNLOCKED = "unlocked"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a change name, not a password
    TOTP_ENROLLED = "totp_enrolled"  # by its owner, or by the operator's CLI
    TOTP_REMOVED = "totp_removed"  # by its owner
    TOTP_RESET = "totp_reset"  # by an admin, for someone else
    TOKEN_ISSUED = "token_issued"  # noqa: S105 - a change name, not a token
    TOKEN_REVOKED = "token_revoked"  # noqa: S105 - a change name, not a token


class ChainedRecord(Base):
    """Columns and hashing shared by both chains; each subclass is its own table and chain."""

    __abstract__ = True

    CHAIN: ClassVar[AuditChain]
    # The fields covered by the link hash, besides prev_hash (which is hashed as the prefix).
    HASHED_FIELDS: ClassVar[tuple[str, ...]]
    # Fields added after records were first written: hashed only when set, so every record
    # written before a field existed (where it reads back as null) hashes exactly as it did.
    # A value set later, or cleared later, changes the hash like any other rewrite.
    OPTIONAL_HASHED_FIELDS: ClassVar[tuple[str, ...]] = ("token_id",)
    # Every row appended since linking moved off the request path carries a seal; rows linked
    # before then (at append, under the chain lock) have none and hash without the key.
    SEAL_FIELD: ClassVar[str] = "seal"

    # sort_order puts the chain position first and the links last in every table.
    id: Mapped[UUIDPk] = mapped_column(sort_order=-3)
    # Null until the linking job places the record in its chain.
    # Unique in each table (uq_<table>_seq), except on PostgreSQL's partitioned audit_events,
    # where a unique constraint would have to include `at`: there the chain lock and the head's
    # compare-and-set keep seq unique, and verification names any duplicate.
    seq: Mapped[int | None] = mapped_column(BigInteger, sort_order=-2)
    at: Mapped[datetime] = mapped_column(sort_order=-1)
    ip: Mapped[str | None] = mapped_column(String(45), sort_order=1)
    request_id: Mapped[str | None] = mapped_column(String(64), sort_order=1)
    # The API token the actor came with (None for a session, the CLI or the system).
    token_id: Mapped[uuid.UUID | None] = mapped_column(sort_order=1)
    # The append-time MAC of every field but the chain position (null only on rows linked at
    # append before batch linking existed).
    seal: Mapped[str | None] = mapped_column(String(64), sort_order=2)
    prev_hash: Mapped[str | None] = mapped_column(String(64), sort_order=2)
    hash: Mapped[str | None] = mapped_column(String(64), sort_order=2)

    @classmethod
    def link_fields(
        cls, values: Mapping[Any, Any], *, sealed: bool | None = None
    ) -> dict[str, Any]:
        """The fields one link's hash covers, from the values being linked or from a streamed
        result row; welfare.crypto.chain turns them into canonical bytes.

        A link written by the linking job covers the seal, and names it even when a row came
        without one (`sealed=True`), so such a row never hashes like a row linked at append
        before seals existed (`sealed=False`: no seal key at all). By default: the seal when
        the row has one.
        """
        fields = cls.seal_fields(values)
        fields["seq"] = values["seq"]
        seal = values.get(cls.SEAL_FIELD)
        if sealed or (sealed is None and seal is not None):
            fields[cls.SEAL_FIELD] = seal
        return fields

    @classmethod
    def seal_fields(cls, values: Mapping[Any, Any]) -> dict[str, Any]:
        """The fields a record's seal covers: all its hashed fields but its chain position."""
        fields = {name: values[name] for name in cls.HASHED_FIELDS if name != "seq"}
        for name in cls.OPTIONAL_HASHED_FIELDS:
            if values.get(name) is not None:
                fields[name] = values[name]
        fields["chain"] = cls.CHAIN.value
        return cls._normalize(fields)

    @classmethod
    def hashed_columns(cls) -> tuple[str, ...]:
        """Every column a link's hash may cover (what verifying a chain has to read)."""
        return (*cls.HASHED_FIELDS, *cls.OPTIONAL_HASHED_FIELDS, cls.SEAL_FIELD)

    @classmethod
    def _normalize(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return fields


class AuditEvent(ChainedRecord):
    """One access record: who did what to which residents' data, when, from where, with what
    outcome (PIPA safeguard standard art. 8: 식별자·접속일시·접속지·처리한 정보주체·수행업무)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        # PostgreSQL partitions this table by month of `at` (migration 0020,
        # services/partitions.py): its primary key is (id, at) there and seq has a plain index.
        UniqueConstraint("seq").ddl_if(dialect="sqlite"),
        Index("ix_audit_events_seq", "seq").ddl_if(dialect="postgresql"),
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_staff_id_at", "staff_id", "at"),
        # What the linking job takes next, oldest first; only unlinked rows are in it.
        Index(
            "ix_audit_events_unlinked",
            "at",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    CHAIN = AuditChain.ACCESS
    HASHED_FIELDS = (
        "id",
        "seq",
        "at",
        "staff_id",
        "actor_role",
        "action",
        "resident_ids",
        "outcome",
        "ip",
        "request_id",
        "reason",
        "category",
    )

    staff_id: Mapped[uuid.UUID | None]  # None for the system (scheduler jobs, maintenance)
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    # Sorted, distinct UUID strings; jsonb on PostgreSQL for the containment index.
    resident_ids: Mapped[list[str]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(20))

    @classmethod
    def _normalize(cls, fields: dict[str, Any]) -> dict[str, Any]:
        fields["resident_ids"] = sorted(str(r) for r in fields["resident_ids"])
        return fields


# "Who looked at this resident?" On PostgreSQL the ids are jsonb with a GIN index answering `@>`
# containment; SQLite has no such index and scans json_each within the other filters (embedded
# installations are small). migrations/env.py compares a `ddl_if(dialect=...)` index only there.
Index(
    "ix_audit_events_resident_ids",
    AuditEvent.__table__.c.resident_ids,
    postgresql_using="gin",
    postgresql_ops={"resident_ids": "jsonb_path_ops"},
).ddl_if(dialect="postgresql")


class AccessRightChange(ChainedRecord):
    """One grant, change or revocation of a staff member's access, with the before and after
    states (PIPA safeguard standard art. 5: kept three years)."""

    __tablename__ = "access_right_changes"
    __table_args__ = (
        UniqueConstraint("seq"),
        Index("ix_access_right_changes_at", "at"),
        Index("ix_access_right_changes_target_staff_id_at", "target_staff_id", "at"),
        Index(
            "ix_access_right_changes_unlinked",
            "at",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    CHAIN = AuditChain.ACCESS_RIGHTS
    HASHED_FIELDS = (
        "id",
        "seq",
        "at",
        "actor_staff_id",
        "actor_role",
        "target_staff_id",
        "change",
        "before",
        "after",
        "ip",
        "request_id",
    )

    actor_staff_id: Mapped[uuid.UUID | None]  # None for the system
    actor_role: Mapped[str] = mapped_column(String(20))
    target_staff_id: Mapped[uuid.UUID]
    change: Mapped[str] = mapped_column(String(40))
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditReanchor(Base):
    """A chain re-anchored past records retention dropped as whole monthly partitions
    (PostgreSQL): which seqs went, from which months, and the hash of the last link dropped (the
    anchor the head moved to). Written in the same transaction as the drop, MAC'd with the audit
    key (`reanchor_mac`), append-only; `welfare audit verify` names these drops as retention.
    """

    __tablename__ = "audit_reanchors"
    __table_args__ = (Index("ix_audit_reanchors_chain_first_seq", "chain", "first_seq"),)

    id: Mapped[UUIDPk]
    chain: Mapped[str] = mapped_column(String(20))
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    # The dropped partitions' months ("2024-01", ...) and the instant everything before went.
    months: Mapped[list[str]] = mapped_column(JSON)
    dropped_before: Mapped[datetime]
    at: Mapped[datetime]
    mac: Mapped[str] = mapped_column(String(64))

    MAC_FIELDS: ClassVar[tuple[str, ...]] = (
        "id",
        "chain",
        "first_seq",
        "last_seq",
        "last_hash",
        "months",
        "dropped_before",
        "at",
    )


class AuditVerifiedMark(Base):
    """How far a pass of the `audit_verify_ahead` job has verified a chain: the pass started at
    `pass_from` (the anchor then) at `pass_started_at`, and found every link from there up to
    `seq` whole; link `seq` hashes to `hash`. MAC'd with the audit key over these fields and the
    chain's genesis (`verified_mark_mac`), so a mark cannot be forged, moved or carried over
    from a chain started again; append-only on PostgreSQL. Retention walks only the links after
    the newest pass's mark before it drops a month (services/audit/marks.py).
    """

    __tablename__ = "audit_verified_marks"
    __table_args__ = (Index("ix_audit_verified_marks_chain_seq", "chain", "seq"),)

    id: Mapped[UUIDPk]
    chain: Mapped[str] = mapped_column(String(20))
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    pass_from: Mapped[int] = mapped_column(BigInteger)
    pass_started_at: Mapped[datetime]
    at: Mapped[datetime]
    mac: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The newest link of a chain and the oldest one kept, MAC'd with the audit key.

    Updated in the same transaction as every append, so deleting the newest rows leaves the head
    pointing past the end of the table; after retention pruning `anchor_seq` and
    `anchor_prev_hash` say where the kept part of the chain starts. `mac` is null only in the
    pristine state the migration writes, until the first process holding the key writes the
    chain's keyed genesis: `started_at` and `genesis_hash` (a MAC of the chain's name and that
    instant, and the `prev_hash` of its first link). Chains started before geneses existed keep
    both null.
    """

    __tablename__ = "audit_chain_heads"

    chain: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    anchor_seq: Mapped[int] = mapped_column(BigInteger)
    anchor_prev_hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    genesis_hash: Mapped[str | None] = mapped_column(String(64))

    MAC_FIELDS: ClassVar[tuple[str, ...]] = (
        "chain",
        "last_seq",
        "last_hash",
        "anchor_seq",
        "anchor_prev_hash",
    )
