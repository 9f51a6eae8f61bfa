"""Inspectors' GPS tracks (R5), and the position indexes behind "nearby" (R3)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.accounts.models import Customer
from backend.db import Base
from backend.metering.models import Meter


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


# "which meters are near here" filters a latitude/longitude box first (tracks/nearby.py)
Index("ix_meters_position", Meter.__table__.c.latitude, Meter.__table__.c.longitude)
Index("ix_customers_position", Customer.__table__.c.latitude, Customer.__table__.c.longitude)
