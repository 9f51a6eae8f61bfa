"""API shapes of the metering capability (responses; the inputs are query parameters)."""

from __future__ import annotations

import enum
from datetime import date, datetime

import msgspec

from backend.metering.models import MeterStatus
from protocols.contract.quantities import ENERGY_QUANTITIES, Quantity

# The cumulative registers consumption is computed for: exactly the contract's cumulative
# quantities, so a register added to the contract is queryable without touching this file.
EnergyQuantity = enum.StrEnum(  # type: ignore[misc]
    "EnergyQuantity", {q.name: q.value for q in Quantity if q in ENERGY_QUANTITIES}
)


class MeterOut(msgspec.Struct):
    id: int
    meter_id: str
    serial: str
    protocol: str
    address: str
    agent_id: str | None
    customer_id: int | None
    account_id: int | None
    status: MeterStatus
    installed_on: date | None
    expires_on: date | None
    removed_at: datetime | None
    replaces_meter_id: int | None
    latitude: float | None
    longitude: float | None
    relay_control_mode: int
    relay_state: int | None
    online: bool
    last_seen_at: datetime | None


class MeterPage(msgspec.Struct):
    items: list[MeterOut]
    total: int
    limit: int
    offset: int


class ReadingOut(msgspec.Struct):
    ts: datetime
    ts_ms: int
    quantity: str
    value: int
    quality: str
    source: str


class ReadingPage(msgspec.Struct):
    items: list[ReadingOut]
    limit: int
    next_cursor: str | None  # pass as ``cursor`` for the next page; null at the end


class IntervalOut(msgspec.Struct):
    start: datetime
    end: datetime
    start_value: int
    end_value: int
    wh: int
    rollover: bool


class DailyOut(msgspec.Struct):
    day: date  # local day
    quantity: str
    wh: int
    meters: int  # meters contributing (several after a replacement)
    intervals: int
    rollovers: int
    anomalies: int


class MonthlyOut(msgspec.Struct):
    month: str  # YYYY-MM, local
    quantity: str
    wh: int
    days: int  # days with data
    anomalies: int


class AnomalyOut(msgspec.Struct):
    id: int
    meter_pk: int
    meter_id: str
    quantity: str
    kind: str
    ts: datetime
    value: int
    previous_ts: datetime
    previous_value: int


class AnomalyPage(msgspec.Struct):
    items: list[AnomalyOut]
    total: int
    limit: int
    offset: int


class AgentOut(msgspec.Struct):
    id: str
    name: str
    version: str
    online: bool
    last_birth_at: datetime | None
    last_seen_at: datetime | None
    meters: int


class AgentPage(msgspec.Struct):
    items: list[AgentOut]
    total: int
    limit: int
    offset: int


class RateGrouping(enum.StrEnum):
    OVERALL = "overall"
    GRID = "grid"
    TRANSFORMER_AREA = "transformer_area"


class CollectionRateRow(msgspec.Struct):
    """采集成功率 of one local day and one group: collected / expected (see docs/consumption.md)."""

    day: date
    group: RateGrouping
    group_id: int | None  # null: overall, or meters whose customer has no grid / area
    group_code: str
    expected: int
    collected: int
    rate: float | None  # collected / expected, null when nothing was expected


class CollectionRatePage(msgspec.Struct):
    """(day, group) rows by day, then group (no group last)."""

    items: list[CollectionRateRow]
    total: int
    limit: int
    offset: int
