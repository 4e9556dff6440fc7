"""Reference data kept in tables: the administrative dongs of the district."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from welfare.models.base import Base


class Dong(Base):
    """An administrative dong (행정동); dongs merge and split, so they are rows, not code."""

    __tablename__ = "dongs"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(60))
    is_active: Mapped[bool] = mapped_column(default=True)
