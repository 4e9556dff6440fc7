"""What the system knows about each gateway's traffic, to notice when one falls silent."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from welfare.models.base import Base


class GatewayWatch(Base):
    """One gateway account's signal rhythm: when it last sent an accepted signal, the gap an
    admin configured for it (if any) and the gap learned from its batches. Ids and times only."""

    __tablename__ = "gateway_watches"

    gateway_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    last_signal_at: Mapped[datetime | None]
    batches: Mapped[int] = mapped_column(default=0)  # batches with an accepted signal
    learned_interval_seconds: Mapped[int | None]
    expected_interval_seconds: Mapped[int | None]  # configured by an admin; None: learn it
    configured_by: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    @property
    def configured(self) -> timedelta | None:
        seconds = self.expected_interval_seconds
        return None if seconds is None else timedelta(seconds=seconds)

    @property
    def learned(self) -> timedelta | None:
        seconds = self.learned_interval_seconds
        return None if seconds is None else timedelta(seconds=seconds)
