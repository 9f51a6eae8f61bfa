"""The notification outbox and the per-account warning episode (R30)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow


class NoticeKind(enum.StrEnum):
    """Escalating notices of one episode, each sent once."""

    LOW_BALANCE = "low_balance"  # 余额不足提醒
    DISCONNECT_WARNING = "disconnect_warning"  # 停电预告, with the earliest disconnect time
    DISCONNECTED = "disconnected"  # 已停电
    RESTORED = "restored"  # 已复电


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
    text: Mapped[str] = mapped_column(Text)
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
