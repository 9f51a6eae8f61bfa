"""Field readings, their corrections, photos and plausibility flags."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow


class FieldPhoto(Base):
    """A photo of a register, stored once under its SHA-256 (content addressed)."""

    __tablename__ = "field_photos"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FieldReadingKind(enum.StrEnum):
    READING = "reading"
    CORRECTION = "correction"  # counts only once a supervisor approves it


class FieldReading(Base):
    """A confirmed field reading or a correction request. Insert-only: triggers on both
    databases refuse UPDATE and DELETE (R8, migration 0006)."""

    __tablename__ = "field_readings"
    __table_args__ = (
        Index("ix_field_readings_meter_ts", "meter_pk", "ts"),
        Index("ix_field_readings_inspector_fix", "inspector_id", "fix_at"),
        Index("ix_field_readings_position", "latitude", "longitude"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), unique=True)  # the device's UUID
    kind: Mapped[FieldReadingKind] = mapped_column(str_enum(FieldReadingKind, 16))
    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    inspector_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # who submitted it
    book_id: Mapped[int | None] = mapped_column(ForeignKey("reading_books.id"))
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("field_readings.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    registers: Mapped[dict[str, int]] = mapped_column(JSON)  # quantity → Wh
    photo_sha256: Mapped[str | None] = mapped_column(ForeignKey("field_photos.sha256"))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    fix_at: Mapped[int | None] = mapped_column(BigInteger)  # UTC epoch ms, GPS fix time
    device_at: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms, the device's clock
    ts: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms, the reading's time in readings
    received_at: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms, server receipt
    body_sha256: Mapped[str] = mapped_column(String(64))  # what a resend must match


class CorrectionDecision(Base):
    """A supervisor's approval or rejection of a correction; insert-only like the readings."""

    __tablename__ = "field_correction_decisions"

    correction_id: Mapped[int] = mapped_column(ForeignKey("field_readings.id"), primary_key=True)
    approved: Mapped[bool] = mapped_column(Boolean)
    decided_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


class FlagStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class FieldFlag(Base):
    """A plausibility finding on a field reading, for a supervisor; never a penalty by itself."""

    __tablename__ = "field_flags"
    __table_args__ = (
        UniqueConstraint("field_reading_id", "kind", name="uq_field_flags_key"),
        Index("ix_field_flags_status", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    field_reading_id: Mapped[int] = mapped_column(ForeignKey("field_readings.id"))
    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    inspector_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # plausibility.FlagKind
    detail: Mapped[str] = mapped_column(Text)  # English, for logs
    detail_code: Mapped[str | None] = mapped_column(String(48))  # plausibility.FlagText
    detail_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[FlagStatus] = mapped_column(str_enum(FlagStatus, 16), default=FlagStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str] = mapped_column(Text, default="")
