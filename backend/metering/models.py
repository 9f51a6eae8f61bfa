"""Agents, meters, readings and meter events.

``readings.ts`` is UTC epoch milliseconds (BIGINT), exactly as on the wire: it is the hottest
table, and an integer key is smaller and faster to index than a timestamp on both databases.
On PostgreSQL the table is partitioned by month on ``ts`` (migration 0002).
"""

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
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow
from protocols.contract import Quality


class ReadingSource(enum.StrEnum):
    AMI = "ami"  # from an agent (用电信息采集)
    FIELD = "field"  # an inspector's confirmed reading
    BACKFILL = "backfill"  # read later from the meter's frozen values


class MeterStatus(enum.StrEnum):
    PENDING = "pending"  # seen on the wire before anyone registered it
    ACTIVE = "active"
    REMOVED = "removed"  # replaced or dismantled: its chain of readings ends


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    version: Mapped[str] = mapped_column(String(64), default="")
    online: Mapped[bool] = mapped_column(default=False)
    last_birth_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when its last will arrived while it was online (it vanished); kept after a new birth
    died_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # highest sequence number accepted per channel, for gap detection
    last_reading_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_event_seq: Mapped[int | None] = mapped_column(BigInteger)


# a meter read only by inspectors (no AMI): never expected to report remotely, so it counts
# neither in the collection rate nor among offline meters
MANUAL_PROTOCOL = "manual"


class Meter(Base):
    __tablename__ = "meters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[str] = mapped_column(String(64), unique=True)  # the contract's meter id
    serial: Mapped[str] = mapped_column(String(64), default="")  # 表号 / asset number
    protocol: Mapped[str] = mapped_column(String(16), default="")  # dlt645, modbus, manual
    address: Mapped[str] = mapped_column(String(64), default="")
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))  # indexed below
    status: Mapped[MeterStatus] = mapped_column(
        str_enum(MeterStatus, 16), default=MeterStatus.ACTIVE
    )
    installed_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)  # 轮换 / verification due (R19)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaces_meter_id: Mapped[int | None] = mapped_column(ForeignKey("meters.id"))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # DLMS IC70 control mode 0..6: which remote / manual / local transitions are allowed
    relay_control_mode: Mapped[int] = mapped_column(SmallInteger, default=2)
    relay_state: Mapped[int | None] = mapped_column(SmallInteger)  # RelayState, last known
    # what the meter can pass, for plausibility (a jump beyond it is held: quarantine)
    rated_current_a: Mapped[int] = mapped_column(SmallInteger, default=60, server_default="60")
    voltage_v: Mapped[int] = mapped_column(SmallInteger, default=220, server_default="220")
    phases: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    online: Mapped[bool] = mapped_column(default=False)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# offline meters: active and not online, longest silent first (0019)
# the offline list (online, status, remote or manual; longest silent first) from the index alone
Index("ix_meters_offline", Meter.online, Meter.status, Meter.protocol, Meter.last_seen_at)
# an account's supply (the disconnect queue's "supply on" test) read from the index alone
Index("ix_meters_account_supply", Meter.account_id, Meter.status, Meter.relay_state)


class Reading(Base):
    __tablename__ = "readings"
    __table_args__ = (
        PrimaryKeyConstraint("meter_pk", "quantity", "ts", name="pk_readings"),
        Index("ix_readings_ts", "ts"),
    )

    meter_pk: Mapped[int] = mapped_column(Integer)  # meters.id (no FK: partitioned hot table)
    quantity: Mapped[str] = mapped_column(String(32))
    ts: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms, acquisition time
    value: Mapped[int] = mapped_column(BigInteger)  # integer in the quantity's unit
    quality: Mapped[str] = mapped_column(String(16), default=Quality.GOOD)
    source: Mapped[str] = mapped_column(String(16), default=ReadingSource.AMI.value)
    received_at: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms, server receipt


class MeterEvent(Base):
    __tablename__ = "meter_events"
    __table_args__ = (
        UniqueConstraint("meter_pk", "ts", "kind", name="uq_meter_events_key"),
        # ingestion asks "is there a newer relay/online/offline event of this meter?" (0003)
        Index("ix_meter_events_meter_kind_ts", "meter_pk", "kind", "ts"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id"), index=True)
    ts: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[int] = mapped_column(BigInteger)


class IngestGap(Base):
    """Sequence numbers an agent skipped: messages that never arrived (or not yet)."""

    __tablename__ = "ingest_gaps"
    # a late message looks up the open gaps of its agent and channel around its seq (0003)
    __table_args__ = (Index("ix_ingest_gaps_agent_channel", "agent_id", "channel", "last_missing"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    first_missing: Mapped[int] = mapped_column(BigInteger)
    last_missing: Mapped[int] = mapped_column(BigInteger)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsumptionDaily(Base):
    """Energy per meter, register (quantity) and local day, materialised from the readings.

    An interval between two consecutive accepted readings belongs to the local day in which it
    ends; a reading at exactly local midnight closes the day before (like a 日冻结 value).
    ``last_ts``/``last_value`` are the chain's baseline at the end of the day: the next day's
    first interval starts there. See docs/consumption.md.
    """

    __tablename__ = "consumption_daily"
    __table_args__ = (
        PrimaryKeyConstraint("meter_pk", "quantity", "day", name="pk_consumption_daily"),
        Index("ix_consumption_daily_day", "day"),
    )

    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"))
    quantity: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)  # local day (settings.timezone)
    wh: Mapped[int] = mapped_column(BigInteger)  # unit of the register: Wh (varh for reactive)
    first_ts: Mapped[int] = mapped_column(BigInteger)  # start of the day's first interval
    last_ts: Mapped[int] = mapped_column(BigInteger)  # baseline reading at the end of the day
    first_value: Mapped[int] = mapped_column(BigInteger)
    last_value: Mapped[int] = mapped_column(BigInteger)
    # the newest reading (accepted or refused) seen by the end of the day: a batch entirely
    # after it is a pure append, computed from this row without re-reading the day
    through_ts: Mapped[int] = mapped_column(BigInteger)
    intervals: Mapped[int] = mapped_column(Integer)
    rollovers: Mapped[int] = mapped_column(Integer, default=0)
    anomalies: Mapped[int] = mapped_column(Integer, default=0)  # readings refused as going back
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsumptionAnomaly(Base):
    """A cumulative register that went backwards (not a rollover): never charged, kept to see."""

    __tablename__ = "consumption_anomalies"
    __table_args__ = (
        UniqueConstraint("meter_pk", "quantity", "ts", name="uq_consumption_anomalies_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))  # "negative_delta"
    ts: Mapped[int] = mapped_column(BigInteger, index=True)  # the refused reading
    value: Mapped[int] = mapped_column(BigInteger)
    previous_ts: Mapped[int] = mapped_column(BigInteger)  # the baseline it fell below
    previous_value: Mapped[int] = mapped_column(BigInteger)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CollectionRateDay(Base):
    """采集成功率 summary: one local day and one (grid, transformer area) of the customers the
    meters belong to, the meters expected to report and those that did. Written by
    ``backend.metering.collection`` for a day once, and again only after a change to it."""

    __tablename__ = "collection_rate_days"
    __table_args__ = (Index("ix_collection_rate_days_day_grid", "day", "grid_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    grid_id: Mapped[int | None] = mapped_column(Integer)  # null: no customer or no grid
    transformer_area_id: Mapped[int | None] = mapped_column(Integer)
    expected: Mapped[int] = mapped_column(Integer)
    collected: Mapped[int] = mapped_column(Integer)


class CollectionRateMark(Base):
    """A local day whose summary rows are stored and up to date."""

    __tablename__ = "collection_rate_marks"

    day: Mapped[date] = mapped_column(Date, primary_key=True)


class CollectionRateDirty(Base):
    """UTC hours (epoch ms // 3,600,000) with a changed ``energy_import`` reading since the last
    summary, or -1 after a change to meters or their customers' grid or area: filled by
    database triggers (migration 0034), emptied by the summary."""

    __tablename__ = "collection_rate_dirty"

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class CollectionRateState(Base):
    """One row: a generation counted up by every invalidation, so a summary computed across one
    is not stored."""

    __tablename__ = "collection_rate_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
