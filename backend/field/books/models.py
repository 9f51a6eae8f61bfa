"""Reading books (抄表册) and field tasks."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
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
    # change rows folded away by compaction (``service.compact_changes``): the ETag counts
    # them with the rows left, so compacting changes no book's ETag
    changes_folded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ReadingBookItem(Base):
    __tablename__ = "reading_book_items"
    __table_args__ = (
        UniqueConstraint("book_id", "meter_pk", name="uq_reading_book_items_meter"),
        UniqueConstraint("book_id", "seq", name="uq_reading_book_items_seq"),
        # the change triggers find the books a meter or a customer is in (migration 0034)
        Index("ix_reading_book_items_meter_pk", "meter_pk"),
        Index("ix_reading_book_items_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("reading_books.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # 1-based position on the route
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    meter_pk: Mapped[int | None] = mapped_column(ForeignKey("meters.id"))  # None: a visit only
    reasons: Mapped[str] = mapped_column(String(200))  # comma list: no_ami, meter_check, …
    task_ids: Mapped[str] = mapped_column(String(200), default="")  # comma list of field_tasks


class ReadingBookChange(Base):
    """One change to what a book shows: a reading or a field reading of one of its meters, or
    an edit of one of its customers, meters or tasks. Written only by database triggers
    (migration 0034), insert-only so that no writer ever waits on a book row; the book's ETag
    is its version with the count and the newest id of these rows — one indexed read."""

    __tablename__ = "reading_book_changes"
    __table_args__ = (Index("ix_reading_book_changes_book_id_id", "book_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("reading_books.id", ondelete="CASCADE"))
