"""Prepaid tables: the ledger and billing state, top-ups, the notices outbox, warning episodes.

Money is integer fen. A charge's exact amount (Decimal CNY) is kept as a string beside the fen
actually posted, so the rounding remainder can be carried and audited.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only
LIVE = "reversed_at IS NULL"  # a charge not reversed (the partial indexes' condition)


class EntryKind(enum.StrEnum):
    TOP_UP = "top_up"  # 购电 / 缴费: money in
    CONSUMPTION_CHARGE = "consumption_charge"  # 电费: money out, per metered interval
    ADJUSTMENT = "adjustment"  # 调账: either sign, with a memo and an actor
    REFUND = "refund"  # 退费: money out to the customer
    REVERSAL = "reversal"  # 冲正: exactly negates one earlier entry
    BILL_ISSUED = "bill_issued"  # 出账: a postpaid bill issued (0 fen: the charges debited it)
    LATE_FEE = "late_fee"  # 违约金: money out, per overdue bill and day


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
    # a memo the system wrote, as a code for people (backend.texts); staff memos have none
    memo_code: Mapped[str | None] = mapped_column(String(48))
    memo_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
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
    # the tier counters (阶梯): Wh of the live charges per tariff cycle start, as JSON
    # {"2026-01-01": 1234}; null when not kept (after a re-rating): summed from the charges
    tier_counters: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Charge(Base):
    """The priced consumption of one meter interval, behind one consumption_charge entry.

    Live while ``reversed_at`` is null. Re-rating (late readings) reverses a charge and posts
    new ones; a charge row is never edited except to mark it reversed.
    """

    __tablename__ = "charges"
    __table_args__ = (
        # an account's live charges by start and by end (the spend rate's window), partial:
        # with ``reversed_at`` a column of the index, PostgreSQL would not read an account's
        # newest start from its end but every live charge (migration 0043)
        Index(
            "ix_charges_live_start",
            "account_id",
            "start_ms",
            sqlite_where=text(LIVE),
            postgresql_where=text(LIVE),
        ),
        Index(
            "ix_charges_live_end",
            "account_id",
            "end_ms",
            sqlite_where=text(LIVE),
            postgresql_where=text(LIVE),
        ),
        Index("ix_charges_entry", "entry_id"),  # a reversal's charges (migration 0041)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # copies of the entry's account and of the meter billed, without foreign keys of their own:
    # one row an interval, and PostgreSQL checks every key of every row with a trigger
    # (migration 0040); the entry's key ties the charge to the ledger
    account_id: Mapped[int] = mapped_column(Integer)
    meter_pk: Mapped[int] = mapped_column(Integer)
    start_ms: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms, earlier reading
    end_ms: Mapped[int] = mapped_column(BigInteger)  # later reading
    wh: Mapped[int] = mapped_column(BigInteger)
    exact_cny: Mapped[str] = mapped_column(String(48))
    lines: Mapped[str] = mapped_column(Text)  # JSON list of backend.tariffs.rating.Line
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"))
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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


class NoticeKind(enum.StrEnum):
    """Escalating notices of one episode, each sent once."""

    LOW_BALANCE = "low_balance"  # 余额不足提醒
    DISCONNECT_WARNING = "disconnect_warning"  # 停电预告, with the earliest disconnect time
    DISCONNECTED = "disconnected"  # 已停电
    RESTORED = "restored"  # 已复电
    BILL_DUE_SOON = "bill_due_soon"  # 催费: a postpaid bill due in 3 days (episode = -bill id)
    BILL_DUE = "bill_due"  # 催费: due today
    BILL_OVERDUE = "bill_overdue"  # 催费: N days overdue


class NoticeChannel(enum.StrEnum):
    SMS = "sms"  # 催缴短信
    WECHAT = "wechat"
    APP = "app"  # push to this app


class NoticeStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"  # handed to the provider, no delivery receipt yet
    DELIVERED = "delivered"
    FAILED = "failed"


class Notice(Base):
    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("account_id", "episode", "kind", "channel", name="uq_notices_once"),
        Index("ix_notices_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    episode: Mapped[int] = mapped_column(Integer)
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind, 24))
    channel: Mapped[NoticeChannel] = mapped_column(str_enum(NoticeChannel, 16))
    recipient: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text)  # as sent: worded in the customer's language
    code: Mapped[str | None] = mapped_column(String(48))  # the same as a code (backend.texts)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    planned_disconnect_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    balance_fen: Mapped[int] = mapped_column(Integer)
    status: Mapped[NoticeStatus] = mapped_column(str_enum(NoticeStatus, 16))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WarningEpisode(Base):
    """Per account: the current low-balance episode. It opens when the balance first looks
    low and closes when the balance is healthy again; notices are unique per episode."""

    __tablename__ = "warning_episodes"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    episode: Mapped[int] = mapped_column(Integer, default=0)
    open: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentProvider(enum.StrEnum):
    """Who confirms an online payment (backend/prepaid/payments/providers)."""

    WECHAT = "wechat"  # 微信支付 API v3
    ALIPAY = "alipay"  # 支付宝, RSA2 notifications
    SIMULATED = "simulated"  # the demo's and the tests' wallet: signs exactly as WeChat v3


class OrderStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the provider's signed confirmation
    PAID = "paid"  # confirmed: the ledger has its top_up entry
    EXPIRED = "expired"  # not paid before expires_at


class PaymentOrder(Base):
    """One online payment intent (支付订单). Created by the customer's request, credited only by
    the provider's signed notification, exactly once: the pending → paid move is a
    compare-and-set in the same transaction as the ledger entry."""

    __tablename__ = "payment_orders"
    __table_args__ = (
        UniqueConstraint("customer_id", "idempotency_key", name="uq_payment_orders_customer_key"),
        UniqueConstraint("provider", "provider_txn_id", name="uq_payment_orders_provider_txn"),
        Index("ix_payment_orders_status_paid_at", "status", "paid_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)  # out_trade_no
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, 16))
    provider: Mapped[PaymentProvider] = mapped_column(str_enum(PaymentProvider, 16))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus, 16))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the provider's success time
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when we credited
    provider_txn_id: Mapped[str | None] = mapped_column(String(64))  # transaction_id / trade_no
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    receipt_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    balance_after_fen: Mapped[int | None] = mapped_column(BigInteger)


class NotificationOutcome(enum.StrEnum):
    CREDITED = "credited"  # verified, and it paid its order
    DUPLICATE = "duplicate"  # verified, its order was already paid: acknowledged, no money
    REJECTED = "rejected"  # refused; ``reason`` says why


class PaymentNotification(Base):
    """Every provider notification received, with what became of it: the audit trail and the
    counter of refused ones. ``replay_key`` (provider, timestamp and nonce of a verified
    signature) is unique, so a captured notification sent again is refused as a replay."""

    __tablename__ = "payment_notifications"
    __table_args__ = (
        UniqueConstraint("provider", "replay_key", name="uq_payment_notifications_replay"),
        Index("ix_payment_notifications_outcome_reason", "outcome", "reason"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[PaymentProvider] = mapped_column(str_enum(PaymentProvider, 16))
    outcome: Mapped[NotificationOutcome] = mapped_column(str_enum(NotificationOutcome, 16))
    reason: Mapped[str | None] = mapped_column(String(32))  # a RejectReason when rejected
    detail: Mapped[str] = mapped_column(String(500), default="")
    order_no: Mapped[str | None] = mapped_column(String(64))
    replay_key: Mapped[str | None] = mapped_column(String(160))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SweepQueueEntry(Base):
    """An account whose sweep inputs changed (migration 0012's triggers write these; the sweep
    examines the account and deletes exactly the entries it read)."""

    __tablename__ = "prepaid_sweep_queue"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))


class SweepDue(Base):
    """When time alone changes an account's verdict (a warning's lead time passing, the
    disconnect window opening, recent charges ageing out of the spend rate): the sweep examines
    it again then, changed or not."""

    __tablename__ = "prepaid_sweep_due"
    __table_args__ = (Index("ix_prepaid_sweep_due_due_ms_account_id", "due_ms", "account_id"),)

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    due_ms: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms


class SweepConfig(Base):
    """The settings the last sweep decided with; when they change every account is examined."""

    __tablename__ = "prepaid_sweep_config"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
