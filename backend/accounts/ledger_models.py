"""The ledger (append-only), the billing carry per account, and the charges behind entries.

Money is integer fen. A charge's exact amount (Decimal CNY) is kept as a string beside the fen
actually posted, so the rounding remainder can be carried and audited.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only


class EntryKind(enum.StrEnum):
    TOP_UP = "top_up"  # 购电 / 缴费: money in
    CONSUMPTION_CHARGE = "consumption_charge"  # 电费: money out, per metered interval
    ADJUSTMENT = "adjustment"  # 调账: either sign, with a memo and an actor
    REFUND = "refund"  # 退费: money out to the customer
    REVERSAL = "reversal"  # 冲正: exactly negates one earlier entry


class LedgerEntry(Base):
    """One movement of money. Never updated, never deleted: corrections are new entries."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[EntryKind] = mapped_column(str_enum(EntryKind, 24))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # + credits the account, - debits it
    balance_after_fen: Mapped[int] = mapped_column(BigInteger)
    exact_cny: Mapped[str | None] = mapped_column(String(48))  # charges: the unrounded amount
    # a reversal names the entry it negates; unique, so nothing is reversed twice
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    actor: Mapped[str] = mapped_column(String(64))
    memo: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BillingState(Base):
    """Per account: the exact total of live charges and the fen posted for them.

    ``posted_fen - round(exact_total)`` is the carried remainder; each new charge posts
    ``round(exact_total + charge) - posted_fen``, so the posted charges always sum to the exact
    bill rounded once.
    """

    __tablename__ = "billing_states"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    exact_total_cny: Mapped[str] = mapped_column(String(48), default="0")
    posted_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    billed_through_ms: Mapped[int | None] = mapped_column(BigInteger)  # last interval end
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Charge(Base):
    """The priced consumption of one meter interval, behind one consumption_charge entry.

    Live while ``reversed_at`` is null. Re-rating (late readings) reverses a charge and posts
    new ones; a charge row is never edited except to mark it reversed.
    """

    __tablename__ = "charges"
    __table_args__ = (
        Index("ix_charges_account_live", "account_id", "reversed_at", "start_ms"),
        Index("ix_charges_meter_start", "meter_pk", "start_ms"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    start_ms: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms, earlier reading
    end_ms: Mapped[int] = mapped_column(BigInteger)  # later reading
    wh: Mapped[int] = mapped_column(BigInteger)
    exact_cny: Mapped[str] = mapped_column(String(48))
    lines: Mapped[str] = mapped_column(Text)  # JSON list of backend.tariffs.rating.Line
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"))
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
