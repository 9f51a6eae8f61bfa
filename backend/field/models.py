"""Grids (网格) owned by inspectors, and transformer areas (台区)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.accounts.models import Customer
from backend.db import Base
from backend.metering.models import Meter
from backend.types import UTCDateTime, str_enum, utcnow


class Grid(Base):
    """A customer manager's (客户经理) territory: every customer and meter belongs to one."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    inspector_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True), index=True
    )


class TransformerArea(Base):
    """台区: the customers fed by one distribution transformer."""

    __tablename__ = "transformer_areas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)


# --- field work: tasks, reading books, readings, flags, tracks (migration 0006) ---------------


class FieldTaskKind(enum.StrEnum):
    """What brings a person to a customer, besides a reading (R14–R16, R113)."""

    METER_CHECK = "meter_check"  # a meter flagged for inspection: read it and look at it
    SAFETY_INSPECTION = "safety_inspection"  # 安全用电检查 of key accounts (R14)
    ENERGY_AUDIT = "energy_audit"  # 节能测试 / 用电评估 (R16)
    EQUIPMENT_CHECKUP = "equipment_checkup"  # 设备义诊 (R15)
    ONSITE_APPLICATION = "onsite_application"  # 现场报装 (R15)
    CUSTOMER_VISIT = "customer_visit"  # 客户经理 visit (R113)


class FieldTaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class FieldTask(Base):
    __tablename__ = "field_tasks"
    __table_args__ = (Index("ix_field_tasks_customer_status", "customer_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[FieldTaskKind] = mapped_column(str_enum(FieldTaskKind, 32))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    meter_pk: Mapped[int | None] = mapped_column(ForeignKey("meters.id"), index=True)
    status: Mapped[FieldTaskStatus] = mapped_column(
        str_enum(FieldTaskStatus, 16), default=FieldTaskStatus.OPEN
    )
    due_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str] = mapped_column(Text, default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)


class ReadingBook(Base):
    """抄表册: one inspector's meters for one cycle (local month), in walking order."""

    __tablename__ = "reading_books"
    __table_args__ = (UniqueConstraint("inspector_id", "cycle", name="uq_reading_books_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cycle: Mapped[str] = mapped_column(String(7))  # "2026-11", local calendar month
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped when membership changes
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    start_latitude: Mapped[float | None] = mapped_column(Float)
    start_longitude: Mapped[float | None] = mapped_column(Float)


class ReadingBookItem(Base):
    __tablename__ = "reading_book_items"
    __table_args__ = (
        UniqueConstraint("book_id", "meter_pk", name="uq_reading_book_items_meter"),
        UniqueConstraint("book_id", "seq", name="uq_reading_book_items_seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("reading_books.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # 1-based position on the route
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    meter_pk: Mapped[int | None] = mapped_column(ForeignKey("meters.id"))  # None: a visit only
    reasons: Mapped[str] = mapped_column(String(200))  # comma list: no_ami, meter_check, …
    task_ids: Mapped[str] = mapped_column(String(200), default="")  # comma list of field_tasks


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
    detail: Mapped[str] = mapped_column(Text)
    status: Mapped[FlagStatus] = mapped_column(str_enum(FlagStatus, 16), default=FlagStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str] = mapped_column(Text, default="")


class TrackPoint(Base):
    """One GPS fix of an inspector's walk (R5); (inspector, ts) makes uploads idempotent."""

    __tablename__ = "field_track_points"
    __table_args__ = (PrimaryKeyConstraint("inspector_id", "ts", name="pk_field_track_points"),)

    inspector_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    ts: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms, fix time
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)
    received_at: Mapped[int] = mapped_column(BigInteger)


# "which meters are near here" filters a latitude/longitude box first (backend/field/nearby.py)
Index("ix_meters_position", Meter.__table__.c.latitude, Meter.__table__.c.longitude)
Index("ix_customers_position", Customer.__table__.c.latitude, Customer.__table__.c.longitude)
