"""Consumption from cumulative energy registers: intervals, materialised days, anomalies.

The ingestion hook
------------------
Ingestion calls, after each committed batch::

    await on_readings_committed(engine_or_session_factory_or_session, affected, timezone=tz)

where ``affected`` is an iterable of ``(meter_pk, quantity, min_ts, max_ts)`` (epoch ms) for the
readings just committed. Non-cumulative quantities are ignored. Each chain (meter, quantity) is
recomputed in its own transaction, from the local day of ``min_ts`` forwards until the result
agrees with what was stored before (a late reading can change later days: see docs). The call is
idempotent: a duplicate or replayed batch recomputes the same rows.

The rules (pure functions, below)
---------------------------------
* A *chain* is one meter's readings of one register, in time order, of quality good or
  backfilled. Chains never cross meters: a replacement meter starts its own.
* Each pair of consecutive accepted readings is an *interval*; its energy is the difference.
* A drop is a *rollover* when the previous value is within the top 10 % of a known register
  modulus and the new one within the bottom 10 % (DL/T 645 ``999999.99 kWh`` wraps at 10^9 Wh,
  a 32-bit Wh counter at 2^32): the energy is ``modulus - previous + new``.
* Any other drop is an *anomaly*: the reading is refused (stored in consumption_anomalies, never
  charged) and the chain continues from the last accepted reading, so a glitch is not counted
  twice. A meter that was really reset must be registered as a new meter.
* An interval belongs to the local day (``timezone``) in which it ends; a reading at exactly local
  midnight closes the previous day, like a meter's daily frozen value (日冻结).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.metering.models import ConsumptionAnomaly, ConsumptionDaily, Reading
from backend.types import utcnow
from protocols.contract.quantities import ENERGY_QUANTITIES

log = logging.getLogger("meterline.consumption")

CUMULATIVE: frozenset[str] = frozenset(q.value for q in ENERGY_QUANTITIES)
CHAIN_QUALITIES = ("good", "backfilled")
# wrap points of energy registers, in the register's integer unit (Wh)
ROLLOVER_MODULI: tuple[int, ...] = (10**9, 2**32, 10**10)
ROLLOVER_MARGIN = 0.1  # previous value in the top 10 %, new value in the bottom 10 %
DAY_MS = 86_400_000


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


# --- pure -------------------------------------------------------------------------------------


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
            row = row or DayRow(d, 0, ev.start, ev.end, 0, 0, 0)
            row = row._replace(
                wh=row.wh + ev.wh,
                last=ev.end,
                intervals=row.intervals + 1,
                rollovers=row.rollovers + int(ev.rollover),
            )
        elif isinstance(ev, Anomaly):
            row = row or DayRow(d, 0, ev.baseline, ev.baseline, 0, 0, 0)
            row = row._replace(anomalies=row.anomalies + 1, last=ev.baseline)
        else:
            row = row or DayRow(d, 0, ev, ev, 0, 0, 0)
        rows[d] = row
    return [rows[d] for d in sorted(rows)]


# --- database ---------------------------------------------------------------------------------


class Affected(NamedTuple):
    meter_pk: int
    quantity: str
    min_ts: int
    max_ts: int


async def _base_before(
    session: AsyncSession, meter_pk: int, quantity: str, day: date
) -> Point | None:
    row = (
        await session.execute(
            select(ConsumptionDaily.last_ts, ConsumptionDaily.last_value)
            .where(
                ConsumptionDaily.meter_pk == meter_pk,
                ConsumptionDaily.quantity == quantity,
                ConsumptionDaily.day < day,
            )
            .order_by(ConsumptionDaily.day.desc())
            .limit(1)
        )
    ).first()
    return Point(row[0], row[1]) if row else None


async def load_points(
    session: AsyncSession, meter_pk: int, quantity: str, after_ts: int, until_ts: int | None
) -> list[Point]:
    q = select(Reading.ts, Reading.value).where(
        Reading.meter_pk == meter_pk,
        Reading.quantity == quantity,
        Reading.ts > after_ts,
        Reading.quality.in_(CHAIN_QUALITIES),
    )
    if until_ts is not None:
        q = q.where(Reading.ts <= until_ts)
    return [Point(ts, v) for ts, v in (await session.execute(q.order_by(Reading.ts))).all()]


async def _first_ts(
    session: AsyncSession, meter_pk: int, quantity: str, *, after: int = -1
) -> int | None:
    return await session.scalar(
        select(func.min(Reading.ts)).where(
            Reading.meter_pk == meter_pk,
            Reading.quantity == quantity,
            Reading.ts > after,
            Reading.quality.in_(CHAIN_QUALITIES),
        )
    )


async def _lock_chain(session: AsyncSession, meter_pk: int, quantity: str) -> None:
    """Serialise recomputations of one chain across processes (SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:a, hashtext(:q))"), {"a": meter_pk, "q": quantity}
        )


async def recompute_chain(
    session: AsyncSession, meter_pk: int, quantity: str, min_ts: int, max_ts: int, tz: ZoneInfo
) -> int:
    """Recompute the days touched by readings in [min_ts, max_ts]; return the days rewritten.
    Runs in the caller's transaction (the caller commits)."""
    await _lock_chain(session, meter_pk, quantity)
    first_day = reading_day(min_ts, tz)
    base = await _base_before(session, meter_pk, quantity, first_day)
    if base is None:  # nothing materialised before: start from the chain's first reading
        earliest = await _first_ts(session, meter_pk, quantity)
        if earliest is None:
            return 0
        first_day = min(first_day, reading_day(earliest, tz))
    nxt = await _first_ts(session, meter_pk, quantity, after=max_ts)
    last_day = reading_day(max(max_ts, nxt or max_ts), tz)
    rewritten = 0
    while True:
        start, end = day_start_ms(first_day, tz), day_start_ms(last_day + timedelta(days=1), tz)
        points = await load_points(session, meter_pk, quantity, start, end)
        intervals, anomalies, first = chain(base, points)
        rows = days_of(first, intervals, anomalies, tz)
        key = and_(ConsumptionDaily.meter_pk == meter_pk, ConsumptionDaily.quantity == quantity)
        old_end = (
            await session.execute(
                select(ConsumptionDaily.last_ts, ConsumptionDaily.last_value)
                .where(key, ConsumptionDaily.day <= last_day)
                .order_by(ConsumptionDaily.day.desc())
                .limit(1)
            )
        ).first()
        await session.execute(
            delete(ConsumptionDaily).where(key, ConsumptionDaily.day.between(first_day, last_day))
        )
        await session.execute(
            delete(ConsumptionAnomaly).where(
                ConsumptionAnomaly.meter_pk == meter_pk,
                ConsumptionAnomaly.quantity == quantity,
                ConsumptionAnomaly.ts > start,
                ConsumptionAnomaly.ts <= end,
            )
        )
        now = utcnow()
        if rows:
            await session.execute(
                insert(ConsumptionDaily),
                [
                    {
                        "meter_pk": meter_pk, "quantity": quantity, "day": r.day, "wh": r.wh,
                        "first_ts": r.first.ts, "last_ts": r.last.ts,
                        "first_value": r.first.value, "last_value": r.last.value,
                        "intervals": r.intervals, "rollovers": r.rollovers,
                        "anomalies": r.anomalies, "computed_at": now,
                    }
                    for r in rows
                ],
            )  # fmt: skip
        if anomalies:
            await session.execute(
                insert(ConsumptionAnomaly),
                [
                    {
                        "meter_pk": meter_pk, "quantity": quantity, "kind": a.kind,
                        "ts": a.reading.ts, "value": a.reading.value,
                        "previous_ts": a.baseline.ts, "previous_value": a.baseline.value,
                        "detected_at": now,
                    }
                    for a in anomalies
                ],
            )  # fmt: skip
        rewritten += len(rows)
        new_end = rows[-1].last if rows else base
        if old_end is not None and new_end is not None and tuple(old_end) == tuple(new_end):
            return rewritten  # later days start from the same baseline: they stand
        later = await _first_ts(session, meter_pk, quantity, after=end)
        if later is None:
            return rewritten
        # the baseline changed: carry on with the following days until it agrees again
        base, first_day = new_end, last_day + timedelta(days=1)
        last_day = max(first_day, reading_day(later, tz))


SessionSource = AsyncEngine | async_sessionmaker[AsyncSession] | AsyncSession


async def on_readings_committed(
    target: SessionSource,
    affected: Iterable[tuple[int, str, int, int]],
    *,
    timezone: str = "Asia/Shanghai",
) -> int:
    """Ingestion's hook (see the module doc). Returns the number of day rows rewritten.

    With an engine or a session factory, each chain gets its own transaction and a failure is
    logged without stopping the others (the readings are safe; a later batch or ``rebuild``
    repairs the days). With a session, everything runs in it and it is committed at the end.
    """
    tz = ZoneInfo(timezone)
    merged: dict[tuple[int, str], tuple[int, int]] = {}
    for meter_pk, quantity, lo, hi in affected:
        if quantity not in CUMULATIVE:
            continue
        old = merged.get((meter_pk, quantity))
        merged[(meter_pk, quantity)] = (min(lo, old[0]), max(hi, old[1])) if old else (lo, hi)
    if isinstance(target, AsyncSession):
        total = 0
        for (m, q), (lo, hi) in sorted(merged.items()):
            total += await recompute_chain(target, m, q, lo, hi, tz)
        await target.commit()
        return total
    factory = (
        async_sessionmaker(target, expire_on_commit=False)
        if isinstance(target, AsyncEngine)
        else target
    )
    total = 0
    for (m, q), (lo, hi) in sorted(merged.items()):
        try:
            async with factory() as session, session.begin():
                total += await recompute_chain(session, m, q, lo, hi, tz)
        except Exception:
            log.exception("consumption of meter %s %s not recomputed", m, q)
    return total


async def rebuild(
    target: AsyncEngine | async_sessionmaker[AsyncSession],
    meter_pks: Iterable[int],
    *,
    timezone: str = "Asia/Shanghai",
) -> int:
    """Recompute every chain of these meters from their first reading (after a backfill)."""
    factory = (
        async_sessionmaker(target, expire_on_commit=False)
        if isinstance(target, AsyncEngine)
        else target
    )
    async with factory() as session:
        rows = await session.execute(
            select(Reading.meter_pk, Reading.quantity, func.min(Reading.ts), func.max(Reading.ts))
            .where(Reading.meter_pk.in_(list(meter_pks)), Reading.quantity.in_(CUMULATIVE))
            .group_by(Reading.meter_pk, Reading.quantity)
        )
        affected = [(m, q, lo, hi) for m, q, lo, hi in rows.all()]
    return await on_readings_committed(factory, affected, timezone=timezone)
