"""Stored tariffs: the definition as JSON (prices as decimal strings), keyed by code; and each
account's tariff assignments (which schedule it follows from which day)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.accounts.models import CustomerCategory
from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow


class TariffRecord(Base):
    __tablename__ = "tariffs"
    __table_args__ = (
        # one tariff per schedule takes effect on a given day; the next one ends it
        UniqueConstraint("schedule", "effective_from", name="uq_tariffs_schedule_effective"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[CustomerCategory] = mapped_column(str_enum(CustomerCategory, 32))
    # Tariff.schedule_key: the tariff's schedule, the category's name for a default one
    schedule: Mapped[str] = mapped_column(String(64))
    effective_from: Mapped[date] = mapped_column(Date)
    definition: Mapped[str] = mapped_column(Text)  # backend.tariffs.model.Tariff as JSON
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TariffAssignment(Base):
    """From ``effective_from`` (local midnight) the account is billed on ``schedule`` until
    its next assignment. Before its first one it follows its category's default schedule.
    Assignments are never edited: a change is a new assignment."""

    __tablename__ = "tariff_assignments"
    __table_args__ = (
        UniqueConstraint(
            "account_id", "effective_from", name="uq_tariff_assignments_account_effective"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    schedule: Mapped[str] = mapped_column(String(64))
    effective_from: Mapped[date] = mapped_column(Date)
    assigned_by: Mapped[str] = mapped_column(String(64))  # the user, or "import" / "cli"
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountTariffTerms(Base):
    """An account's own tier terms (rating.TierTerms): the household-size allowance
    (一户多人口) and the first cycle's proration. No row: neither."""

    __tablename__ = "account_tariff_terms"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    household_extra_kwh_month: Mapped[int] = mapped_column(Integer, default=0)
    prorate_from: Mapped[date | None] = mapped_column(Date)
    capacity_kva: Mapped[int | None] = mapped_column(Integer)  # two-part tariff: contracted
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
