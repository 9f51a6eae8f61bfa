"""窃电/故障嫌疑: a meter whose consumption fell while its area's line loss rose, and the
inspection task it sent out. A suspicion is never edited; whether it is still open is its
task's status (the inspector's result closes it)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.field.books.models import FieldTask, FieldTaskKind, FieldTaskStatus
from backend.types import UTCDateTime, utcnow

__all__ = ["FieldTask", "FieldTaskKind", "FieldTaskStatus", "TheftSuspicion"]


class TheftSuspicion(Base):
    __tablename__ = "theft_suspicions"
    # one a meter and day: a second detection of the same day finds it
    __table_args__ = (UniqueConstraint("meter_pk", "day", name="uq_theft_suspicions_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id"), index=True)
    transformer_area_id: Mapped[int] = mapped_column(ForeignKey("transformer_areas.id"))
    day: Mapped[date] = mapped_column(Date)  # the last day of the recent window
    baseline_wh_per_day: Mapped[int] = mapped_column(Integer)
    recent_wh_per_day: Mapped[int] = mapped_column(Integer)
    loss_rate_before: Mapped[float] = mapped_column(Float)
    loss_rate_after: Mapped[float] = mapped_column(Float)
    task_id: Mapped[int] = mapped_column(ForeignKey("field_tasks.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
