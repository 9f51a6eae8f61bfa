"""Issued bills: stored once at the end of a month and never edited (a correction is a new
revision); the late fee posted per bill and day; nothing here is updated after insert."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, utcnow


class IssuedBill(Base):
    __tablename__ = "issued_bills"
    __table_args__ = (
        # one issue per account, month and revision: a second issuer hits this and stops
        UniqueConstraint("account_id", "month", "revision", name="uq_issued_bills_revision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # 账单号 ACCOUNT-YYYYMM-R
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, local
    revision: Mapped[int] = mapped_column(Integer, default=0)  # 0 = as issued, 1.. corrections
    lines: Mapped[str] = mapped_column(Text)  # JSON list of backend.tariffs.bill.BillLine
    exact_cny: Mapped[str] = mapped_column(String(48))
    total_fen: Mapped[int] = mapped_column(BigInteger)
    energy_wh: Mapped[int] = mapped_column(BigInteger)
    due_on: Mapped[date] = mapped_column(Date)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LateFee(Base):
    __tablename__ = "bill_late_fees"
    __table_args__ = (UniqueConstraint("bill_id", "day", name="uq_bill_late_fees_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("issued_bills.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    day: Mapped[date] = mapped_column(Date)  # the local day the fee is for
    owed_fen: Mapped[int] = mapped_column(BigInteger)  # the bill's unpaid amount that day
    permille: Mapped[int] = mapped_column(Integer)  # 1, 2 or 3 ‰
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
