"""Meters, readings, consumption and collection rate, scoped to the caller. No HTTP here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.scope import meter_scope
from backend.errors import ErrorCode as E
from backend.errors import Invalid, NotFound
from backend.field.grids.models import Grid, TransformerArea
from backend.metering import collection
from backend.metering import consumption as cons
from backend.metering.models import (
    MANUAL_PROTOCOL,
    Agent,
    ConsumptionAnomaly,
    ConsumptionDaily,
    Meter,
    MeterStatus,
    Reading,
)
from backend.metering.schemas import (
    AgentOut,
    AnomalyOut,
    CollectionRateRow,
    DailyOut,
    IntervalOut,
    MeterOut,
    MonthlyOut,
    RateGrouping,
    ReadingOut,
)
from backend.paging import fetch_page
from backend.types import from_epoch_ms

MAX_DAYS = 400
MAX_INTERVAL_DAYS = 31  # longest day range of a consumption or rate query


def meter_out(m: Meter) -> MeterOut:
    return MeterOut(
        id=m.id, meter_id=m.meter_id, serial=m.serial, protocol=m.protocol, address=m.address,
        agent_id=m.agent_id, customer_id=m.customer_id, account_id=m.account_id,
        status=MeterStatus(m.status), installed_on=m.installed_on, expires_on=m.expires_on,
        removed_at=m.removed_at, replaces_meter_id=m.replaces_meter_id, latitude=m.latitude,
        longitude=m.longitude, relay_control_mode=m.relay_control_mode,
        relay_state=m.relay_state, online=m.online, last_seen_at=m.last_seen_at,
    )  # fmt: skip


def scoped_meters(caller: Caller) -> Select[Meter]:
    return select(Meter).where(meter_scope(caller))


async def list_meters(
    session: AsyncSession,
    caller: Caller,
    *,
    limit: int,
    offset: int,
    filters: Sequence[ColumnElement[bool]] = (),
    grid_id: int | None = None,
    transformer_area_id: int | None = None,
    order: Sequence[Any] = (Meter.id,),
) -> tuple[list[MeterOut], int]:
    stmt = scoped_meters(caller).where(*filters)
    if grid_id is not None or transformer_area_id is not None:
        owners = select(Customer.id)
        if grid_id is not None:
            owners = owners.where(Customer.grid_id == grid_id)
        if transformer_area_id is not None:
            owners = owners.where(Customer.transformer_area_id == transformer_area_id)
        stmt = stmt.where(Meter.customer_id.in_(owners.scalar_subquery()))
    rows, total = await fetch_page(session, stmt.order_by(*order), limit, offset)
    return [meter_out(r[0]) for r in rows], total


async def get_meter(session: AsyncSession, caller: Caller, meter_pk: int) -> Meter:
    meter = await session.scalar(scoped_meters(caller).where(Meter.id == meter_pk))
    if meter is None:
        raise NotFound(E.METER_NOT_FOUND, f"meter {meter_pk} not found", meter=meter_pk)
    return meter


CURSOR = r"^[0-9]{1,15}~[a-z0-9_]{1,32}$"


async def list_readings(
    session: AsyncSession,
    caller: Caller,
    meter_pk: int,
    *,
    quantity: str | None,
    from_ms: int | None,
    to_ms: int | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[ReadingOut], str | None]:
    """Newest first, then by quantity. ``cursor`` is ``"{ts_ms}~{quantity}"`` of the last
    reading of the previous page (keyset paging: no offset scan, nothing skipped or repeated
    while new readings arrive); with a quantity filter each page is an index range scan."""
    await get_meter(session, caller, meter_pk)
    stmt = select(Reading).where(Reading.meter_pk == meter_pk)
    if quantity is not None:
        stmt = stmt.where(Reading.quantity == quantity)
    if from_ms is not None:
        stmt = stmt.where(Reading.ts >= from_ms)
    if to_ms is not None:
        stmt = stmt.where(Reading.ts < to_ms)
    if cursor is not None:
        ts_text, _, after_quantity = cursor.partition("~")
        ts = int(ts_text)
        stmt = stmt.where(
            or_(Reading.ts < ts, and_(Reading.ts == ts, Reading.quantity > after_quantity))
        )
    rows = list(
        await session.scalars(stmt.order_by(Reading.ts.desc(), Reading.quantity).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = f"{rows[-1].ts}~{rows[-1].quantity}" if more and rows else None
    items = [
        ReadingOut(from_epoch_ms(r.ts), r.ts, r.quantity, r.value, r.quality, r.source)
        for r in rows
    ]
    return items, next_cursor


async def intervals(
    session: AsyncSession, caller: Caller, meter_pk: int, quantity: str, from_ms: int, to_ms: int
) -> list[IntervalOut]:
    """Energy of each pair of consecutive accepted readings ending in [from, to)."""
    if to_ms <= from_ms:
        raise Invalid(E.END_BEFORE_START, "must be after from", field="to", start="from")
    if to_ms - from_ms > MAX_INTERVAL_DAYS * cons.DAY_MS:
        raise Invalid(
            E.RANGE_TOO_LONG,
            f"at most {MAX_INTERVAL_DAYS} days of intervals per query",
            field="to",
            days=MAX_INTERVAL_DAYS,
        )
    await get_meter(session, caller, meter_pk)
    base_row = (
        await session.execute(
            select(Reading.ts, Reading.value)
            .where(
                Reading.meter_pk == meter_pk,
                Reading.quantity == quantity,
                Reading.ts < from_ms,
                Reading.quality.in_(cons.CHAIN_QUALITIES),
            )
            .order_by(Reading.ts.desc())
            .limit(1)
        )
    ).first()
    base = cons.Point(base_row[0], base_row[1]) if base_row else None
    points = await cons.load_points(session, meter_pk, quantity, from_ms - 1, to_ms - 1)
    found, _, _ = cons.chain(base, points)
    return [
        IntervalOut(from_epoch_ms(i.start.ts), from_epoch_ms(i.end.ts), i.start.value,
                    i.end.value, i.wh, i.rollover)
        for i in found
    ]  # fmt: skip


def check_days(from_day: date, to_day: date) -> None:
    for name, day in (("from", from_day), ("to", to_day)):
        if not date(1970, 1, 2) <= day <= date(2999, 12, 30):
            raise Invalid(E.YEAR_OUT_OF_RANGE, "must lie between 1970 and 2999", field=name)
    if to_day < from_day:
        raise Invalid(E.END_BEFORE_START, "must not be before from", field="to", start="from")
    if (to_day - from_day).days >= MAX_DAYS:
        raise Invalid(
            E.RANGE_TOO_LONG, f"at most {MAX_DAYS} days per query", field="to", days=MAX_DAYS
        )


async def daily(
    session: AsyncSession,
    meter_ids: Select[int],
    quantity: str | None,
    from_day: date,
    to_day: date,
) -> list[DailyOut]:
    """Daily consumption summed over ``meter_ids`` (one meter, or every meter of a customer or
    account — the chains of replaced and replacing meters add up, never cross)."""
    check_days(from_day, to_day)
    d = ConsumptionDaily
    stmt = (
        select(
            d.day, d.quantity, func.sum(d.wh), func.count(d.meter_pk), func.sum(d.intervals),
            func.sum(d.rollovers), func.sum(d.anomalies),
        )
        .where(d.meter_pk.in_(meter_ids.scalar_subquery()), d.day.between(from_day, to_day))
        .group_by(d.day, d.quantity)
        .order_by(d.day, d.quantity)
    )  # fmt: skip
    if quantity is not None:
        stmt = stmt.where(d.quantity == quantity)
    rows = (await session.execute(stmt)).all()
    return [DailyOut(r[0], r[1], int(r[2]), r[3], int(r[4]), int(r[5]), int(r[6])) for r in rows]


def monthly(days: Sequence[DailyOut]) -> list[MonthlyOut]:
    acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in days:
        a = acc[(f"{row.day:%Y-%m}", row.quantity)]
        a[0] += row.wh
        a[1] += 1
        a[2] += row.anomalies
    return [MonthlyOut(m, q, *v) for (m, q), v in sorted(acc.items())]


def month_days(from_month: str, to_month: str) -> tuple[date, date]:
    start = date.fromisoformat(from_month + "-01")
    last = date.fromisoformat(to_month + "-01")
    end = (last.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return start, end


async def list_anomalies(
    session: AsyncSession,
    caller: Caller,
    *,
    meter_pk: int | None,
    from_ms: int | None,
    to_ms: int | None,
    limit: int,
    offset: int,
) -> tuple[list[AnomalyOut], int]:
    a = ConsumptionAnomaly
    stmt = select(a, Meter.meter_id).join(Meter, Meter.id == a.meter_pk).where(meter_scope(caller))
    if meter_pk is not None:
        stmt = stmt.where(a.meter_pk == meter_pk)
    if from_ms is not None:
        stmt = stmt.where(a.ts >= from_ms)
    if to_ms is not None:
        stmt = stmt.where(a.ts < to_ms)
    rows, total = await fetch_page(session, stmt.order_by(a.ts.desc(), a.id), limit, offset)
    return [
        AnomalyOut(x.id, x.meter_pk, mid, x.quantity, x.kind, from_epoch_ms(x.ts), x.value,
                   from_epoch_ms(x.previous_ts), x.previous_value)
        for x, mid in rows
    ], total  # fmt: skip


async def list_agents(
    session: AsyncSession, *, online: bool | None, limit: int, offset: int
) -> tuple[list[AgentOut], int]:
    count = select(func.count(Meter.id)).where(Meter.agent_id == Agent.id).scalar_subquery()
    stmt = select(Agent, count)
    if online is not None:
        stmt = stmt.where(Agent.online.is_(online))
    rows, total = await fetch_page(session, stmt.order_by(Agent.id), limit, offset)
    return [
        AgentOut(a.id, a.name, a.version, a.online, a.last_birth_at, a.last_seen_at, n)
        for a, n in rows
    ], total


async def collection_rate(
    session: AsyncSession,
    caller: Caller,
    from_day: date,
    to_day: date,
    group: RateGrouping,
    tz: ZoneInfo,
    limit: int,
    offset: int,
) -> tuple[list[CollectionRateRow], int]:
    """采集成功率 per local day: of the meters in service that day and expected to report
    remotely (not manual-read), the share with at least one good (or backfilled)
    ``energy_import`` reading in the day (midnight, midnight]. From the summary kept per day
    and group (``backend.metering.collection``), a page of (day, group) rows."""
    check_days(from_day, to_day)
    rows, total = await collection.page(session, caller, from_day, to_day, group, tz, limit, offset)
    codes = await _group_codes(session, group, {k for _, k, _, _ in rows if k is not None})
    out = []
    for day, key, expected, ok in rows:
        label = "all" if group == RateGrouping.OVERALL else codes.get(key, "unassigned")
        rate = round(ok / expected, 4) if expected else None
        out.append(CollectionRateRow(day, group, key, label, expected, ok, rate))
    return out, total


async def _group_codes(
    session: AsyncSession, group: RateGrouping, ids: set[int]
) -> dict[int | None, str]:
    table: Any = {RateGrouping.GRID: Grid, RateGrouping.TRANSFORMER_AREA: TransformerArea}.get(
        group
    )
    if table is None or not ids:
        return {}
    found = await session.execute(select(table.id, table.code).where(table.id.in_(sorted(ids))))
    return {i: c for i, c in found.all()}


def reports_remotely() -> ColumnElement[bool]:
    """Meters expected to report through an agent: all but the manual-read ones."""
    return Meter.protocol != MANUAL_PROTOCOL


def offline_filters(silent_since: datetime | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [
        Meter.status == MeterStatus.ACTIVE,
        reports_remotely(),
        Meter.online.is_(False),
    ]
    if silent_since is not None:
        conds.append(or_(Meter.last_seen_at.is_(None), Meter.last_seen_at < silent_since))
    return conds
