"""Stored tariffs: the definition as JSON (prices as decimal strings), keyed by code."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.accounts.models import CustomerCategory
from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow


class TariffRecord(Base):
    __tablename__ = "tariffs"
    __table_args__ = (
        # one tariff per category takes effect on a given day; the next one ends it
        UniqueConstraint("category", "effective_from", name="uq_tariffs_category_effective"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[CustomerCategory] = mapped_column(str_enum(CustomerCategory, 32))
    effective_from: Mapped[date] = mapped_column(Date)
    definition: Mapped[str] = mapped_column(Text)  # backend.tariffs.model.Tariff as JSON
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
