"""The collection rate as it was computed before the summary: every meter, every day, from the
readings, per request. Kept as the reference the summary must equal."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.scope import meter_scope
from backend.field.grids.models import Grid, TransformerArea
from backend.metering import consumption as cons
from backend.metering.models import Meter, MeterStatus, Reading
from backend.metering.schemas import CollectionRateRow, RateGrouping
from backend.metering.service import reports_remotely
from backend.types import from_epoch_ms
from protocols.contract import Quantity

COLLECTION_QUANTITY = Quantity.ENERGY_IMPORT


async def _group_codes(session: AsyncSession, group: RateGrouping) -> dict[int | None, str]:
    table: Any = {RateGrouping.GRID: Grid, RateGrouping.TRANSFORMER_AREA: TransformerArea}.get(
        group
    )
    if table is None:
        return {}
    return {i: c for i, c in (await session.execute(select(table.id, table.code))).all()}


async def reference_collection_rate(
    session: AsyncSession,
    caller: Caller,
    from_day: date,
    to_day: date,
    group: RateGrouping,
    tz: ZoneInfo,
) -> list[CollectionRateRow]:
    """采集成功率 per local day: of the meters in service that day and expected to report
    remotely (not manual-read), the share with at least one good (or backfilled)
    ``energy_import`` reading in the day (midnight, midnight]."""
    key_col = {
        RateGrouping.OVERALL: None,
        RateGrouping.GRID: Customer.grid_id,
        RateGrouping.TRANSFORMER_AREA: Customer.transformer_area_id,
    }[group]
    meters = (
        await session.execute(
            select(
                Meter.id, Meter.installed_on, Meter.created_at, Meter.removed_at,
                key_col if key_col is not None else Meter.id,
            )
            .outerjoin(Customer, Customer.id == Meter.customer_id)
            .where(
                meter_scope(caller), reports_remotely(),
                Meter.status.in_([MeterStatus.ACTIVE, MeterStatus.REMOVED]),
            )
        )
    ).all()  # fmt: skip
    codes = await _group_codes(session, group)
    # a subquery, not a list: a fleet of 300,000 meters would not fit in bind parameters
    scope_ids = (
        select(Meter.id)
        .where(meter_scope(caller), Meter.status.in_([MeterStatus.ACTIVE, MeterStatus.REMOVED]))
        .scalar_subquery()
    )
    out: list[CollectionRateRow] = []
    day = from_day
    while day <= to_day:
        start = cons.day_start_ms(day, tz)
        end = cons.day_start_ms(day + timedelta(days=1), tz)
        in_service = [
            (m[0], m[4] if key_col is not None else None)
            for m in meters
            if (m[1] or m[2].astimezone(tz).date()) <= day
            and (m[3] is None or m[3] > from_epoch_ms(start))
        ]
        collected: set[int] = set()
        if in_service:
            got = await session.scalars(
                select(Reading.meter_pk)
                .distinct()
                .where(
                    Reading.quantity == COLLECTION_QUANTITY,
                    Reading.ts > start,
                    Reading.ts <= end,
                    Reading.quality.in_(cons.CHAIN_QUALITIES),
                    Reading.meter_pk.in_(scope_ids),
                )
            )
            collected = set(got) & {m for m, _ in in_service}
        groups: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
        for m, g in in_service:
            groups[g][0] += 1
            groups[g][1] += m in collected
        if group == RateGrouping.OVERALL:
            groups.setdefault(None, [0, 0])
        for g, (expected, ok) in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
            label = "all" if group == RateGrouping.OVERALL else codes.get(g, "unassigned")
            rate = round(ok / expected, 4) if expected else None
            out.append(CollectionRateRow(day, group, g, label, expected, ok, rate))
        day += timedelta(days=1)
    return out
