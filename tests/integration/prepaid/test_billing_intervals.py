"""Billing charges the intervals consumption counts (``backend.metering.intervals``): a dip is
refused, a register wrap is a rollover, an estimated value is not billed — whether the
readings come all at once or one by one."""

from __future__ import annotations

from sqlalchemy import func, select

from backend.db import session_factory
from backend.metering.consumption import on_readings_committed
from backend.metering.models import ConsumptionDaily, Reading
from backend.prepaid import billing
from backend.prepaid.models import Charge
from tests.support.prepaid_data import (
    TZ,
    add_readings,
    load_default_tariffs,
    local_ms,
    make_account,
)

KWH = 1000


async def _billed_wh(sessions, account_id: int) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        total = await s.scalar(
            select(func.coalesce(func.sum(Charge.wh), 0)).where(
                Charge.account_id == account_id, Charge.reversed_at.is_(None)
            )
        )
        return int(total or 0)


async def _counted_wh(sessions, meter_pk: int) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        total = await s.scalar(
            select(func.coalesce(func.sum(ConsumptionDaily.wh), 0)).where(
                ConsumptionDaily.meter_pk == meter_pk,
                ConsumptionDaily.quantity == "energy_import",
            )
        )
        return int(total or 0)


async def _one_by_one(engine, points: list[tuple[int, int]], quality: list[str] | None = None):  # type: ignore[no-untyped-def]
    """Each reading committed, then consumption and billing follow it (the derived path's
    order); returns (sessions, account id, meter pk)."""
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, meter = await make_account(s)
        await load_default_tariffs(s)
        await s.commit()
    for i, (ts, value) in enumerate(points):
        async with sessions() as s:
            await add_readings(s, meter.id, [(ts, value)])
            if quality is not None:
                row = await s.get(Reading, (meter.id, "energy_import", ts))
                assert row is not None
                row.quality = quality[i]
            await s.commit()
        await on_readings_committed(sessions, [(meter.id, "energy_import", ts, ts)])
        await billing.on_readings_committed(sessions, [(meter.id, "energy_import", ts, ts)], TZ)
    return sessions, account.id, meter.id


async def test_a_dip_from_100_to_50_then_110_kwh_bills_10_kwh(engine) -> None:
    points = [(local_ms(2026, 5, 6, h), v * KWH) for h, v in ((10, 100), (11, 50), (12, 110))]
    sessions, account_id, meter_pk = await _one_by_one(engine, points)
    assert await _billed_wh(sessions, account_id) == 10 * KWH
    assert await _counted_wh(sessions, meter_pk) == 10 * KWH


async def test_a_dip_bills_10_kwh_also_when_the_readings_arrive_together(engine) -> None:
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, meter = await make_account(s)
        await load_default_tariffs(s)
        await add_readings(
            s,
            meter.id,
            [(local_ms(2026, 5, 6, h), v * KWH) for h, v in ((10, 100), (11, 50), (12, 110))],
        )
        result = await billing.bill_account(s, account.id, TZ)
        await s.commit()
    assert result.posted == 1
    assert await _billed_wh(sessions, account.id) == 10 * KWH


async def test_a_register_wrap_from_999999_00_to_5_00_kwh_bills_6_kwh(engine) -> None:
    points = [(local_ms(2026, 5, 6, 10), 999_999_000), (local_ms(2026, 5, 6, 11), 5_000)]
    sessions, account_id, meter_pk = await _one_by_one(engine, points)
    assert await _billed_wh(sessions, account_id) == 6 * KWH
    assert await _counted_wh(sessions, meter_pk) == 6 * KWH


async def test_an_estimated_reading_is_not_billed(engine) -> None:
    points = [(local_ms(2026, 5, 6, h), v * KWH) for h, v in ((10, 100), (11, 180), (12, 110))]
    sessions, account_id, meter_pk = await _one_by_one(
        engine, points, quality=["good", "estimated", "good"]
    )
    # 100 → 110: the estimate of 180 is neither charged nor a baseline to fall from
    assert await _billed_wh(sessions, account_id) == 10 * KWH
    assert await _counted_wh(sessions, meter_pk) == 10 * KWH


async def test_a_late_reading_after_a_refused_dip_re_rates_from_the_accepted_baseline(
    engine,
) -> None:
    at = [local_ms(2026, 5, 6, h) for h in (10, 11, 12, 13)]
    sessions, account_id, meter_pk = await _one_by_one(
        engine, [(at[0], 100 * KWH), (at[1], 50 * KWH), (at[3], 130 * KWH)]
    )
    assert await _billed_wh(sessions, account_id) == 30 * KWH
    async with sessions() as s:  # 120 kWh at 12:00 arrives late
        await add_readings(s, meter_pk, [(at[2], 120 * KWH)])
        await s.commit()
    await on_readings_committed(sessions, [(meter_pk, "energy_import", at[2], at[2])])
    await billing.on_readings_committed(sessions, [(meter_pk, "energy_import", at[2], at[2])], TZ)
    async with sessions() as s:
        live = (
            await s.execute(
                select(Charge.start_ms, Charge.end_ms, Charge.wh)
                .where(Charge.account_id == account_id, Charge.reversed_at.is_(None))
                .order_by(Charge.start_ms)
            )
        ).all()
    assert [tuple(r) for r in live] == [(at[0], at[2], 20 * KWH), (at[2], at[3], 10 * KWH)]
    assert await _counted_wh(sessions, meter_pk) == 30 * KWH
