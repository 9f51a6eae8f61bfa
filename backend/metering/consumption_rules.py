"""Consumption's own pure rules: intervals (``backend.metering.intervals``, shared with
billing) bucketed into local days (no database, no clock).

See ``backend.metering.consumption`` for how they are applied, and docs/consumption.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import NamedTuple
from zoneinfo import ZoneInfo

from backend.metering.intervals import (
    ROLLOVER_MARGIN,
    ROLLOVER_MODULI,
    Anomaly,
    Interval,
    Point,
    Walk,
    chain,
    rollover_modulus,
)

__all__ = [
    "ROLLOVER_MARGIN", "ROLLOVER_MODULI", "Anomaly", "DayRow", "Interval", "Point", "Walk",
    "chain", "day_start_ms", "days_of", "reading_day", "rollover_modulus",
]  # fmt: skip


def reading_day(ts_ms: int, tz: ZoneInfo) -> date:
    """The local day a reading (or an interval ending at it) belongs to: (midnight, midnight]."""
    return datetime.fromtimestamp((ts_ms - 1) // 1000, tz).date()


def day_start_ms(day: date, tz: ZoneInfo) -> int:
    """Epoch ms of local midnight opening ``day``; day ``d`` holds readings in (start, next]."""
    return int(datetime.combine(day, time(0), tz).timestamp()) * 1000


class DayRow(NamedTuple):
    day: date
    wh: int
    first: Point
    last: Point  # baseline at the end of the day
    intervals: int
    rollovers: int
    anomalies: int
    through: int  # the last reading (accepted or refused) the day has seen


def days_of(
    first: Point | None,
    intervals: Sequence[Interval],
    anomalies: Sequence[Anomaly],
    tz: ZoneInfo,
) -> list[DayRow]:
    """Bucket a chain walk into local days. A day with readings but no interval (the chain's
    first day, or a day of refused readings only) still gets a row, carrying the baseline."""
    events: list[tuple[int, Interval | Anomaly | Point]] = [(i.end.ts, i) for i in intervals]
    events += [(a.reading.ts, a) for a in anomalies]
    if first is not None:
        events.append((first.ts, first))
    rows: dict[date, DayRow] = {}
    for ts, ev in sorted(events, key=lambda e: e[0]):
        d = reading_day(ts, tz)
        row = rows.get(d)
        if isinstance(ev, Interval):
            row = row or DayRow(d, 0, ev.start, ev.end, 0, 0, 0, ts)
            row = row._replace(
                wh=row.wh + ev.wh,
                last=ev.end,
                intervals=row.intervals + 1,
                rollovers=row.rollovers + int(ev.rollover),
            )
        elif isinstance(ev, Anomaly):
            row = row or DayRow(d, 0, ev.baseline, ev.baseline, 0, 0, 0, ts)
            row = row._replace(anomalies=row.anomalies + 1, last=ev.baseline)
        else:
            row = row or DayRow(d, 0, ev, ev, 0, 0, 0, ts)
        rows[d] = row._replace(through=ts)
    return [rows[d] for d in sorted(rows)]
