"""Consumption's own pure rules: intervals (``backend.metering.intervals``, shared with
billing) bucketed into local days (no database, no clock).

See ``backend.metering.consumption`` for how they are applied, and docs/consumption.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple
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
from backend.types import midnight_ms

__all__ = [
    "ROLLOVER_MARGIN", "ROLLOVER_MODULI", "Anomaly", "DayRow", "Interval", "Point", "Walk",
    "chain", "day_start_ms", "days_of", "reading_day", "rollover_modulus",
]  # fmt: skip


# per zone, the last ordinary (24-hour) day found: its (start, end] in epoch ms and the day —
# a chain's readings come in time order, so most fall in the day found before them
_last_day: dict[ZoneInfo, tuple[int, int, date]] = {}


DAY_MS = 86_400_000


def reading_day(ts_ms: int, tz: ZoneInfo) -> date:
    """The local day a reading (or an interval ending at it) belongs to: (midnight, midnight]."""
    hit = _last_day.get(tz)
    if hit is not None and hit[0] < ts_ms <= hit[1]:
        return hit[2]
    day = datetime.fromtimestamp((ts_ms - 1) // 1000, tz).date()
    start, end = day_start_ms(day, tz), day_start_ms(day + timedelta(days=1), tz)
    if end - start == DAY_MS and start < ts_ms <= end:  # not a day of a clock change
        _last_day[tz] = (start, end, day)
    return day


# epoch ms of local midnight opening ``day``; day ``d`` holds readings in (start, next]
day_start_ms = midnight_ms


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
    # each day's DayRow fields, accumulated in place (a chain's walk has ~96 events a day)
    rows: dict[date, list[Any]] = {}
    for ts, ev in sorted(events, key=itemgetter(0)):
        d = reading_day(ts, tz)
        row = rows.get(d)
        if isinstance(ev, Interval):
            if row is None:
                row = rows[d] = [d, 0, ev.start, ev.end, 0, 0, 0, ts]
            row[1] += ev.wh
            row[3] = ev.end
            row[4] += 1
            row[5] += int(ev.rollover)
        elif isinstance(ev, Anomaly):
            if row is None:
                row = rows[d] = [d, 0, ev.baseline, ev.baseline, 0, 0, 0, ts]
            row[6] += 1
            row[3] = ev.baseline
        elif row is None:
            row = rows[d] = [d, 0, ev, ev, 0, 0, 0, ts]
        row[7] = ts
    return [DayRow(*rows[d]) for d in sorted(rows)]
