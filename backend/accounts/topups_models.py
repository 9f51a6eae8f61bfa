"""Top-ups (购电 / 缴费) with their idempotency keys and receipts."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow


class Channel(enum.StrEnum):
    """Where the money came in (R36-R39)."""

    COUNTER = "counter"  # 营业厅
    BANK = "bank"  # 银行代收 (ICBC, BoCom, ...)
    WECHAT = "wechat"  # 微信缴费
    ALIPAY = "alipay"  # 支付宝
    APP = "app"  # 网上营业厅 / this app


class TopUpStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"  # refused (e.g. unknown account): the stored answer is the error


class TopUp(Base):
    """One request under one idempotency key. The unique (customer, key) constraint, not a
    read-then-write check, is what makes 50 identical parallel requests post once."""

    __tablename__ = "topups"
    __table_args__ = (
        UniqueConstraint("customer_id", "idempotency_key", name="uq_topups_customer_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    # NULL once purged (after settings.idempotency_retention_days): the payment record stays
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[TopUpStatus] = mapped_column(str_enum(TopUpStatus, 16))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, 16))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    receipt_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    response_status: Mapped[int | None] = mapped_column(SmallInteger)
    response: Mapped[str | None] = mapped_column(Text)  # the exact body answered, JSON
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
