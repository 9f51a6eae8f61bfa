"""Customers and accounts."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow


class Language(enum.StrEnum):
    """The language a customer is written to (notices, SMS); the PWA uses the same codes."""

    ZH_CN = "zh-CN"
    EN = "en"


class CustomerCategory(enum.StrEnum):
    """用电类别 (R41)."""

    RESIDENTIAL = "residential"  # 居民生活
    NON_RESIDENTIAL_LIGHTING = "non_residential_lighting"  # 非居民照明
    GENERAL_INDUSTRY = "general_industry"  # 一般工商业
    LARGE_INDUSTRY = "large_industry"  # 大工业
    AGRICULTURAL = "agricultural"  # 农业生产
    COMMERCIAL = "commercial"  # 商业


class AccountKind(enum.StrEnum):
    PREPAID = "prepaid"  # 预付费 (费控)
    POSTPAID = "postpaid"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # 户号
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32), default="", index=True)  # intake finds callers
    category: Mapped[CustomerCategory] = mapped_column(str_enum(CustomerCategory, 32))
    address: Mapped[str] = mapped_column(String(200), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    transformer_area_id: Mapped[int | None] = mapped_column(
        ForeignKey("transformer_areas.id"), index=True
    )
    # never disconnected automatically: medical or critical loads, key accounts class 1 (R90)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    key_account_class: Mapped[int | None] = mapped_column(Integer)
    # the language notices are worded in; set by the customer in the PWA or by staff
    language: Mapped[Language] = mapped_column(
        str_enum(Language, 8), default=Language.ZH_CN, server_default=Language.ZH_CN.value
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CustomerNameGram(Base):
    """Every distinct character and pair of characters of a customer's name, lower-cased:
    kept by database triggers (migration 0034), so a search by any part of a name looks up
    its pairs in this index instead of reading every customer."""

    __tablename__ = "customer_name_grams"
    __table_args__ = (
        PrimaryKeyConstraint("gram", "customer_id", name="pk_customer_name_grams"),
        Index("ix_customer_name_grams_customer_id", "customer_id"),
    )

    gram: Mapped[str] = mapped_column(String(2))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))


class SearchPosition(Base):
    """(position, width) for every character position of a name and widths 1 and 2: what the
    name-gram triggers cut a name with (SQL without recursion, the same on both databases)."""

    __tablename__ = "search_positions"
    __table_args__ = (PrimaryKeyConstraint("n", "width", name="pk_search_positions"),)

    n: Mapped[int] = mapped_column(Integer, autoincrement=False)
    width: Mapped[int] = mapped_column(Integer, autoincrement=False)


PAST_CREDIT = "balance_fen < -credit_limit_fen"  # the disconnect queue's threshold


class Account(Base):
    __tablename__ = "accounts"
    # arrears and the disconnect queue: most owed first, a page read off the index, the
    # queue's threshold (balance below minus the credit limit) judged from it too (0019)
    # the queue's candidates alone (past their credit: a tenth of the accounts, not all) in a
    # partial index, so its count no longer reads every prepaid account's entry (0039)
    __table_args__ = (
        Index("ix_accounts_kind_balance", "kind", "balance_fen", "credit_limit_fen"),
        Index(
            "ix_accounts_past_credit", "kind", "balance_fen", "credit_limit_fen",
            sqlite_where=text(PAST_CREDIT), postgresql_where=text(PAST_CREDIT),
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[AccountKind] = mapped_column(str_enum(AccountKind, 16))
    # cached from the ledger (integer fen); the ledger is the truth
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_limit_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # the prepaid sweep's watch line (0044): a change of the balance queues the account for
    # the sweep only when the old or the new balance is below it; NULL: every change does
    sweep_watch_fen: Mapped[int | None] = mapped_column(BigInteger)
    # start of this account's tariff cycle (阶梯 counters restart here each year or month)
    cycle_start: Mapped[date | None] = mapped_column(Date)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # 销户: closed by a closure change (backend/expansion/changes); takes no money after
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
