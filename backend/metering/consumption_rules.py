"""The pure rules of consumption from cumulative registers (no database, no clock).

See ``backend.metering.consumption`` for how they are applied, and docs/consumption.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import NamedTuple
from zoneinfo import ZoneInfo

# wrap points of energy registers, in the register's integer unit (Wh)
ROLLOVER_MODULI: tuple[int, ...] = (10**9, 2**32, 10**10)
ROLLOVER_MARGIN = 0.1  # previous value in the top 10 %, new value in the bottom 10 %


class Point(NamedTuple):
    ts: int
    value: int


class Interval(NamedTuple):
    start: Point
    end: Point
    wh: int
    rollover: bool


class Anomaly(NamedTuple):
    reading: Point
    baseline: Point
    kind: str = "negative_delta"


def rollover_modulus(previous: int, new: int) -> int | None:
    for m in ROLLOVER_MODULI:
        if (1 - ROLLOVER_MARGIN) * m <= previous < m and 0 <= new < ROLLOVER_MARGIN * m:
            return m
    return None


def chain(
    base: Point | None, points: Iterable[Point]
) -> tuple[list[Interval], list[Anomaly], Point | None]:
    """Walk readings in time order from ``base`` (the last accepted reading before them).

    Returns the intervals, the refused readings, and — when there was no base — the chain's
    first reading (accepted, but the start of no interval's energy)."""
    intervals: list[Interval] = []
    anomalies: list[Anomaly] = []
    first: Point | None = None
    prev = base
    for p in sorted(points):
        if prev is None:
            prev = first = p
            continue
        if p.ts <= prev.ts:  # the base itself, or a duplicate timestamp
            continue
        delta = p.value - prev.value
        if delta >= 0:
            intervals.append(Interval(prev, p, delta, False))
            prev = p
            continue
        modulus = rollover_modulus(prev.value, p.value)
        if modulus is not None:
            intervals.append(Interval(prev, p, modulus - prev.value + p.value, True))
            prev = p
        else:
            anomalies.append(Anomaly(p, prev))
    return intervals, anomalies, first


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
