"""API shapes of online payments: one Struct per operation."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import msgspec

from backend.prepaid.models import OrderStatus, PaymentProvider

MAX_ORDER_FEN = 10_000_000  # ¥100,000 in one payment


class OnlineChannel(enum.StrEnum):
    """The channels a customer pays through; counter and bank are recorded by staff."""

    APP = "app"
    WECHAT = "wechat"
    ALIPAY = "alipay"


class OrderIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    amount_fen: Annotated[int, msgspec.Meta(gt=0, le=MAX_ORDER_FEN)]
    channel: OnlineChannel = OnlineChannel.APP


class OrderOut(msgspec.Struct, frozen=True):
    """A payment order: pending until the provider confirms it, then paid with its receipt."""

    order_no: str
    account_id: int
    amount_fen: int
    channel: OnlineChannel
    provider: PaymentProvider
    status: OrderStatus
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None = None
    receipt_number: str | None = None
    balance_after_fen: int | None = None


class RejectionCount(msgspec.Struct, frozen=True):
    provider: PaymentProvider
    reason: str
    count: int
    last_at: datetime


class NotificationCounts(msgspec.Struct, frozen=True):
    credited: int
    duplicate: int
    rejected: int
    rejections: list[RejectionCount]  # per provider and reason, most frequent first


class DifferenceKind(enum.StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"  # the provider was paid, the ledger has no credit
    MISSING_AT_PROVIDER = "missing_at_provider"  # credited here, not in the provider's statement
    AMOUNT_DIFFERS = "amount_differs"


class Difference(msgspec.Struct, frozen=True):
    kind: DifferenceKind
    order_no: str
    provider_txn_id: str | None
    statement_fen: int | None
    ledger_fen: int | None
    account_id: int | None


class Reconciliation(msgspec.Struct, frozen=True):
    provider: PaymentProvider
    days: list[str]  # the local dates compared
    statement_payments: int
    statement_fen: int
    ledger_payments: int
    ledger_fen: int
    matched: int
    skipped_rows: int  # refunds and other states in the statement
    differences: list[Difference]
