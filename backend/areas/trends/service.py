"""Per area, the daily peak load against the transformer's kVA and the maximum demand per
month, from the total meter's active power (× CT × PT). A caller scoped to an org unit reaches
only the areas of the grids below it; another unit's area is "not found"."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.areas.trends.models import AreaSupply, Quantity, Reading
from backend.areas.trends.schemas import DemandOut, PeakOut
from backend.auth.guards import Caller
from backend.auth.scope import grid_in_scope
from backend.errors import ErrorCode as E
from backend.errors import Invalid, NotFound
from backend.field.grids.models import TransformerArea
from backend.metering.consumption_rules import day_start_ms

MAX_DAYS = 400  # a year and a month: twelve monthly maxima and their daily peaks


def _peak(period: str, w: int, ts: int, rated_kva: int) -> PeakOut:
    rate = round(w / (rated_kva * 1000), 4) if rated_kva else None
    return PeakOut(period, w, ts, rate, rate is not None and rate > 1.0)


async def demand(
    session: AsyncSession, caller: Caller, area_id: int, from_day: date, to_day: date, tz: ZoneInfo
) -> DemandOut:
    area = await session.get(TransformerArea, area_id)
    if area is None or not grid_in_scope(caller, area.grid_id):
        raise NotFound(E.AREA_NOT_FOUND, f"area {area_id} not found", area=area_id)
    if to_day < from_day:
        raise Invalid(E.END_BEFORE_START, "to is before from", field="to", start="from")
    if (to_day - from_day).days + 1 > MAX_DAYS:
        raise Invalid(E.RANGE_TOO_LONG, f"at most {MAX_DAYS} days", field="to", limit=MAX_DAYS)
    supply = await session.get(AreaSupply, area_id)
    rated = supply.rated_kva if supply else 0
    days: dict[str, tuple[int, int]] = {}
    if supply is not None and supply.total_meter_pk is not None:
        scale = supply.ct_ratio * supply.pt_ratio
        start = day_start_ms(from_day, tz)
        end = day_start_ms(to_day + timedelta(days=1), tz)
        rows = await session.execute(
            select(Reading.ts, Reading.value)
            .where(
                Reading.meter_pk == supply.total_meter_pk,
                Reading.quantity == Quantity.ACTIVE_POWER,
                Reading.ts > start,  # a sample stamped at midnight closes the day before
                Reading.ts <= end,
            )
            .order_by(Reading.ts)
        )
        for ts, value in rows.all():
            day = datetime.fromtimestamp((ts - 1) / 1000, tz).date().isoformat()
            w = int(value) * scale
            if day not in days or w > days[day][0]:
                days[day] = (w, ts)
    months: dict[str, tuple[int, int]] = {}
    for day, (w, ts) in sorted(days.items()):
        if day[:7] not in months or w > months[day[:7]][0]:
            months[day[:7]] = (w, ts)
    return DemandOut(
        area_id,
        rated,
        from_day,
        to_day,
        [_peak(d, w, ts, rated) for d, (w, ts) in sorted(days.items())],
        [_peak(m, w, ts, rated) for m, (w, ts) in sorted(months.items())],
    )
