"""The demo's network: a substation and feeder feeding the demo area, its transformer and
total meter (台区总表) behind a 20:1 CT, the manual-read customers placed in a second area, and
a year of total-meter readings: the customers' daily energy plus an injected loss — 5 % most
days, then 14 % for the last ten days before the simulated meters start, as a meter bypass
(窃电) would — so the loss figures and the abnormal list have something to show. The total meter
is read by hand here (no simulator plays it): the live days have no total-meter reading yet,
and their loss is marked so."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.accounts.models import Customer
from backend.areas.membership import members
from backend.areas.models import AreaSupply, Feeder, MeterPlacement, Substation
from backend.db import session_factory
from backend.field.grids.models import TransformerArea
from backend.metering.consumption import on_readings_committed
from backend.metering.consumption_rules import day_start_ms
from backend.metering.models import (
    MANUAL_PROTOCOL,
    ConsumptionDaily,
    Meter,
    MeterStatus,
    Reading,
    ReadingSource,
)
from protocols.contract.messages import Quality
from protocols.contract.quantities import Quantity

TOTAL_METER = "TA-0101-ZB"
CT_RATIO = 20
RATED_KVA = 400
LOSS_PERMILLE = 50
BYPASS_PERMILLE = 140
BYPASS_DAYS = 10
SINCE = date(2000, 1, 1)


async def seed_network(
    engine: AsyncEngine, area_code: str, manual_customers: Sequence[str], tz: ZoneInfo,
    grid_id: int | None,
) -> None:  # fmt: skip
    """Idempotent: a second run finds everything in place and adds nothing."""
    async with session_factory(engine)() as s:
        area = await s.scalar(select(TransformerArea).where(TransformerArea.code == area_code))
        assert area is not None
        if await s.get(AreaSupply, area.id) is not None:
            return
        station = Substation(code="SS-WENSAN", name="文三变电站")
        s.add(station)
        await s.flush()
        feeder = Feeder(code="F-WS101", name="文三101线", substation_id=station.id)
        manual_area = TransformerArea(code="TA-0102", name="文三路2号台区", grid_id=grid_id)
        # read by hand in the demo (no simulator plays it): not expected to report remotely,
        # so it does not count in the collection rate
        total = Meter(meter_id=TOTAL_METER, serial=TOTAL_METER, protocol=MANUAL_PROTOCOL, phases=3,
                      voltage_v=220, rated_current_a=5, status=MeterStatus.ACTIVE,
                      installed_on=SINCE)  # fmt: skip
        s.add_all([feeder, manual_area, total])
        await s.flush()
        s.add(AreaSupply(transformer_area_id=area.id, feeder_id=feeder.id, rated_kva=RATED_KVA,
                         total_meter_pk=total.id, ct_ratio=CT_RATIO, pt_ratio=1))  # fmt: skip
        manual = await s.scalars(
            select(Meter.id).join(Customer, Customer.id == Meter.customer_id)
            .where(Customer.number.in_(manual_customers))
        )  # fmt: skip
        for m in manual:
            s.add(MeterPlacement(meter_pk=m, transformer_area_id=manual_area.id, from_day=SINCE))
        await s.commit()
        span = await _total_readings(s, area.id, total.id, tz)
    if span is not None:
        await on_readings_committed(engine, [(total.id, Quantity.ENERGY_IMPORT, *span)],
                                    timezone=str(tz))  # fmt: skip


async def _total_readings(
    s: AsyncSession, area_id: int, total_pk: int, tz: ZoneInfo
) -> tuple[int, int] | None:
    """One total-meter reading at each local midnight of the seeded history; their span."""
    first, last = (
        await s.execute(
            select(func.min(ConsumptionDaily.day), func.max(ConsumptionDaily.day)).where(
                ConsumptionDaily.quantity == Quantity.ENERGY_IMPORT
            )
        )
    ).one()
    if first is None:
        return None
    register = 1_000_000  # the register's value at the start, in Wh on the meter's side
    rows: list[tuple[date, int]] = [(first, register)]
    day: date = first
    while day <= last:
        meters = (await members(s, day, [area_id])).get(area_id, [])
        wh = await s.scalar(
            select(func.coalesce(func.sum(ConsumptionDaily.wh), 0)).where(
                ConsumptionDaily.day == day,
                ConsumptionDaily.quantity == Quantity.ENERGY_IMPORT,
                ConsumptionDaily.meter_pk.in_(meters),
            )
        )
        loss = BYPASS_PERMILLE if (last - day).days < BYPASS_DAYS else LOSS_PERMILLE
        # energy in = customers' energy / (1 − loss); the register counts it through the CT
        register += round(int(wh or 0) * 1000 / (1000 - loss) / CT_RATIO)
        day += timedelta(days=1)
        rows.append((day, register))
    await s.execute(
        insert(Reading),
        [
            {"meter_pk": total_pk, "quantity": Quantity.ENERGY_IMPORT,
             "ts": day_start_ms(d, tz), "value": v, "quality": Quality.GOOD,
             "source": ReadingSource.AMI, "received_at": day_start_ms(d, tz)}
            for d, v in rows
        ],
    )  # fmt: skip
    await s.commit()
    return day_start_ms(rows[0][0], tz), day_start_ms(rows[-1][0], tz)
