"""The distribution network behind the meters: substation → feeder → transformer area (台区,
``transformer_areas`` in field/grids) → meter box → meter; each area's transformer and total
meter (台区总表); where each meter was when (history kept); outages found from the meters and
the notices they sent to exactly the customers affected."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.areas.figures import OutageCause
from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow


class Substation(Base):
    __tablename__ = "substations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Feeder(Base):
    """A 10 kV line (馈线) out of a substation, feeding several transformer areas."""

    __tablename__ = "feeders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    substation_id: Mapped[int | None] = mapped_column(ForeignKey("substations.id"), index=True)


class AreaSupply(Base):
    """An area's transformer and its total meter (台区总表). The total meter sits behind
    current (CT) and voltage (PT) transformers: its register times CT × PT is the energy in."""

    __tablename__ = "area_supplies"

    transformer_area_id: Mapped[int] = mapped_column(
        ForeignKey("transformer_areas.id", ondelete="CASCADE"), primary_key=True
    )
    feeder_id: Mapped[int | None] = mapped_column(ForeignKey("feeders.id"), index=True)
    rated_kva: Mapped[int] = mapped_column(Integer, default=0)
    total_meter_pk: Mapped[int | None] = mapped_column(ForeignKey("meters.id"), unique=True)
    ct_ratio: Mapped[int] = mapped_column(Integer, default=1)
    pt_ratio: Mapped[int] = mapped_column(Integer, default=1)


class MeterBox(Base):
    """表箱: a box of meters on a wall or pole, in one area."""

    __tablename__ = "meter_boxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    transformer_area_id: Mapped[int] = mapped_column(ForeignKey("transformer_areas.id"), index=True)


class MeterPlacement(Base):
    """A meter in an area (and box) from ``from_day`` until ``to_day`` (exclusive; open while
    None). A move closes the open span and opens the next, so the history stays."""

    __tablename__ = "meter_placements"
    __table_args__ = (
        UniqueConstraint("meter_pk", "from_day", name="uq_meter_placements_start"),
        Index("ix_meter_placements_area", "transformer_area_id", "from_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"), index=True)
    transformer_area_id: Mapped[int] = mapped_column(ForeignKey("transformer_areas.id"))
    meter_box_id: Mapped[int | None] = mapped_column(ForeignKey("meter_boxes.id"))
    from_day: Mapped[date] = mapped_column(Date)
    to_day: Mapped[date | None] = mapped_column(Date)


class FeederOutage(Base):
    """Several areas of one feeder going dark within ``FEEDER_WINDOW_MS`` of each other: one
    outage of the feeder (a 10 kV fault, a tripped breaker), however many areas it cut."""

    __tablename__ = "feeder_outages"
    __table_args__ = (Index("ix_feeder_outages_open", "feeder_id", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feeder_id: Mapped[int] = mapped_column(ForeignKey("feeders.id"))
    started_at: Mapped[int] = mapped_column(BigInteger)  # the first area's start
    ended_at: Mapped[int | None] = mapped_column(BigInteger)  # the last area's end
    areas: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # one fault order for the whole feeder: the first unplanned area's; the later areas join it
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), unique=True)


class PowerSignal(enum.StrEnum):
    """Where a meter's power failure came from (the event's ``text``)."""

    BUS_SILENT = "bus_silent"  # the agent saw every meter of the bus fall silent
    METER_RECORD = "meter_record"  # the meter's own power-down record (DL/T 645 03110000…)
    LAST_WILL = "last_will"  # its agent vanished (MQTT last will), with other evidence: suspected


class AreaOutage(Base):
    """One outage of one area, however many of its meters went dark: opened by the first
    power failure, joined by the next ones, closed when the last meter reports power back."""

    __tablename__ = "area_outages"
    __table_args__ = (Index("ix_area_outages_area_open", "transformer_area_id", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transformer_area_id: Mapped[int] = mapped_column(ForeignKey("transformer_areas.id"))
    feeder_id: Mapped[int | None] = mapped_column(ForeignKey("feeders.id"), index=True)
    cause: Mapped[OutageCause] = mapped_column(str_enum(OutageCause, 16))
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("outage_notices.id"))  # planned
    started_at: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms
    ended_at: Mapped[int | None] = mapped_column(BigInteger)
    meters: Mapped[int] = mapped_column(Integer, default=0)  # meters that went dark
    feeder_outage_id: Mapped[int | None] = mapped_column(
        ForeignKey("feeder_outages.id"), index=True
    )
    # an unplanned outage opens a fault notice (so calls from the area link to it) and a
    # service-desk work order, both closed when power is back
    fault_notice_id: Mapped[int | None] = mapped_column(ForeignKey("outage_notices.id"))
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutageMeter(Base):
    __tablename__ = "area_outage_meters"
    __table_args__ = (PrimaryKeyConstraint("outage_id", "meter_pk", name="pk_area_outage_meters"),)

    outage_id: Mapped[int] = mapped_column(ForeignKey("area_outages.id", ondelete="CASCADE"))
    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    off_at: Mapped[int] = mapped_column(BigInteger)
    on_at: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[PowerSignal] = mapped_column(
        str_enum(PowerSignal, 16), default=PowerSignal.BUS_SILENT, server_default="bus_silent"
    )


class OutageNoticeKind(enum.StrEnum):
    OFF = "off"
    ON = "on"


class OutageCustomerNotice(Base):
    """What one affected customer was told, once per outage and kind: a code with parameters
    (backend.texts), worded by the app in the reader's language."""

    __tablename__ = "area_outage_notices"
    __table_args__ = (
        UniqueConstraint("outage_id", "customer_id", "kind", name="uq_area_outage_notices_once"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("area_outages.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[OutageNoticeKind] = mapped_column(str_enum(OutageNoticeKind, 8))
    code: Mapped[str] = mapped_column(String(48))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms


class OutageCursor(Base):
    """How far the outage correlator has read ``meter_events`` (one row)."""

    __tablename__ = "area_outage_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)


class WillState(enum.StrEnum):
    PENDING = "pending"  # within the correlation window: evidence may still come
    JOINED = "joined"  # other meters of its areas or feeder went dark too: part of an outage
    LONE = "lone"  # nothing else went dark: a dead agent, not a dead feeder
    BACK = "back"  # the agent came back


class AgentWill(Base):
    """An agent's last will, as the outage correlator judged it (once per death)."""

    __tablename__ = "area_agent_wills"
    __table_args__ = (
        UniqueConstraint("agent_id", "died_at", name="uq_area_agent_wills_once"),
        Index("ix_area_agent_wills_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    died_at: Mapped[int] = mapped_column(BigInteger)  # when the broker announced it, epoch ms
    state: Mapped[WillState] = mapped_column(str_enum(WillState, 16))
    meters: Mapped[int] = mapped_column(Integer, default=0)  # its meters, now of unknown state
    back_at: Mapped[int | None] = mapped_column(BigInteger)
