"""The change log of an account after energisation: one row per requested change, with what
the account was before and what it is after, from which local day. Rows are never rewritten
once applied: a later change is a new row, so the account's history is the log itself."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.texts import TextCode
from backend.types import UTCDateTime, str_enum, utcnow


class ChangeKind(enum.StrEnum):
    CATEGORY = "category"  # 改类: 用电类别 from a day; billing switches schedule at its midnight
    CLOSURE = "closure"  # 销户: final bill, balance settled, meters removed, account closed
    OWNERSHIP = "ownership"  # 过户: a new holder from a day; the account keeps its meter
    NAME = "name"  # 更名: the same holder's name (and ID document) from a day
    CAPACITY = "capacity"  # 增容/减容: contracted kVA from a day; the capacity charge follows
    SUSPENSION = "suspension"  # 暂停: no capacity charge from a day until the resume day
    RESUMPTION = "resumption"  # 恢复: an applied suspension ends early, from a day
    TEMPORARY = "temporary"  # 临时用电: supply until a last day, then closed by the sweep
    MOVE = "move"  # 迁出/迁入: final reading and bill, balance moved, a new account there


class ChangeStatus(enum.StrEnum):
    REQUESTED = "requested"  # waiting for an operator
    APPLIED = "applied"  # the account was changed
    REJECTED = "rejected"  # an operator refused it, with a reason


class Settlement(enum.StrEnum):
    """What happens to a closing account's credit."""

    REFUND = "refund"  # 退费: a REFUND ledger entry takes it out to the customer
    TRANSFER = "transfer"  # to another account of the same customer: a pair of entries
    CARRY = "carry"  # 过户: the credit stays with the account for the new holder


class ChangeText(TextCode):
    """Results and memos of changes, as codes for people."""

    APPLIED = "change.applied"  # {change_kind}
    REJECTED = "change.rejected"  # {reason}
    TRANSFER_OUT = "memo.balance_transfer_out"  # {account}
    TRANSFER_IN = "memo.balance_transfer_in"  # {account}
    REFUND = "memo.closure_refund"  # {change}
    OWNERSHIP_REFUND = "memo.ownership_refund"  # {change}: the old holder's credit, 过户
    MOVE_REFUND = "memo.move_refund"  # {change}: the old address's credit, 迁出


class AccountChange(Base):
    __tablename__ = "account_changes"
    __table_args__ = (
        UniqueConstraint("requested_by", "idempotency_key", name="uq_account_changes_idempotency"),
        Index("ix_account_changes_account_kind", "account_id", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[ChangeKind] = mapped_column(str_enum(ChangeKind, 16))
    status: Mapped[ChangeStatus] = mapped_column(str_enum(ChangeStatus, 16))
    effective_from: Mapped[date] = mapped_column(Date)  # local day; its midnight is the change
    # what the account was and what it is to be ({"category": …}, {"settlement": …, …})
    before: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(String(500), default="")
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(500), default="")  # a rejection's
