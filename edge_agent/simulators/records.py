"""What a simulated meter records: power failures, relay operations, daily freezes, demand."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PowerFailureRecord:
    """掉电记录, meter local time; ``end`` is None while the outage lasts."""

    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class RelayRecord:
    """跳闸/合闸记录: when (meter local time), who, and the registers at that moment."""

    at: datetime
    operator: str
    import_wh: int
    export_wh: int
    reactive_wh: tuple[int, int, int, int]  # quadrants I..IV, varh


@dataclass(frozen=True)
class DailyFreeze:
    """日冻结: the registers at the meter's midnight. Index 0 is the total, 1..4 the tariffs."""

    at: datetime
    import_wh: tuple[int, int, int, int, int]
    export_wh: tuple[int, int, int, int, int]


@dataclass(frozen=True)
class Demand:
    w: int = 0
    at: datetime | None = None


class RelayRefused(Exception):
    """The meter will not trip: keep-power (保电) is in force."""


@dataclass
class EventLog:
    power_failures: deque[PowerFailureRecord]
    trips: deque[RelayRecord]
    closes: deque[RelayRecord]
    power_failure_count: int = 0
    trip_count: int = 0
    close_count: int = 0
