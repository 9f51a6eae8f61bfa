"""采集成功率 kept per local day and (grid, transformer area), answered from the summary.

A day is counted once — of the meters in service that day and expected to report remotely,
those with a good (or backfilled) ``energy_import`` reading in the day (midnight, midnight] —
and stored in ``collection_rate_days`` with a mark. Database triggers (migration 0034) note
the UTC hour of every changed ``energy_import`` reading, and "everything" after a change to the
meters or to their customers' grid or area, in ``collection_rate_dirty``; the next query drops
the marks of the days those hours touch and counts them again. So a query reads a few summary
rows per day and group, and counts afresh only the days that changed (today, while readings
arrive). The answer is exactly what counting from the readings gives at that moment.

Consistency without locking ingestion for long: the invalidation and the store are short
transactions that exclude each other and every trigger insert (a table lock on PostgreSQL, the
write lock on SQLite); the counting in between reads without locks. A day that changed while
it was being counted (a dirty hour of it present at the store, or another invalidation in
between: the generation moved) is answered from the fresh count but not stored.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, false, func, insert, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.metering import consumption as cons
from backend.metering.consumption_rules import reading_day
from backend.metering.models import (
    MANUAL_PROTOCOL,
    CollectionRateDay,
    CollectionRateDirty,
    CollectionRateMark,
    CollectionRateState,
    Meter,
    MeterStatus,
    Reading,
)
from backend.metering.schemas import RateGrouping
from backend.types import from_epoch_ms
from protocols.contract import Quantity

HOUR_MS = 3_600_000
EVERYTHING = -1
COLLECTION_QUANTITY = Quantity.ENERGY_IMPORT
Groups = dict[tuple[int | None, int | None], list[int]]  # (grid, area) → [expected, collected]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def days_of_hour(hour: int, tz: ZoneInfo) -> set[date]:
    """The local days a reading within the UTC hour may count in."""
    first = reading_day(hour * HOUR_MS, tz)
    return set(_days(first, reading_day((hour + 1) * HOUR_MS, tz)))


async def _lock(session: AsyncSession) -> None:
    """Exclude the triggers' inserts (and other invalidations and stores) until commit."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("LOCK TABLE collection_rate_dirty IN SHARE ROW EXCLUSIVE MODE"))
    else:  # SQLite: the write lock first, so what follows reads the newest state
        s = CollectionRateState
        await session.execute(update(s).where(s.id == 1).values(generation=s.generation))


async def _generation(session: AsyncSession) -> int:
    found = await session.scalar(
        select(CollectionRateState.generation).where(CollectionRateState.id == 1)
    )
    if found is None:
        await session.execute(insert(CollectionRateState).values(id=1, generation=0))
        return 0
    return int(found)


async def invalidate(session: AsyncSession, tz: ZoneInfo) -> int:
    """Drop the summary of every day a change touched; the generation after it. Commits."""
    if await session.scalar(select(CollectionRateDirty.hour).limit(1)) is None:
        # nothing changed that this snapshot can see: no lock (a change committing later is
        # noted for the next query, and the store checks the generation under the lock)
        generation = await _generation(session)
        await session.commit()
        return generation
    await _lock(session)
    hours = list(await session.scalars(select(CollectionRateDirty.hour)))
    generation = await _generation(session)
    if hours:
        if EVERYTHING in hours:
            await session.execute(delete(CollectionRateMark))
            await session.execute(delete(CollectionRateDay))
        else:
            stale = sorted(set().union(*(days_of_hour(h, tz) for h in hours)))
            await session.execute(
                delete(CollectionRateMark).where(CollectionRateMark.day.in_(stale))
            )
            await session.execute(delete(CollectionRateDay).where(CollectionRateDay.day.in_(stale)))
        await session.execute(
            delete(CollectionRateDirty).where(CollectionRateDirty.hour.in_(hours))
        )
        generation += 1
        await session.execute(
            update(CollectionRateState)
            .where(CollectionRateState.id == 1)
            .values(generation=generation)
        )
    await session.commit()
    return generation


async def _forget(session: AsyncSession, days: list[date]) -> None:
    await session.execute(delete(CollectionRateMark).where(CollectionRateMark.day.in_(days)))
    await session.execute(delete(CollectionRateDay).where(CollectionRateDay.day.in_(days)))


async def count_days(session: AsyncSession, days: list[date], tz: ZoneInfo) -> dict[date, Groups]:
    """Count the days from the readings, every meter (the summary is not scoped)."""
    meters = (
        await session.execute(
            select(
                Meter.id, Meter.installed_on, Meter.created_at, Meter.removed_at,
                Customer.grid_id, Customer.transformer_area_id,
            )
            .outerjoin(Customer, Customer.id == Meter.customer_id)
            .where(
                Meter.protocol != MANUAL_PROTOCOL,
                Meter.status.in_([MeterStatus.ACTIVE, MeterStatus.REMOVED]),
            )
        )
    ).all()  # fmt: skip
    fleet = [
        (pk, installed or created.astimezone(tz).date(), removed, (grid, area))
        for pk, installed, created, removed, grid, area in meters
    ]
    out: dict[date, Groups] = {}
    for day in days:
        start = cons.day_start_ms(day, tz)
        end = cons.day_start_ms(day + timedelta(days=1), tz)
        opened = from_epoch_ms(start)
        in_service = [
            (pk, key) for pk, first, removed, key in fleet
            if first <= day and (removed is None or removed > opened)
        ]  # fmt: skip
        collected: set[int] = set()
        if in_service:
            collected = set(
                await session.scalars(
                    select(Reading.meter_pk).distinct().where(
                        Reading.quantity == COLLECTION_QUANTITY,
                        Reading.ts > start, Reading.ts <= end,
                        Reading.quality.in_(cons.CHAIN_QUALITIES),
                    )
                )
            )  # fmt: skip
        groups: Groups = defaultdict(lambda: [0, 0])
        for pk, key in in_service:
            groups[key][0] += 1
            groups[key][1] += pk in collected
        out[day] = dict(groups)
    return out


async def store(
    session: AsyncSession, counted: dict[date, Groups], generation: int, tz: ZoneInfo
) -> set[date]:
    """Store the counted days that did not change meanwhile; the days stored. Commits."""
    await _lock(session)
    if await _generation(session) != generation:
        await session.rollback()
        return set()
    hours = list(await session.scalars(select(CollectionRateDirty.hour)))
    if EVERYTHING in hours:
        await session.rollback()
        return set()
    changed = set().union(*(days_of_hour(h, tz) for h in hours)) if hours else set()
    days = sorted(d for d in counted if d not in changed)
    if days:
        await _forget(session, days)
        rows = [
            {"day": d, "grid_id": g, "transformer_area_id": a, "expected": e, "collected": c}
            for d in days
            for (g, a), (e, c) in counted[d].items()
        ]
        if rows:
            await session.execute(insert(CollectionRateDay), rows)
        await session.execute(insert(CollectionRateMark), [{"day": d} for d in days])
    await session.commit()
    return set(days)


async def refresh(
    session: AsyncSession, first: date, last: date, tz: ZoneInfo
) -> dict[date, Groups]:
    """Bring the summary of the days up to date; the days counted but not stored (changed
    while being counted), with their counts."""
    generation = await invalidate(session, tz)
    marked = set(
        await session.scalars(
            select(CollectionRateMark.day).where(
                CollectionRateMark.day >= first, CollectionRateMark.day <= last
            )
        )
    )
    missing = [d for d in _days(first, last) if d not in marked]
    if not missing:
        await session.commit()
        return {}
    counted = await count_days(session, missing, tz)
    await session.commit()
    stored = await store(session, counted, generation, tz)
    return {d: g for d, g in counted.items() if d not in stored}


def scope_of(caller: Caller) -> ColumnElement[bool]:
    """The summary rows a caller may see: the meters of customers in their grids."""
    if caller.unscoped:
        return true()
    if caller.grid_ids:
        return CollectionRateDay.grid_id.in_(caller.grid_ids)
    return false()


def in_scope(caller: Caller, grid: int | None) -> bool:
    return caller.unscoped or (grid is not None and grid in caller.grid_ids)


def key_of(group: RateGrouping) -> InstrumentedAttribute[int | None] | None:
    return {
        RateGrouping.OVERALL: None,
        RateGrouping.GRID: CollectionRateDay.grid_id,
        RateGrouping.TRANSFORMER_AREA: CollectionRateDay.transformer_area_id,
    }[group]


def fold(caller: Caller, groups: Groups, group: RateGrouping) -> list[tuple[int | None, int, int]]:
    """One day's counted groups as the caller's rows of ``group``: (key, expected, collected),
    in the answer's order (by key, no group last)."""
    sums: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    for (grid, area), (e, c) in groups.items():
        if in_scope(caller, grid):
            key = {RateGrouping.OVERALL: None, RateGrouping.GRID: grid}.get(group, area)
            sums[key][0] += e
            sums[key][1] += c
    if group == RateGrouping.OVERALL:
        sums.setdefault(None, [0, 0])
    ordered = sorted(sums.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    return [(k, e, c) for k, (e, c) in ordered]


async def page(
    session: AsyncSession,
    caller: Caller,
    first: date,
    last: date,
    group: RateGrouping,
    tz: ZoneInfo,
    limit: int,
    offset: int,
) -> tuple[list[tuple[date, int | None, int, int]], int]:
    """The rows (day, key, expected, collected) of the page, and how many there are in all."""
    fresh = await refresh(session, first, last, tz)
    key = key_of(group)
    per_day: dict[date, int] = {}
    if group == RateGrouping.OVERALL:
        per_day = dict.fromkeys(_days(first, last), 1)
    else:
        assert key is not None
        for day, n in await session.execute(
            select(CollectionRateDay.day, func.count(func.distinct(func.coalesce(key, -1))))
            .where(CollectionRateDay.day >= first, CollectionRateDay.day <= last, scope_of(caller))
            .group_by(CollectionRateDay.day)
        ):
            per_day[day] = int(n)
    for day, groups in fresh.items():
        per_day[day] = len(fold(caller, groups, group))
    total = sum(per_day.values())
    # the days the page spans, and where in its first day it starts
    spans: list[tuple[date, int, int]] = []  # (day, skip within it, rows wanted from it)
    skip, left = offset, limit
    for day in _days(first, last):
        n = per_day.get(day, 0)
        if skip >= n:
            skip -= n
            continue
        take = min(n - skip, left)
        spans.append((day, skip, take))
        skip, left = 0, left - take
        if left == 0:
            break
    stored = await _stored(session, caller, [d for d, _, _ in spans if d not in fresh], group)
    out: list[tuple[date, int | None, int, int]] = []
    for day, start, take in spans:
        rows = fold(caller, fresh[day], group) if day in fresh else stored.get(day, [])
        out += [(day, k, e, c) for k, e, c in rows[start : start + take]]
    return out, total


async def _stored(
    session: AsyncSession, caller: Caller, days: list[date], group: RateGrouping
) -> dict[date, list[tuple[int | None, int, int]]]:
    """The stored rows of the days (whole days: a page spans few), in the answer's order."""
    out: dict[date, list[tuple[int | None, int, int]]] = {d: [] for d in days}
    if not days:
        return out
    d = CollectionRateDay
    key = key_of(group)
    where = (d.day.in_(days), scope_of(caller))
    if key is None:
        sums = select(d.day, func.sum(d.expected), func.sum(d.collected)).where(*where)
        found = {day: (int(e), int(c)) for day, e, c in await session.execute(sums.group_by(d.day))}
        return {day: [(None, *found.get(day, (0, 0)))] for day in days}
    rows = await session.execute(
        select(d.day, key, func.sum(d.expected), func.sum(d.collected))
        .where(*where)
        .group_by(d.day, key)
        .order_by(d.day, key.is_(None), key)
    )
    for day, k, e, c in rows:
        out[day].append((k, int(e), int(c)))
    return out
