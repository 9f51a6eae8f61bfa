"""Held readings: one row per reading quarantined for review, keyed by its natural key.

The reading itself stays in ``readings`` with the quality ``held`` (so no derivation takes it);
this row says why (a code and its parameters), what its quality was, and what a person decided.
A decision is a compare-and-set on ``status``: exactly one release or reject wins.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, str_enum


class HoldStatus(enum.StrEnum):
    HELD = "held"  # waiting for a person
    RELEASED = "released"  # a person believed it: billed and counted from then on
    REJECTED = "rejected"  # a person refused it: never billed (its quality becomes invalid)


class ReadingHold(Base):
    __tablename__ = "reading_holds"
    __table_args__ = (
        UniqueConstraint("meter_pk", "quantity", "ts", name="uq_reading_holds_key"),
        Index("ix_reading_holds_status_ts", "status", "ts"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[str] = mapped_column(String(32))
    ts: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms, the reading's acquisition time
    value: Mapped[int] = mapped_column(BigInteger)
    quality: Mapped[str] = mapped_column(
        String(16)
    )  # the quality it came with, restored on release
    source: Mapped[str] = mapped_column(String(16))  # ami, field
    reason: Mapped[str] = mapped_column(String(40))  # a HoldReason code
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[HoldStatus] = mapped_column(str_enum(HoldStatus, 16), default=HoldStatus.HELD)
    held_at: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
