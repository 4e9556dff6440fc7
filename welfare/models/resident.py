"""The resident registry: plain facts for scoping and statistics, everything personal sealed."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from welfare.models.base import Base, UUIDPk


class ResidentStatus(StrEnum):
    ACTIVE = "active"
    MOVED_OUT = "moved_out"
    DECEASED = "deceased"
    ERASED = "erased"


class HouseholdType(StrEnum):
    SINGLE = "single"  # 1인 가구: the Ongi program's main concern
    ELDERLY_COUPLE = "elderly_couple"
    SINGLE_PARENT = "single_parent"
    GRANDPARENT_FAMILY = "grandparent_family"  # 조손가정
    DISABLED = "disabled"
    OTHER = "other"


# Columns that hold AES-GCM ciphertext; each is bound to (table, column, row id).
ENCRYPTED_FIELDS = ("name", "rrn", "phone", "address", "notes")


class DataKey(Base):
    """A subject's data key, wrapped by a master key; destroying it shreds the subject's data.

    Subjects are residents, and people not yet registered (e.g. a caller to the care center).
    """

    __tablename__ = "data_keys"
    __table_args__ = (Index("ix_data_keys_master_key_id", "master_key_id"),)

    subject_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    master_key_id: Mapped[str | None] = mapped_column(String(40))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    rewrapped_at: Mapped[datetime | None]
    destroyed_at: Mapped[datetime | None]

    @property
    def is_destroyed(self) -> bool:
        return self.wrapped is None


NOT_ACTIVE = text("status <> 'active'")
NOT_ACTIVE_INDEX = "ix_residents_not_active"


class Resident(Base):
    """One person in the district known to any welfare program."""

    __tablename__ = "residents"
    __table_args__ = (
        Index("ix_residents_dong_code_id", "dong_code", "id"),
        Index("ix_residents_phone_index", "phone_index"),
        Index("ix_residents_name_index", "name_index"),
        Index("ix_residents_household_index", "household_index"),
        # Who is no longer active: the follow-up tick's check on every due enrollment and live
        # follow-up reads this small index, not each wide resident row (migration 0022;
        # schedulers/rules/ongi.py).
        Index(
            NOT_ACTIVE_INDEX,
            "id",
            sqlite_where=NOT_ACTIVE,
            postgresql_where=NOT_ACTIVE,
        ),
    )

    id: Mapped[UUIDPk]
    dong_code: Mapped[str] = mapped_column(ForeignKey("dongs.code"))
    birth_year: Mapped[int]
    sex: Mapped[str] = mapped_column(String(6))
    is_foreigner: Mapped[bool] = mapped_column(default=False)
    household_type: Mapped[str | None] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(12), default=ResidentStatus.ACTIVE.value)
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    rrn_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    notes_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Blind indexes: the RRN's is full-length and unique (no duplicate registrations);
    # phone and name are truncated, so a match is only a candidate until decrypted.
    rrn_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    phone_index: Mapped[int | None] = mapped_column(Integer)
    name_index: Mapped[int | None] = mapped_column(Integer)
    # The household: a keyed blind index of the normalized address, full length (exact match),
    # so one address typed two ways is one household (services/kimchi/households.py).
    household_index: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    @property
    def is_erased(self) -> bool:
        return self.status == ResidentStatus.ERASED
