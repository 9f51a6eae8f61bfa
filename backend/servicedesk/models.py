"""Repair crews' jobs (R50–R51) and outage notices (停电通知)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow


class RepairJob(Base):
    """What a crew reports from the PDA on arriving at a job: who, what, since when, until when
    and where. The service centre sees it at once, so nobody has to phone 95598."""

    __tablename__ = "repair_jobs"
    __table_args__ = (Index("ix_repair_jobs_active", "finished_at", "expected_finish_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), unique=True)  # the PDA's UUID
    reported_by: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    workers: Mapped[list[str]] = mapped_column(JSON)
    content: Mapped[str] = mapped_column(Text)
    area: Mapped[str] = mapped_column(String(200))
    transformer_area_id: Mapped[int | None] = mapped_column(ForeignKey("transformer_areas.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expected_finish_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finish_note: Mapped[str] = mapped_column(Text, default="")
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)
    fix_at: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms
    body_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OutageKind(enum.StrEnum):
    PLANNED = "planned"  # 计划停电
    UNPLANNED = "unplanned"  # 故障停电


class OutageNotice(Base):
    __tablename__ = "outage_notices"
    __table_args__ = (Index("ix_outage_notices_window", "expected_end_at", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[OutageKind] = mapped_column(str_enum(OutageKind, 16))
    area: Mapped[str] = mapped_column(String(200))
    transformer_area_id: Mapped[int | None] = mapped_column(
        ForeignKey("transformer_areas.id"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expected_end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # power restored
    cancelled: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(Text)
    repair_job_id: Mapped[int | None] = mapped_column(ForeignKey("repair_jobs.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the system
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
